// Package analysis judges a canary from observations: the Analyzer
// interface, the Verdict it returns, the analyzers that ship with the
// module, ways to combine them, and presets tuned on a decision-quality
// suite. It imports only the standard library.
//
// # Evidence
//
// A verdict is never better than its evidence. The zero Outcome is
// Inconclusive; a metric with no data, a NaN or infinite value, a negative
// request count, or fewer requests than the analyzer's minimum makes its
// detail Inconclusive ("nodata"), never Pass or Fail. A verdict is Fail
// when any judged metric fails, Pass only when every metric was judged and
// held, Inconclusive otherwise. What an Inconclusive verdict does to a
// rollout is the rollout policy's choice (rollback.Policy.NoData: Hold, the
// default; FailNoData; or FailAfter K inconclusive analyses in a row). Bad
// configuration is an error, a *canary.FieldError naming the field.
//
// # Analyzers
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
// test with a confidence interval (98 % by default) for the shift and its
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
// # The rank-sum test
//
// UTest computes what R's wilcox.test(x, y, conf.int = TRUE) computes for
// two samples, and the tests hold it to R's printed values to 1e-9
// (testdata/wilcox_reference.json, made by scripts/r/wilcox_reference.R):
// the exact distribution when both samples are smaller than 50 and there
// are no ties, with the interval from the order statistics of the pairwise
// differences and the Hodges–Lehmann estimate their median; otherwise the
// normal approximation with tie correction and (unless NoCorrection)
// continuity correction, with the interval and estimate found by inverting
// the standardized statistic with a port of R's root finder, so that even
// the roots match R bit for bit. Each evaluation of the statistic is a
// merge of two sorted samples (no re-sorting), so 2 × 10,000 samples take
// a few milliseconds.
//
// Beyond R: with ties, R falls back to the normal approximation. With
// MethodExactTies (what the MannWhitney judge uses), samples smaller than
// 50 get the exact conditional distribution of the rank sum given the ties,
// computed by the shift algorithm over doubled mid-ranks; two-sided p-values
// are P(|S − E S| ≥ |s − E S|). These are checked against R's
// exactRankTests::wilcox.exact (testdata/wilcox_exact_ties.json) and
// against brute-force enumeration. The interval in that case still uses
// the untied quantiles, as R's exact interval does (conservative with
// ties). When every value ties with every other the statistic has no
// variance: UTest reports p = 1 and a shift of exactly 0 where R reports NaN.
//
// # Sequential detection and its guarantee
//
// Checking a fixed threshold at every interval inflates false alarms: each
// look is another chance to cross by noise (in this package's test, a 5 %
// z-test looked at 30 times fails 26 % of good canaries). Sequential instead
// runs a mixture sequential probability ratio test (mSPRT; Robbins' normal
// mixture, as in the always-valid p-values of Johari, Pekelis and Walsh) on
// the cumulative totals the rollout keeps (Observation.CanaryTotal and
// StableTotal): with θ̂ the canary's excess rate over (1 + Tolerance) ×
// stable + Margin and V its pooled null variance,
//
//	Λ = √(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²)))
//
// and the canary fails when θ̂ > 0 and Λ ≥ 1/α. The analyzer is stateless
// and may be evaluated at every interval, or at any instants at all.
//
// Guarantee: if the canary's errors are independent with a rate no higher
// than the null allows, Λ is (to the normal approximation of the binomial
// counts) a non-negative martingale with mean 1, and by Ville's inequality
// P(Λ ever ≥ 1/α) ≤ α: the chance that a good canary is ever failed by the
// test, over all the looks of a rollout, is at most α — not α per look.
// 1/Λ is an always-valid p-value. The guarantee assumes the rate does not
// drift in step with the traffic split: the cumulative totals weight the
// windows by each version's requests, so if the error rate of both versions
// rises while the canary's weight rises, the canary's total leans on the
// worse windows. To guard against that, a cumulative rejection must be
// confirmed by the short window (both versions over the same minutes) with
// a one-sided z-test at ConfirmAlpha; an extra condition can only lower the
// false-failure rate. The guarantee is asymptotic: MinCount (100 requests
// by default) keeps the test from deciding on a handful of requests. The
// decision-quality suite (rollback/quality_test.go) measures the rates
// actually reached, including under drift and low traffic.
//
// # Presets
//
// A Preset is an analyzer plus the rollout policy it was tuned with
// (failure limit, counting, no-data policy). DefaultPreset: Sequential on
// the error rate (α = 1 %, short-window confirmation at 0.1 %) and the
// cumulative p99 within 1.25 × stable + 10 ms, one failure rolls back, no
// data holds. StrictPreset and LenientPreset trade the other way;
// FixedThresholdPreset is the plain "error rate > 2 %, 5 failed checks"
// rule, kept as the baseline. Their detection and false-rollback rates are
// in docs/benchmarks/analysis.md.
package analysis
