package analysis

import (
	"context"
	"fmt"

	"github.com/meshcanary/canary"
)

// Relative bounds one metric of the canary by the same metric of the stable
// version in the same window: for Increase, canary ≤ stable × (1 +
// Tolerance) + Margin; for Decrease, canary ≥ stable × (1 − Tolerance) −
// Margin; for Either, both. A platform-wide incident that hurts both
// versions therefore does not fail the canary.
type Relative struct {
	Metric    string    `json:"metric"`
	Direction Direction `json:"direction,omitempty"`
	// Tolerance is the allowed relative excess (0.1 = 10 %); zero allows
	// none.
	Tolerance float64 `json:"tolerance,omitempty"`
	// Margin is the allowed absolute excess, in the metric's unit (for
	// example 0.005 for an error rate, so that 0 errors against 0 errors
	// and 1 stray error do not decide).
	Margin float64 `json:"margin,omitempty"`
	// Cumulative compares CanaryTotal with StableTotal (every window since
	// the analysis began) instead of the short window: steadier, slower.
	Cumulative bool `json:"cumulative,omitempty"`
}

// Compare judges each metric of the canary against the stable version
// (see Relative). The zero Compare has no metrics and is refused.
type Compare struct {
	Metrics []Relative `json:"metrics"`
	// MinCount is the fewest requests each version's measurement must rest
	// on; below it the metric is inconclusive. Zero means no minimum.
	MinCount int64 `json:"minCount,omitempty"`
}

// Validate reports the first bad field of c.
func (c Compare) Validate() error {
	if len(c.Metrics) == 0 {
		return canary.Invalid("Compare.Metrics", nil, "must have at least one metric")
	}
	if c.MinCount < 0 {
		return canary.Invalid("Compare.MinCount", c.MinCount, "must not be negative")
	}
	for i, r := range c.Metrics {
		f := fmt.Sprintf("Compare.Metrics[%d]", i)
		switch {
		case r.Metric == "":
			return canary.Invalid(f+".Metric", r.Metric, "must not be empty")
		case !r.Direction.valid():
			return canary.Invalid(f+".Direction", int(r.Direction), "must be Increase, Decrease or Either")
		case !finite(r.Tolerance) || r.Tolerance < 0:
			return canary.Invalid(f+".Tolerance", r.Tolerance, "must be a finite number ≥ 0")
		case !finite(r.Margin) || r.Margin < 0:
			return canary.Invalid(f+".Margin", r.Margin, "must be a finite number ≥ 0")
		}
	}
	return nil
}

// Analyze judges in: Fail if any metric is beyond its relative bound, Pass
// if every metric was judged and held, Inconclusive otherwise.
func (c Compare) Analyze(ctx context.Context, in Input) (Verdict, error) {
	if err := c.Validate(); err != nil {
		return Verdict{}, err
	}
	v := Verdict{Details: make([]Detail, 0, len(c.Metrics))}
	for _, r := range c.Metrics {
		v.Details = append(v.Details, r.judge(in, c.MinCount))
	}
	summarize(&v, "comparisons")
	return v, nil
}

func (r Relative) judge(in Input, minCount int64) Detail {
	d := Detail{Metric: r.Metric}
	o, _ := in.Observation(r.Metric)
	cm, sm := o.Canary, o.Stable
	if r.Cumulative {
		cm, sm = o.CanaryTotal, o.StableTotal
	}
	hi := func(s float64) float64 { return s*(1+r.Tolerance) + r.Margin }
	lo := func(s float64) float64 { return s*(1-r.Tolerance) - r.Margin }
	switch r.Direction {
	case Decrease:
		d.Bound = fmt.Sprintf(">= %s × stable − %s", fmtg(1-r.Tolerance), fmtg(r.Margin))
	case Either:
		d.Bound = fmt.Sprintf("within stable × (1 ± %s) ± %s", fmtg(r.Tolerance), fmtg(r.Margin))
	default:
		d.Bound = fmt.Sprintf("<= %s × stable + %s", fmtg(1+r.Tolerance), fmtg(r.Margin))
	}
	if why := usable(cm, minCount); why != "" {
		d.Class, d.Reason = "nodata", "canary: "+why
		return d
	}
	d.Value, d.Count = ptr(cm.Value), cm.Count
	if why := usable(sm, minCount); why != "" {
		d.Class, d.Reason = "nodata", "stable: "+why
		return d
	}
	d.Stable = ptr(sm.Value)
	switch c, s := cm.Value, sm.Value; {
	case r.Direction != Decrease && c > hi(s):
		d.Outcome, d.Class = Fail, "high"
		d.Reason = fmt.Sprintf("canary %s is above stable %s × %s + %s = %s", fmtg(c), fmtg(s), fmtg(1+r.Tolerance), fmtg(r.Margin), fmtg(hi(s)))
	case r.Direction != Increase && c < lo(s):
		d.Outcome, d.Class = Fail, "low"
		d.Reason = fmt.Sprintf("canary %s is below stable %s × %s − %s = %s", fmtg(c), fmtg(s), fmtg(1-r.Tolerance), fmtg(r.Margin), fmtg(lo(s)))
	default:
		d.Outcome, d.Class = Pass, "pass"
		d.Reason = fmt.Sprintf("canary %s against stable %s: within %s", fmtg(c), fmtg(s), d.Bound)
	}
	return d
}
