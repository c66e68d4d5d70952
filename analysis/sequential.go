package analysis

import (
	"context"
	"fmt"
	"math"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/stats"
)

// Sequential is an early-detection test for a rate (errors per request)
// that may be evaluated at every analysis interval. It reads the
// cumulative measurements (CanaryTotal and StableTotal: Value the rate,
// Count the requests) and runs a mixture sequential probability ratio test
// (mSPRT, the always-valid p-value of Johari, Pekelis and Walsh) on the
// excess
//
//	θ = p_canary − (1 + Tolerance)·p_stable − Margin
//
// with a normal mixture of scale Tau over θ. At each look it computes
//
//	Λ = √(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²)))
//
// where θ̂ is the observed excess and V its variance under the null (the
// pooled rate's binomial variance). The canary fails when θ̂ > 0 and
// Λ ≥ 1/Alpha. Under the null (canary no worse than allowed) Λ is, to the
// normal approximation, a non-negative martingale, so by Ville's inequality
// the chance that it ever reaches 1/Alpha — at any number of looks, taken
// whenever — is at most Alpha. That bounds the false-rollback rate of the
// whole rollout, where a fixed threshold checked at every interval grows
// its false alarms with every look.
//
// Sequential never fails a canary on fewer than MinCount canary requests
// (inconclusive instead); with enough requests and no significant excess
// it passes, meaning "no evidence of harm so far".
//
// The zero Sequential has no metric and is refused.
type Sequential struct {
	Metric string `json:"metric"`
	// Alpha is the bound on the false-failure probability over all looks,
	// in (0, 1); zero means 0.01.
	Alpha float64 `json:"alpha,omitempty"`
	// Tolerance and Margin make the null hypothesis "the canary's rate is
	// at most (1 + Tolerance) × stable's + Margin"; both zero means "no
	// higher than stable's".
	Tolerance float64 `json:"tolerance,omitempty"`
	Margin    float64 `json:"margin,omitempty"`
	// Tau is the mixture's scale: the size of excess the test is most
	// sensitive to, in rate units. Zero means the stable version's
	// cumulative rate (floored at 0.001): most power against a canary
	// at about twice the stable rate.
	Tau float64 `json:"tau,omitempty"`
	// MinCount is the fewest cumulative canary requests before the test
	// may decide either way; zero means 100.
	MinCount int64 `json:"minCount,omitempty"`
	// ConfirmAlpha is the level of the confirmation asked of the short
	// window before a significant cumulative excess fails the canary: a
	// one-sided two-proportion z-test of the same excess over the short
	// window (Canary against Stable) must be significant at this level.
	// It guards against drift: when the error rate of both versions moves
	// while the canary's weight rises, cumulative totals over-weight the
	// later windows for the canary and can make a good canary look worse;
	// the short window compares both versions over the same minutes. A
	// further condition can only lower the false-failure rate. Zero means
	// 0.01; 1 turns the confirmation off.
	ConfirmAlpha float64 `json:"confirmAlpha,omitempty"`
}

// Validate reports the first bad field of s.
func (s Sequential) Validate() error {
	switch {
	case s.Metric == "":
		return canary.Invalid("Sequential.Metric", s.Metric, "must not be empty")
	case s.Alpha != 0 && !(s.Alpha > 0 && s.Alpha < 1):
		return canary.Invalid("Sequential.Alpha", s.Alpha, "must be between 0 and 1 (exclusive)")
	case !(s.Tolerance >= 0 && s.Tolerance <= maxTolerance):
		return canary.Invalid("Sequential.Tolerance", s.Tolerance, "must be between 0 and %g", float64(maxTolerance))
	case !finite(s.Margin) || s.Margin < 0 || s.Margin >= 1:
		return canary.Invalid("Sequential.Margin", s.Margin, "must be in [0, 1)")
	case !finite(s.Tau) || s.Tau < 0:
		return canary.Invalid("Sequential.Tau", s.Tau, "must be a finite number ≥ 0")
	case s.MinCount < 0:
		return canary.Invalid("Sequential.MinCount", s.MinCount, "must not be negative")
	case s.ConfirmAlpha != 0 && !(s.ConfirmAlpha > 0 && s.ConfirmAlpha <= 1):
		return canary.Invalid("Sequential.ConfirmAlpha", s.ConfirmAlpha, "must be in (0, 1]")
	}
	return nil
}

