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
// HistoryRate judges a rate metric of a version that serves every request
// against the service's history, on evidence added up over the analyses
// with an anytime-valid one-sample test: the blue/green post-promotion
// analysis (rollback.Config.PostPromotionAnalyzer), where stable serves
// nothing to compare with and, at low traffic, no single window holds
// enough requests.
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
// Resources judges resource use per unit of work (CPU, memory, replicas,
// restarts: the canary's per request, or per replica, against stable's)
// with an anytime-valid sign test over the looks; Cost judges the price
// per request the same way. Their type docs give the method.
//
// All, Any and Scorecard combine analyzers; every part's details are carried
// into the combined verdict. Scorecard counts an inconclusive part both ways
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
//	P(Pass  | a regression that starts with j stages to go) ≤ StageBeta^j
//
// The first two are proven under the model [Rates] documents, from the
// conditional binomial and the e-processes of package [stats]; the third
// is weak with the default StageBeta = 0.9, and what protects against a
// canary that turns bad at a later stage in practice is Rates' regression
// detector (a CUSUM) and its Fail e-detector: in the decision-quality
// suite no clear regression was promoted, canaries that turn bad late
// included (BENCHMARKS.md gives the counts). [Rates] gives the method,
// its assumptions, what it does with prior knowledge, overdispersion and
// bad input, and what a rollout does with its verdicts.
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
