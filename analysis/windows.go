package analysis

import (
	"context"
	"fmt"

	"github.com/meshcanary/canary"
)

// DualWindow judges one metric's canary value over the short window
// against an absolute bound and against the service's own history (the
// Observation's Baseline: the stable version over a long window before the
// short one). It is the rule operators use to ride out a blip: by default
// the canary passes when it is within the bound OR no worse than history.
//
// The zero DualWindow has no metric and is refused.
type DualWindow struct {
	Metric string `json:"metric"`
	// Direction says which change is bad; zero is Increase (the canary
	// must be at or below Bound and history).
	Direction Direction `json:"direction,omitempty"`
	// Bound is the absolute limit (for example 0.02 for an error rate).
	Bound float64 `json:"bound"`
	// Tolerance widens the historical limit: history × (1 + Tolerance)
	// for Increase, history × (1 − Tolerance) for Decrease. Zero means the
	// canary must be no worse than history itself.
	Tolerance float64 `json:"tolerance,omitempty"`
	// RequireBoth makes the canary pass only when it is within the bound
	// AND no worse than history; zero (false) needs either.
	RequireBoth bool `json:"requireBoth,omitempty"`
	// MinCount is the fewest requests the canary's short window and the
	// baseline must rest on; below it the verdict is inconclusive. Zero
	// means no minimum.
	MinCount int64 `json:"minCount,omitempty"`
}

// Validate reports the first bad field of w.
func (w DualWindow) Validate() error {
	switch {
	case w.Metric == "":
		return canary.Invalid("DualWindow.Metric", w.Metric, "must not be empty")
	case !w.Direction.valid() || w.Direction == Either:
		return canary.Invalid("DualWindow.Direction", w.Direction.String(), "must be Increase or Decrease")
	case !finite(w.Bound):
		return canary.Invalid("DualWindow.Bound", w.Bound, "must be a finite number")
	case !finite(w.Tolerance) || w.Tolerance < 0 || (w.Direction == Decrease && w.Tolerance > 1):
		return canary.Invalid("DualWindow.Tolerance", w.Tolerance, "must be ≥ 0 (and ≤ 1 for Decrease)")
	case w.MinCount < 0:
		return canary.Invalid("DualWindow.MinCount", w.MinCount, "must not be negative")
	}
	return nil
}

// Analyze judges in. With RequireBoth false, a canary within the bound
// passes even without history, but failing the bound is only a failure
// when history was measured and is also exceeded (otherwise inconclusive).
func (w DualWindow) Analyze(ctx context.Context, in Input) (Verdict, error) {
	if err := w.Validate(); err != nil {
		return Verdict{}, err
	}
	d := w.judge(in)
	v := Verdict{Details: []Detail{d}}
	summarize(&v, "dual-window checks")
	v.Reason = d.Reason
	return v, nil
}

func (w DualWindow) judge(in Input) Detail {
	d := Detail{Metric: w.Metric}
	worse := func(v, limit float64) bool {
		if w.Direction == Decrease {
			return v < limit
		}
		return v > limit
	}
	op := "<="
	histLimit := func(h float64) float64 { return h * (1 + w.Tolerance) }
	if w.Direction == Decrease {
		op = ">="
		histLimit = func(h float64) float64 { return h * (1 - w.Tolerance) }
	}
	join := "or"
	if w.RequireBoth {
		join = "and"
	}
	d.Bound = fmt.Sprintf("%s %s %s %s baseline × %s", op, fmtg(w.Bound), join, op, fmtg(histLimit(1)))
	o, _ := in.Observation(w.Metric)
	if why := usable(o.Canary, w.MinCount); why != "" {
		d.Class, d.Reason = "nodata", "canary: "+why
		if o.Canary.Observed && finite(o.Canary.Value) {
			d.Value = ptr(o.Canary.Value)
		}
		return d
	}
	c := o.Canary.Value
	d.Value, d.Count = ptr(c), o.Canary.Count
	inBound := !worse(c, w.Bound)
	histWhy := usable(o.Baseline, w.MinCount)
	haveHist := histWhy == ""
	var inHist bool
	if haveHist {
		d.Baseline = ptr(o.Baseline.Value)
		inHist = !worse(c, histLimit(o.Baseline.Value))
	}
	bad := "high"
	if w.Direction == Decrease {
		bad = "low"
	}
	pass := func(r string) { d.Outcome, d.Class, d.Reason = Pass, "pass", r }
	fail := func(r string) { d.Outcome, d.Class, d.Reason = Fail, bad, r }
	nodata := func(r string) { d.Class, d.Reason = "nodata", r }
	switch {
	case w.RequireBoth && !inBound:
		fail(fmt.Sprintf("%s is beyond the bound %s", fmtg(c), fmtg(w.Bound)))
	case w.RequireBoth && !haveHist:
		nodata("within the bound, but baseline: " + histWhy)
	case w.RequireBoth && !inHist:
		fail(fmt.Sprintf("%s is worse than the baseline %s (limit %s)", fmtg(c), fmtg(o.Baseline.Value), fmtg(histLimit(o.Baseline.Value))))
	case w.RequireBoth:
		pass("within the bound and no worse than the baseline")
	case inBound:
		pass(fmt.Sprintf("%s is within the bound %s", fmtg(c), fmtg(w.Bound)))
	case !haveHist:
		nodata(fmt.Sprintf("%s is beyond the bound %s and baseline: %s", fmtg(c), fmtg(w.Bound), histWhy))
	case inHist:
		pass(fmt.Sprintf("%s is beyond the bound %s but no worse than the baseline %s", fmtg(c), fmtg(w.Bound), fmtg(o.Baseline.Value)))
	default:
		fail(fmt.Sprintf("%s is beyond the bound %s and the baseline %s (limit %s)", fmtg(c), fmtg(w.Bound), fmtg(o.Baseline.Value), fmtg(histLimit(o.Baseline.Value))))
	}
	return d
}
