// Package analysis judges a canary from observations: the Analyzer
// interface, the Verdict it returns, the analyzers that ship with the
// module, ways to combine them, and presets tuned on a decision-quality
// suite (internal/quality). The statistics the analyzers are built on
// (the rank-sum test, the mSPRT, the conditional binomial and its
// e-processes) are in package [stats]. It imports only the standard
// library.
//
// # Evidence
//
// A verdict is never better than its evidence. The zero Outcome is
// Inconclusive; a metric with no data, a NaN or infinite value, a negative
// request count, or fewer requests than the analyzer's minimum makes its
// detail Inconclusive ("nodata"), never Pass or Fail. A verdict is Fail
// when any judged metric fails, Pass only when every metric was judged and
// held, Inconclusive otherwise. What an Inconclusive verdict does to a
// rollout is the rollout policy's choice (rollback.Policy.NoData:
// HoldOnNoData, the default; FailOnNoData; or FailAfterNoData, K
// inconclusive analyses in a row). An Inconclusive verdict may say more:
// Leaning (the evidence so far leans towards "no regression": a rollout
// may raise the canary's weight on it, never promote) or Regressing (the
// latest evidence points to a regression not yet proven: a rollout takes
// the weight back). Rates and Resources say both; All leans when every
// part passes or leans, Any when one does. Bad
// configuration is an error, a *canary.FieldError naming the field.
//
// # Analyzers
//
// Rates (the DefaultPreset's analyzer) judges rate metrics — errors per
// request, and latency as the share of requests slower than a bound — in
// both directions on anytime-valid evidence, described below.
//
// Threshold holds each metric's canary value against fixed bounds (error
// rate ≤ 2 %, success rate ≥ 99 %, p99 ≤ a bound).
//
// DualWindow holds the canary's short-window value against an absolute
// bound and against the service's history (Observation.Baseline, the stable
// version over a long window before the short one): by default either
// suffices, so a blip the service always has does not roll back;
// RequireBoth needs both.
//
// Compare holds the canary against the stable version over the same window
// (or, with Relative.Cumulative, over every window since analysis began):
// canary ≤ stable × (1 + Tolerance) + Margin, per metric direction, so an
// incident that hurts both versions does not fail the canary.
//
// MannWhitney is a judge in Kayenta's manner over the samples of each
// version: NaN strategy, optional IQR outlier removal, the Mann-Whitney U
// test ([stats.UTest]) with a confidence interval (98 % by default) for
// the shift and its
// Hodges–Lehmann estimate, the ratio of means as effect size with allowed
// and critical increases and decreases, a class per metric (pass, high,
// low, nodata), critical metrics, group weights, and a score with marginal
// and pass thresholds.
//
// Sequential is early detection for rates, described below.
//
// All, Any and Weighted combine analyzers; every part's details are carried
// into the combined verdict. Weighted counts an inconclusive part both ways
// and passes only if the score is reached with it counted as failed.
//
// # Sequential detection
//
// Checking a fixed threshold at every interval inflates false alarms: each
// look is another chance to cross by noise (in this package's test, a 5 %
// z-test looked at 30 times fails 26 % of good canaries). Sequential
// instead runs the mixture sequential probability ratio test
// ([stats.MSPRT], whose documentation gives the formula and the
// guarantee) on the cumulative totals the rollout keeps
// (Observation.CanaryTotal and StableTotal): the chance that a good canary
// is ever failed by the test, over all the looks of a rollout, is at most
// α — not α per look. The analyzer is stateless and may be evaluated at
// every interval, or at any instants at all. The guarantee assumes the
// rate does not drift in step with the traffic split: the cumulative
// totals weight the windows by each version's requests, so if the error
// rate of both versions rises while the canary's weight rises, the
// canary's total leans on the worse windows. To guard against that, a
// cumulative rejection must be confirmed by the short window (both
// versions over the same minutes) with a one-sided z-test at
// ConfirmAlpha; an extra condition can only lower the false-failure rate.
// MinCount (100 requests by default) keeps the test from deciding on a
// handful of requests. Sequential judges only Fail; Rates judges both
// directions.
//
// # Evidence in both directions (Rates)
//
// Meaning. Fail = evidence that the canary's rate is above the stable
// version's; Pass = evidence that it is not a regression, a regression
// being a rate at least Rate.Ratio × stable's AND at least Rate.Margin
// above it (defaults 2 × and 0.5 points: non-inferiority with a declared
// tolerance); Inconclusive = neither yet. With Alpha = α and Beta = β
// (default 1 % each), over every look of the whole rollout:
//
//	P(Fail  | every rate of the canary ≤ stable's)   ≤ α
//	P(Pass  | a regression on a metric from the start) ≤ β
//	P(Pass  | a regression that starts with j steps to go) ≤ StepBeta^j
//
// The first two are proven under the model below. The third is weak with
// the default StepBeta = 0.9 (0.73 with three steps to go): each step's
// own windows need only favour "no regression", which costs a good canary
// about one window a step instead of the several that StepBeta = β^(1/3)
// (≤ β with three steps to go; LenientPreset keeps it) costs. What
// protects against a canary that turns bad at a later step in practice is
// the regression detector and the Fail e-detector described below: in the
// decision-quality suite no clear regression was promoted, canaries that
// turn bad late included (BENCHMARKS.md gives the counts). This is
// measured, not proven.
//
// The evidence is built from the conditional binomial of each window
// (x of the t = x + y bad events of both versions falling on the canary's
// n requests against stable's m: a shared shock cancels) and e-processes
// on it; [stats] documents both, with their references, and the pieces
// used below ([stats.ConditionalLogLR], [stats.CUSUM], [stats.EDetector],
// [stats.LogMix], [stats.Dispersion]).
//
//   - Fail multiplies LR(ρ₁ : 1) with ρ₁ a lower confidence bound of the
//     ratio estimated from earlier windows, never below the regression
//     ratio ρ_bad (Robbins' predictable plug-in): valid against ρ ≤ 1.
//     The plug-in (weight ½) is mixed with products against the fixed
//     ratios 3, 6, 12 and 30 (each raised to ρ_bad when below it; weight
//     ⅛ each), so that a large regression seen in few events is found
//     before the plug-in's lower bound has grown. Each of these is kept
//     since the start (weight 0.9) and, with the regression ratio for the
//     plug-in, as an e-detector over start windows (weight 0.1; below) so
//     that a regression that starts late (the CUSUM problem of Page 1954
//     and Lorden 1971) is not buried under the evidence of the good
//     windows before it. α is shared among the metrics and their guards
//     (Bonferroni, weighted: the first metric, the error rate in the
//     presets, gets three quarters when there are others; a weighted
//     split keeps the sum of the levels at α).
//   - Pass multiplies LR(1 : ρ_bad): valid against ρ ≥ ρ_bad.
//     ρ_bad = max(Ratio, 1 + Margin / p̄) with p̄ an upper confidence bound
//     of stable's rate from earlier windows, so the boundary tested is
//     below the true one but by a small chance. When stable has almost no
//     bad events the ratio carries no information; a regression is then at
//     least Margin in absolute terms, so a second product counts the
//     binomial LR of the canary's own x of n at a rate q₁ like stable's
//     against Margin. The Pass e-process is the mean of the two with
//     weights 0.8 and 0.2 (a mean of e-processes is one): the relative
//     test is immune to incidents on both versions, the absolute one is
//     not but decides when stable has no errors at all. So the absolute
//     test sits out a window in which stable's count of bad events is more
//     than three standard deviations (plus 3) above what its rate over the
//     windows the test used predicts — an incident on both versions —
//     where a 10 % failure rate for three minutes cost it more evidence
//     than hours of clean windows bring back. Whether it bets depends only
//     on stable's counts, which given the window's rates are independent
//     of the canary's, so every product stays valid against "regression".
//   - A Pass needs the product since the start ≥ 1/β AND, over the
//     current step's windows, the same mixture with the relative test
//     taken at LR(√ρ_bad : ρ_bad) ≥ 1/StepBeta (also valid against
//     ρ ≥ ρ_bad; an alternative nearer the boundary makes a good canary's
//     first window at a step favour it more often): earlier steps alone
//     cannot carry the canary past a regression that starts at a later
//     one. The step's own mixture starts with the step, so its weights may
//     depend on the windows before it: when stable's rate is near or above
//     the margin, where the absolute test can only drift away from a Pass,
//     the step's Pass is the relative test alone (its 0.8 weight would
//     otherwise lift the bar of each step from 0.105 to 0.33 nats). That
//     rate is judged on the history and the windows without a shock, so a
//     step that begins during an incident keeps the absolute test.
//   - The step's own requirement is kept, for the rest of the step, once
//     met, and the whole-rollout one for the rest of the rollout (Ville's
//     inequality bounds the probability that an e-process EVER crosses
//     its threshold, so stopping at the first crossing — as Wald's SPRT
//     does — costs nothing of the guarantees above). What keeps a latched
//     proof from carrying a canary that turned bad afterwards is the
//     regression detector below: while it has fired there is no Pass.
//   - The regression detector (issue 18; Page 1954): the CUSUM
//     W = max(0, W + log LR(ρ_bad : 1)) of the conditional binomial over
//     the windows, the largest log likelihood ratio of the regression
//     against a canary like stable over any run of latest windows. While
//     W ≥ log 20 the latest evidence points to a regression: no Pass, no
//     leaning, and the verdict says Regressing. (At log 4 one stray error
//     at a 0.1 % error rate fired it.) Under a canary no worse than stable
//     W drifts down, and P(W ≥ h) ≤ e^−h at any look.
//   - The Fail e-process's second part is an e-detector (Shin, Ramdas and
//     Rinaldo, "E-detectors", 2023): a mixture over start windows j of the
//     products of the windows from j on, with weights 1/((j+1)(j+2)), which
//     sum to 1, so it is itself an e-process and keeps the α bound, while
//     a regression that starts late is judged on the windows since it
//     started, not buried under the good ones before. Its recursion is
//     M_k = LR_k (M_{k−1} + w_k), in log space.
//   - Incidents that add errors. An incident on both versions often adds
//     errors to both (10 % more of every request failing) rather than
//     multiplying their rates; while it lasts any canary's ratio looks
//     like 1, and a regression's windows would favour "no regression". So
//     the relative Pass test, like the absolute one, sits out the window
//     after one in which stable showed a shock: whether it bets then
//     depends on earlier windows only, so it stays an e-process. (In the
//     decision-quality suite's regressions during an incident, 14 % of the
//     clear ones were promoted without it, 2 % with it.)
//   - Leaning: nothing failed, the detector is quiet, and the Pass
//     e-process since the start is at least 1 (the evidence so far
//     favours "no regression" over the regression; a canary at the
//     regression's boundary, which the detector finds slowly, is thereby
//     held at its weight).
//
// What a rollout does with these (rollback.AdvanceOnLeaning, the
// default): it advances a stage on leaning evidence, promotes on a Pass
// at the last stage, and goes back to the first stage's weight on
// Regressing. In the decision-quality suite (BENCHMARKS.md) no clear
// regression was promoted, the canary that turns bad at minute 4 (at
// 40–50 %) included, and issue 19's canary that turns 3 % bad in the last
// stage (lenient preset) is never promoted by any preset (rollback's
// TestLateRegressionInTheLastStageIsNotPromoted). This is measured, not
// proven: the proven bounds are those above.
//
// Prior knowledge. When the rollout measures the stable version's history
// (Observation.Baseline, for example the previous 30 minutes), the first
// window's counts of it set the scale of the alternatives (the stable
// rate's upper confidence bound in ρ_bad, the absolute test's
// alternative) before the rollout has measured stable's rate itself, and
// when it shows stable's errors near or above the margin, where the
// absolute test can only drift away from a Pass, the whole rollout's Pass
// e-process is the relative test alone (weights 1 and 0, fixed before any
// canary request is judged; at 0.5 requests/s and 1 % errors the 0.2
// weight cost about a quarter of an hour). Later, ρ_bad's scale comes
// from the history and from stable's windows that showed no shock: an
// incident's errors say nothing of stable's usual rate, and counting them
// lowered ρ_bad for the rest of the rollout. The history is known before
// every window it is used for and says nothing about the canary, so every
// e-process stays valid whatever it says (a stale history costs power,
// never the guarantee); without one the behaviour is as before.
//
// Overdispersion. Beyond what conditioning removes (for example errors in
// clusters from one client), the windows' Pearson residuals around the
// prediction from earlier windows (with the prediction's own variance) are
// summed; when the sum is well above its χ² mean, each window's log LR is
// divided by the measured dispersion φ (quasi-likelihood). A power
// 1/φ ≤ 1 of an e-value is still an e-value (Jensen), so this never breaks
// the guarantee under the model. The dispersion is measured only once
// earlier windows hold five bad events of each version (before that there
// is no prediction, and a real regression in the first window would read
// as overdispersion and slow its own rollback). And no window may add
// more than half of what its e-process needs to decide on its weight in
// the mixture (min(LR, C) of an e-value is an e-value), so no single
// window decides; two can. The Fail e-processes drop that cap once the
// stable version's dispersion has been measured on three buckets and
// shows no clustering (nor the conditional model's): then one window may
// decide, and a canary that turns bad at 50 requests/s after a few
// minutes is rolled back as soon as by the suite's oracle (stable 1 %:
// median 11 → 5 minutes, 178 → 100 canary errors served). The cap is
// chosen from earlier windows only (predictable), and min(LR, C) is an
// e-value for any such C, infinite included, so the Fail e-processes stay
// e-processes and Ville's inequality bounds a good canary's rollback by α
// as before. (Letting a window decide alone when its evidence reaches
// 1/α² from the first window would roll back at 500 requests/s in one minute
// instead of two — the target is met either way — but failed 22
// of 100 good canaries with clustered errors, against 7.) Both are approximate defences, not a guarantee: with
// errors in clusters of 20 within each version, 9 % of good canaries were
// failed at α = 1 % (10 % before h18speed; 9 % with the cap never dropped, 39 % without any
// cap; TestRatesOverdispersion), most of them in the first windows,
// before the dispersion could be measured. The absolute test,
// which does not condition, is tempered by the stable version's own
// dispersion over time, measured over the windows it used (an incident it
// sat out would otherwise inflate the dispersion, capped at 100, for
// hours).
//
// Memory and stages. The evidence is a handful of sufficient statistics
// per metric kept in Verdict.Memory (under 1 KB a metric, whatever the
// traffic); the rollout hands it back as Input.Memory and says which stage
// the window belongs to (Input.Stage). All, Any and Weighted keep their
// parts' memories. Verdict.Evidence says, per metric, the progress towards
// each decision and a rough number of further canary requests needed
// (More), which the rollout shows when it asks a person at the progress
// deadline.
//
// Assumptions. Windows do not overlap (the metric window is the analysis
// interval, the rollout's default); within a window, bad events of the
// two versions follow rates whose ratio is the canary's (shared shocks
// allowed); the Margin part of the tolerance is judged against the stable
// rate estimated from earlier windows. Latency is judged the same way as
// the share of requests slower than a bound, in seconds.
//
// The guard. Rate.Limit adds the rule "rate ≤ Limit, or no worse than the
// service's recent history" (Observation.Baseline) as an e-process over
// the canary's own counts against max(Limit, the baseline's upper bound):
// a Fail needs evidence, never a point estimate from a few requests. It
// cannot tell an incident from a bad canary, so it is off by default.
//
// Bad input. A window whose counts are negative, whose rate is NaN,
// infinite or outside [0, 1] (more bad events than requests), or that was
// not observed, is not used: the metric stays Inconclusive with the
// reason. Every statistic is kept in log space; the verdict's numbers are
// finite. A memory that cannot be read, or that belongs to other metrics,
// is not trusted: the evidence starts afresh and the reason says so.
//
// The traffic a decision needs, and how the presets compare with the
// fixed-threshold rule and with the oracle (Wald's SPRT knowing the true
// rates), is measured by the decision-quality suite in internal/quality
// and written in BENCHMARKS.md.
//
// # Presets
//
// A Preset is an analyzer plus the rollout policy it was tuned with
// (failure limit, counting, no-data policy). DefaultPreset: Rates on the
// error rate (and the slow share when named), α = β = 1 %, regression =
// 2 × stable and +0.5 points, one Fail rolls back, Inconclusive holds.
// StrictPreset and LenientPreset trade the other way; FixedThresholdPreset
// is the plain "error rate > 2 %, 5 failed checks" rule, kept as the
// baseline. Each preset's doc says the traffic it needs.
package analysis
