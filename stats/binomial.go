package stats

import "math"

// ConditionalLogLR is the log likelihood ratio of the rate ratio a against
// b for the conditional binomial: x of t bad events fell on the canary's n
// requests, against the stable version's m, given t. If both versions' bad
// events are Poisson with rates ρ·λ and λ, x given t is
// Binomial(t, nρ / (nρ + m)) whatever λ is, and
//
//	LR = (a/b)^x · ((n·b + m) / (n·a + m))^t.
//
// For a > b its expectation is at most 1 under every ρ ≤ b (the family has
// a monotone likelihood ratio in x), so it is an e-value against ρ ≤ b;
// for a < b, against ρ ≥ b. See the package documentation.
func ConditionalLogLR(x, t, n, m, a, b float64) float64 {
	return x*math.Log(a/b) - t*math.Log((n*a+m)/(n*b+m))
}

// BinomialLogLR is the log likelihood ratio of rate q1 against q0 for x
// bad events in n requests (Binomial(n, q)). For q1 > q0 it is an e-value
// against q ≤ q0; for q1 < q0, against q ≥ q0.
func BinomialLogLR(x, n, q1, q0 float64) float64 {
	return x*math.Log(q1/q0) + (n-x)*math.Log1p(-q1) - (n-x)*math.Log1p(-q0)
}

// Dispersion returns the dispersion φ of a Pearson statistic summed over
// k buckets (quasi-likelihood; McCullagh and Nelder, Generalized Linear
// Models, 1989, § 4.5): 1 unless the sum is well above its χ²ₖ mean
// (beyond three standard deviations and 3, so that a chance excess on the
// first few buckets does not count), else its ratio to k, capped at 100.
// Dividing a log likelihood ratio by φ ≥ 1 takes an e-value E to E^(1/φ),
// still an e-value (Jensen).
func Dispersion(sum, k float64) float64 {
	if k < 1 || sum <= k+3*math.Sqrt(2*k)+3 {
		return 1
	}
	return math.Min(100, sum/k)
}
