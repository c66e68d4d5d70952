// Package stats holds the statistics the analyzers of package analysis are
// built on: the Mann–Whitney rank-sum test, the mixture sequential
// probability ratio test, the conditional binomial and the e-processes,
// CUSUM and e-detectors built on it, and the numeric helpers they need
// (the normal quantile, R's sample quantile, a port of R's root finder,
// the quasi-likelihood dispersion). Each function is pure and imports only
// the standard library and the module's error type; the tests refuse bad
// input with a *canary.FieldError naming the argument, the helpers return
// NaN or a documented bound, and none panics. Package analysis
// says how a canary is judged with them; this package says what each
// statistic is, where it comes from and what it guarantees.
//
// # The rank-sum test
//
// [UTest] computes what R's wilcox.test(x, y, conf.int = TRUE) computes for
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
// [MethodExactTies] (what analysis.MannWhitney uses), samples smaller than
// 50 get the exact conditional distribution of the rank sum given the ties,
// computed by the shift algorithm over doubled mid-ranks; two-sided p-values
// are P(|S − E S| ≥ |s − E S|). These are checked against R's
// exactRankTests::wilcox.exact (testdata/wilcox_exact_ties.json) and
// against brute-force enumeration. The interval in that case still uses
// the untied quantiles, as R's exact interval does (conservative with
// ties). When every value ties with every other the statistic has no
// variance: UTest reports p = 1 and a shift of exactly 0 where R reports NaN.
//
// References: Mann and Whitney, Ann. Math. Statist. 18 (1947); Hodges and
// Lehmann, Ann. Math. Statist. 34 (1963), for the estimate; Bauer, JASA
// 67 (1972), for the interval; Streitberg and Röhmel, Statistical Software
// Newsletter 12 (1986), for the shift algorithm; Brent, Algorithms for
// Minimization without Derivatives (1973), for the root finder R ports.
//
// # The mixture sequential probability ratio test
//
// [MSPRT] is Robbins' normal mixture over the excess of the canary's rate
// over the stable version's, as in the always-valid p-values of Johari,
// Pekelis and Walsh ("Always valid inference: continuous monitoring of A/B
// tests", Oper. Res. 2022): with θ̂ = p_canary − (1 + tolerance)·p_stable −
// margin on the cumulative counts and V its pooled variance under the null,
//
//	Λ = √(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²)))
//
// Guarantee: if the canary's errors are independent with a rate no higher
// than the null allows, Λ is (to the normal approximation of the binomial
// counts) a non-negative martingale with mean 1, and by Ville's inequality
// P(Λ ever ≥ 1/α) ≤ α, over any number of looks taken at any instants:
// 1/Λ is an always-valid p-value. The guarantee is asymptotic (a few
// requests are not enough for the normal approximation), and it assumes
// the rate does not drift in step with the traffic split. Λ is computed in
// log space and capped at e^700, so it is always finite.
//
// # The conditional binomial
//
// In each window a rollout measures, per metric, the canary's n requests with x bad events and stable's m
// requests with y. If both versions' bad events are Poisson with rates
// ρ·λ and λ for the canary and stable — whatever λ does from one window to
// the next — then given t = x + y, x is Binomial(t, nρ / (nρ + m)). The
// shared λ drops out: a platform incident or a burst that multiplies both
// versions' rates cancels, which is how Lindon, Sanden and Shirikian
// (KDD 2022, and Lindon and Malek, NeurIPS 2022) compare versions within
// the same period at Netflix. Its likelihood ratio for ρ = a against ρ = b
// is
//
//	LR = (a/b)^x · ((n·b + m) / (n·a + m))^t
//
// ([ConditionalLogLR]; [BinomialLogLR] is the plain binomial's, for a
// version's own counts).
//
// # E-processes
//
// The binomial family has a monotone likelihood ratio in x,
// so for any a > b the LR of a window has expectation ≤ 1 under every
// ρ ≤ b; the product over windows of such LRs, each with an alternative
// chosen from earlier windows only (predictable), is a non-negative
// supermartingale under the null, and by Ville's inequality it exceeds 1/α
// with probability at most α, however often it is looked at (Wald 1945;
// Robbins; Ramdas, Grünwald, Vovk and Shafer's survey of e-values and
// Howard, Ramdas, McAuliffe and Sekhon, Ann. Statist. 2021, on time-uniform
// bounds; Johari, Koomen, Pekelis and Walsh, Oper. Res. 2022, on
// always-valid p-values).
//
// The package gives the pieces such e-processes are made of, in log space
// (so that nothing overflows): [LogMix] mixes e-processes (a mixture with
// weights summing to at most 1 is one), [LogAdd] adds two, [CUSUM] is one
// step of Page's cumulative sum (Page 1954; Lorden 1971), which finds a
// change that starts late, and [EDetector] one step of an e-detector
// (Shin, Ramdas and Rinaldo, 2023), a mixture over start windows that is
// itself an e-process, so it keeps Ville's bound while judging a late
// change on the windows since it started. [Dispersion] measures
// overdispersion; dividing a log likelihood ratio by it keeps an e-value
// an e-value (E^(1/φ) with φ ≥ 1; Jensen), as does capping it (min(E, C)
// for any C fixed before the window).
//
// analysis.Rates combines these into its Fail and Pass evidence; its
// documentation says how, and what the combination guarantees.
package stats