// maxTolerance bounds Sequential.Tolerance: a canary allowed a thousand
// times stable's rate is not being judged, and (1 + Tolerance)² must stay
// a finite number. It is the bound [stats.MSPRT] holds its tolerance to.
const maxTolerance = 1000

// Analyze runs the test on in's cumulative measurements of s.Metric.
func (s Sequential) Analyze(ctx context.Context, in Input) (Verdict, error) {
	if err := s.Validate(); err != nil {
		return Verdict{}, err
	}
	alpha := s.Alpha
	if alpha == 0 {
		alpha = 0.01
	}
	minCount := s.MinCount
	if minCount == 0 {
		minCount = 100
	}
	d := Detail{Metric: s.Metric, Bound: fmt.Sprintf("Λ < %s (α = %s over all looks) for canary ≤ %s × stable + %s",
		fmtg(1/alpha), fmtg(alpha), fmtg(1+s.Tolerance), fmtg(s.Margin))}
	o, _ := in.Observation(s.Metric)
	c, st := o.CanaryTotal, o.StableTotal
	v := Verdict{}
	done := func() (Verdict, error) {
		v.Details = []Detail{d}
		summarize(&v, "sequential tests")
		v.Reason = d.Reason
		return v, nil
	}
	if why := usable(c, minCount); why != "" {
		d.Class, d.Reason = "nodata", "canary total: "+why
		return done()
	}
	if why := usable(st, 1); why != "" {
		d.Class, d.Reason = "nodata", "stable total: "+why
		return done()
	}
	d.Value, d.Stable, d.Count = ptr(c.Value), ptr(st.Value), c.Count
	tau := s.Tau
	if tau == 0 {
		tau = math.Max(st.Value, 0.001)
	}
	lambda, excess, err := stats.MSPRT(c.Value, c.Count, st.Value, st.Count, s.Tolerance, s.Margin, tau)
	if err != nil {
		// Rates outside [0, 1]: the metric is not a rate; refuse to judge.
		d.Class, d.Reason = "nodata", "not a rate: "+err.Error()
		return done()
	}
	p := math.Min(1, 1/lambda)
	d.Statistic, d.PValue = ptr(lambda), ptr(p)
	if excess > 0 && lambda >= 1/alpha {
		if ok, why := s.confirm(o); !ok {
			d.Class = "nodata"
			d.Reason = fmt.Sprintf("cumulative excess significant (Λ = %s ≥ %s) but the short window does not confirm it: %s",
				fmtg(lambda), fmtg(1/alpha), why)
			return done()
		}
		d.Outcome, d.Class = Fail, "high"
		d.Reason = fmt.Sprintf("canary rate %s over %d requests exceeds stable %s × %s + %s: Λ = %s ≥ %s (always-valid p = %.3g)",
			fmtg(c.Value), c.Count, fmtg(st.Value), fmtg(1+s.Tolerance), fmtg(s.Margin), fmtg(lambda), fmtg(1/alpha), p)
		return done()
	}
	d.Outcome, d.Class = Pass, "pass"
	d.Reason = fmt.Sprintf("no significant excess so far: canary %s over %d requests, stable %s, Λ = %s < %s",
		fmtg(c.Value), c.Count, fmtg(st.Value), fmtg(lambda), fmtg(1/alpha))
	return done()
}

// confirm reports whether the short window shows the same excess at level
// ConfirmAlpha, and why not when it does not.
func (s Sequential) confirm(o Observation) (bool, string) {
	ca := s.ConfirmAlpha
	if ca == 0 {
		ca = 0.01
	}
	if ca >= 1 {
		return true, ""
	}
	c, st := o.Canary, o.Stable
	if why := usable(c, 1); why != "" {
		return false, "canary: " + why
	}
	if why := usable(st, 1); why != "" {
		return false, "stable: " + why
	}
	if c.Value < 0 || c.Value > 1 || st.Value < 0 || st.Value > 1 {
		return false, "short-window values are not rates"
	}
	k := 1 + s.Tolerance
	fc, fs := float64(c.Count), float64(st.Count)
	p := math.Min(math.Max((c.Value*fc+st.Value*fs)/(fc+fs), 0.5/(fc+fs)), 1-0.5/(fc+fs))
	z := (c.Value - k*st.Value - s.Margin) / math.Sqrt(p*(1-p)*(1/fc+k*k/fs))
	if z >= stats.NormalQuantile(1-ca) {
		return true, ""
	}
	return false, fmt.Sprintf("short-window z = %.3g below %.3g", z, stats.NormalQuantile(1-ca))
}
