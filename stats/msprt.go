package stats

import (
	"math"

	"github.com/meshcanary/canary"
)

// maxTolerance bounds MSPRT's tolerance: a canary allowed a thousand
// times stable's rate is not being judged, and (1 + tolerance)² must stay
// a finite number.
const maxTolerance = 1000

// maxLogLambda caps log Λ: e^700 ≈ 1e304 is finite, and far beyond any
// 1/α.
const maxLogLambda = 700

// MSPRT returns the mixture likelihood ratio Λ (capped at e^700, so
// always finite) and the observed excess θ̂ for cumulative canary and
// stable rates pc and ps over nc and ns requests, against the null "the
// canary's rate is at most (1 + tolerance) × stable's + margin", with a
// normal mixture of scale tau over the excess. The package documentation
// gives the formula and its guarantee: P(Λ ever ≥ 1/α) ≤ α under the null.
// It refuses rates outside [0, 1], non-positive counts, tau ≤ 0, a
// tolerance outside [0, 1000] and a margin outside [0, 1), each with a
// *canary.FieldError naming the argument.
func MSPRT(pc float64, nc int64, ps float64, ns int64, tolerance, margin, tau float64) (lambda, excess float64, err error) {
	switch {
	case !(pc >= 0 && pc <= 1):
		return 0, 0, canary.Invalid("pc", pc, "must be a rate in [0, 1]")
	case !(ps >= 0 && ps <= 1):
		return 0, 0, canary.Invalid("ps", ps, "must be a rate in [0, 1]")
	case nc <= 0:
		return 0, 0, canary.Invalid("nc", nc, "must be positive")
	case ns <= 0:
		return 0, 0, canary.Invalid("ns", ns, "must be positive")
	case !(tau > 0) || math.IsInf(tau, 0):
		return 0, 0, canary.Invalid("tau", tau, "must be a positive number")
	case !(tolerance >= 0 && tolerance <= maxTolerance):
		return 0, 0, canary.Invalid("tolerance", tolerance, "must be between 0 and %g", float64(maxTolerance))
	case !(margin >= 0 && margin < 1):
		return 0, 0, canary.Invalid("margin", margin, "must be in [0, 1)")
	}
	k := 1 + tolerance
	excess = pc - k*ps - margin
	fc, fs := float64(nc), float64(ns)
	p := (pc*fc + ps*fs) / (fc + fs)
	// Under the null the pooled rate stands for both; keep V away from 0
	// so that zero errors on both sides means "no evidence", not 0/0.
	// Likewise away from 1: both versions failing every request (an
	// incident on both) is no evidence either, where p(1 − p) = 0 made
	// Λ = 0/0, a NaN that no state or event can carry.
	p = math.Min(math.Max(p, 0.5/(fc+fs)), 1-0.5/(fc+fs))
	v := p * (1 - p) * (1/fc + k*k/fs)
	t2 := tau * tau
	// In log space, capped so that Λ stays a finite float64 (a clearly
	// bad canary at high traffic would overflow exp to +Inf, which JSON
	// cannot carry).
	logLambda := 0.5*math.Log(v/(v+t2)) + t2*excess*excess/(2*v*(v+t2))
	if math.IsNaN(logLambda) {
		logLambda = 0 // no evidence either way; never a NaN
	}
	lambda = math.Exp(math.Min(logLambda, maxLogLambda))
	return lambda, excess, nil
}
