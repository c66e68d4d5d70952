package analysis

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/meshcanary/canary"
)

// Limit bounds one metric's canary value. Build it with AtMost, AtLeast or
// Between; the zero Limit bounds nothing and is refused.
type Limit struct {
	Metric string  `json:"metric"`
	Min    float64 `json:"min,omitempty"`
	Max    float64 `json:"max,omitempty"`
	HasMin bool    `json:"hasMin,omitempty"`
	HasMax bool    `json:"hasMax,omitempty"`
}

// AtMost is the limit value ≤ max.
func AtMost(metric string, max float64) Limit { return Limit{Metric: metric, Max: max, HasMax: true} }

// AtLeast is the limit value ≥ min.
func AtLeast(metric string, min float64) Limit { return Limit{Metric: metric, Min: min, HasMin: true} }

// Between is the limit min ≤ value ≤ max.
func Between(metric string, min, max float64) Limit {
	return Limit{Metric: metric, Min: min, Max: max, HasMin: true, HasMax: true}
}

func (l Limit) bound() string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch {
	case l.HasMin && l.HasMax:
		return f(l.Min) + " ≤ value ≤ " + f(l.Max)
	case l.HasMin:
		return ">= " + f(l.Min)
	}
	return "<= " + f(l.Max)
}

// Threshold holds each metric's canary value against fixed limits over the
// short window. The zero Threshold has no limits and is refused by
// Validate and Analyze.
type Threshold struct {
	Limits []Limit `json:"limits"`
	// MinCount is the fewest events (requests) a measurement must rest on
	// for its limit to be judged; below it the metric is inconclusive. Zero
	// means no minimum. A measurement whose count is unknown (0) passes the
	// gate only when MinCount is zero.
	MinCount int64 `json:"minCount,omitempty"`
}

// Validate reports the first bad field of t.
func (t Threshold) Validate() error {
	if len(t.Limits) == 0 {
		return canary.Invalid("Threshold.Limits", nil, "must have at least one limit")
	}
	if t.MinCount < 0 {
		return canary.Invalid("Threshold.MinCount", t.MinCount, "must not be negative")
	}
	for i, l := range t.Limits {
		f := fmt.Sprintf("Threshold.Limits[%d]", i)
		switch {
		case l.Metric == "":
			return canary.Invalid(f+".Metric", l.Metric, "must not be empty")
		case !l.HasMin && !l.HasMax:
			return canary.Invalid(f, l.Metric, "sets neither a minimum nor a maximum")
		case l.HasMin && !finite(l.Min):
			return canary.Invalid(f+".Min", l.Min, "must be a finite number")
		case l.HasMax && !finite(l.Max):
			return canary.Invalid(f+".Max", l.Max, "must be a finite number")
		case l.HasMin && l.HasMax && l.Min > l.Max:
			return canary.Invalid(f+".Min", l.Min, "is above Max %v", l.Max)
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Analyze judges in against t's limits: Fail if any limit is broken, Pass if
// every limit was judged and held, Inconclusive otherwise.
func (t Threshold) Analyze(ctx context.Context, in Input) (Verdict, error) {
	if err := t.Validate(); err != nil {
		return Verdict{}, err
	}
	v := Verdict{Details: make([]Detail, 0, len(t.Limits))}
	fails, unknown := 0, 0
	for _, l := range t.Limits {
		d := Detail{Metric: l.Metric, Bound: l.bound()}
		o, ok := in.Observation(l.Metric)
		m := o.Canary
		switch {
		case !ok || !m.Observed:
			d.Class, d.Reason = "nodata", "no data for the canary"
			unknown++
		case !finite(m.Value):
			d.Class, d.Reason = "nodata", fmt.Sprintf("value %v is not a number", m.Value)
			unknown++
		case m.Count < 0:
			d.Class, d.Reason = "nodata", fmt.Sprintf("negative request count %d", m.Count)
			unknown++
		case t.MinCount > 0 && m.Count < t.MinCount:
			d.Value, d.Count = ptr(m.Value), m.Count
			d.Class, d.Reason = "nodata", fmt.Sprintf("%d requests, fewer than the %d needed", m.Count, t.MinCount)
			unknown++
		default:
			d.Value, d.Count = ptr(m.Value), m.Count
			switch {
			case l.HasMax && m.Value > l.Max:
				d.Outcome, d.Class = Fail, "high"
				d.Reason = fmt.Sprintf("%g is above the maximum %g", m.Value, l.Max)
				fails++
			case l.HasMin && m.Value < l.Min:
				d.Outcome, d.Class = Fail, "low"
				d.Reason = fmt.Sprintf("%g is below the minimum %g", m.Value, l.Min)
				fails++
			default:
				d.Outcome, d.Class = Pass, "pass"
				d.Reason = "within " + l.bound()
			}
		}
		v.Details = append(v.Details, d)
	}
	switch {
	case fails > 0:
		v.Outcome, v.Reason = Fail, fmt.Sprintf("%d of %d limits broken", fails, len(t.Limits))
	case unknown > 0:
		v.Outcome, v.Reason = Inconclusive, fmt.Sprintf("%d of %d metrics without enough data", unknown, len(t.Limits))
	default:
		v.Outcome, v.Reason = Pass, fmt.Sprintf("all %d limits held", len(t.Limits))
	}
	return v, nil
}
