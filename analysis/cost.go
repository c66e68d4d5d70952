package analysis

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/textfmt"
)

// Prices are what running a version costs, per hour, in Currency.
type Prices struct {
	// VCPUHour is the price of one vCPU for an hour (the CPU metric's
	// value is in cores); GiBHour of one GiB of memory for an hour (the
	// memory metric's value is in bytes); ReplicaHour an optional fixed
	// price of one replica for an hour.
	VCPUHour    float64 `json:"vcpuHour"`
	GiBHour     float64 `json:"gibHour"`
	ReplicaHour float64 `json:"replicaHour,omitempty"`
	// Currency is the symbol written before amounts; "" means "£".
	Currency string `json:"currency,omitempty"`
}

// CostMetric is the name Cost gives its line in a verdict.
const CostMetric = "cost"

// Cost judges what the canary costs per request against what stable
// costs, like any resource of [Resources] (the same anytime-valid sign
// test, one look per analysis): it fails on evidence that the canary
// costs more than (1 + Share) × stable's per request, and passes on
// evidence that it costs less than (1 + Tolerance) × stable's. Each
// look's cost of a version over the window is
//
//	(CPU cores × VCPUHour + memory GiB × GiBHour + replicas × ReplicaHour) × Window in hours
//
// divided by the requests it served, and the verdict's line shows it per
// million requests for both versions, and the difference, in Currency
// (pounds by default) with UK number format.
//
// CPU, Memory, Replicas and Requests name the metrics (each version's
// total cores and bytes over the window, as the resource templates give
// them, its replicas, and the requests it served); Replicas is needed
// only with a ReplicaHour price.
type Cost struct {
	Prices   Prices        `json:"prices"`
	CPU      string        `json:"cpu"`
	Memory   string        `json:"memory"`
	Replicas string        `json:"replicas,omitempty"`
	Requests string        `json:"requests"`
	Window   time.Duration `json:"window"`
	// Share is how much more than stable the canary may cost per request
	// before it fails: 0.2 fails a canary with evidence of costing more
	// than 1.2 × stable's. Zero means 0.1; a negative value means 0 (any
	// excess).
	Share float64 `json:"share,omitempty"`
	// Tolerance, Alpha, Beta and MinRequests are as in Resources.
	Tolerance   float64 `json:"tolerance,omitempty"`
	Alpha       float64 `json:"alpha,omitempty"`
	Beta        float64 `json:"beta,omitempty"`
	MinRequests int64   `json:"minRequests,omitempty"`
}

// Validate reports the first bad field of c.
func (c Cost) Validate() error {
	bad := func(v float64) bool { return v < 0 || math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case bad(c.Prices.VCPUHour):
		return canary.Invalid("Cost.Prices.VCPUHour", c.Prices.VCPUHour, "must be a price, 0 or more")
	case bad(c.Prices.GiBHour):
		return canary.Invalid("Cost.Prices.GiBHour", c.Prices.GiBHour, "must be a price, 0 or more")
	case bad(c.Prices.ReplicaHour):
		return canary.Invalid("Cost.Prices.ReplicaHour", c.Prices.ReplicaHour, "must be a price, 0 or more")
	case c.Prices.VCPUHour == 0 && c.Prices.GiBHour == 0 && c.Prices.ReplicaHour == 0:
		return canary.Invalid("Cost.Prices", nil, "give at least one price")
	case c.Prices.VCPUHour > 0 && c.CPU == "":
		return canary.Invalid("Cost.CPU", c.CPU, "must name the CPU metric when VCPUHour is priced")
	case c.Prices.GiBHour > 0 && c.Memory == "":
		return canary.Invalid("Cost.Memory", c.Memory, "must name the memory metric when GiBHour is priced")
	case c.Prices.ReplicaHour > 0 && c.Replicas == "":
		return canary.Invalid("Cost.Replicas", c.Replicas, "must name the replicas metric when ReplicaHour is priced")
	case c.Requests == "":
		return canary.Invalid("Cost.Requests", c.Requests, "must name the requests metric")
	case c.Window <= 0:
		return canary.Invalid("Cost.Window", c.Window, "must be the metrics' window, above zero")
	case math.IsNaN(c.Share) || math.IsInf(c.Share, 0):
		return canary.Invalid("Cost.Share", c.Share, "must be a number")
	}
	return c.resources().Validate()
}

func (c Cost) resources() Resources {
	return Resources{
		Usage:    []ResourceUsage{{Metric: CostMetric, Per: ResourcePerRequest}},
		Requests: c.Requests, Tolerance: c.Tolerance, FailMargin: c.Share,
		Alpha: c.Alpha, Beta: c.Beta, MinRequests: c.MinRequests,
	}
}

// MetricNames implements MetricReader.
func (c Cost) MetricNames() []string {
	var out []string
	for _, m := range []string{c.CPU, c.Memory, c.Replicas, c.Requests} {
		if m != "" {
			out = union(out, []string{m})
		}
	}
	return out
}

// StableMetricNames implements MetricReader: every metric is compared
// with stable's.
func (c Cost) StableMetricNames() []string { return c.MetricNames() }

// windowCost returns a version's cost over the window, and false when a
// priced metric is missing.
func (c Cost) windowCost(in Input, pick func(Observation) Measurement) (float64, bool) {
	hours := c.Window.Hours()
	total := 0.0
	add := func(metric string, price, scale float64) bool {
		if price == 0 {
			return true
		}
		o, ok := in.Observation(metric)
		if !ok {
			return false
		}
		m := pick(o)
		if !m.Observed || m.Value < 0 || math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
			return false
		}
		total += m.Value / scale * price * hours
		return true
	}
	ok := add(c.CPU, c.Prices.VCPUHour, 1) &&
		add(c.Memory, c.Prices.GiBHour, 1<<30) &&
		add(c.Replicas, c.Prices.ReplicaHour, 1)
	return total, ok
}

// Money writes an amount as people read it: "£1,234.57".
func (p Prices) Money(v float64) string {
	cur := p.symbol()
	if v < 0 {
		return "-" + cur + textfmt.Number(-v, 2)
	}
	return cur + textfmt.Number(v, 2)
}

func (p Prices) symbol() string {
	if p.Currency == "" {
		return "£"
	}
	return p.Currency
}

func requestsOf(in Input, metric string, pick func(Observation) Measurement) float64 {
	o, ok := in.Observation(metric)
	if !ok {
		return 0
	}
	m := pick(o)
	if m.Observed && m.Value >= 0 && !math.IsInf(m.Value, 0) {
		return m.Value
	}
	return float64(m.Count)
}

// Analyze implements Analyzer.
func (c Cost) Analyze(ctx context.Context, in Input) (Verdict, error) {
	if err := c.Validate(); err != nil {
		return Verdict{}, err
	}
	canaryOf := func(o Observation) Measurement { return o.Canary }
	stableOf := func(o Observation) Measurement { return o.Stable }
	cc, cok := c.windowCost(in, canaryOf)
	sc, sok := c.windowCost(in, stableOf)
	// The cost over the window is judged per request, as a resource.
	obs := Observation{Metric: CostMetric}
	if cok {
		obs.Canary = Observed(cc, 0)
	}
	if sok {
		obs.Stable = Observed(sc, 0)
	}
	in2 := in
	in2.Observations = append(append([]Observation(nil), in.Observations...), obs)
	v, err := c.resources().Analyze(ctx, in2)
	if err != nil {
		return Verdict{}, err
	}
	cr, sr := requestsOf(in, c.Requests, canaryOf), requestsOf(in, c.Requests, stableOf)
	for i := range v.Details {
		d := &v.Details[i]
		if d.Metric != CostMetric || !cok || !sok || !(cr > 0) || !(sr > 0) {
			continue
		}
		cpm, spm := cc/cr*1e6, sc/sr*1e6
		d.Value, d.Stable = ptr(cpm), ptr(spm)
		d.Unit = c.Prices.symbol()
		diff := fmt.Sprintf("%s per million requests against stable's %s (%s%s",
			c.Prices.Money(cpm), c.Prices.Money(spm), sign(cpm-spm), c.Prices.Money(math.Abs(cpm-spm)))
		if spm > 0 {
			diff += ", " + sign(cpm-spm) + textfmt.Percent(math.Abs(cpm/spm-1))
		}
		d.Reason = diff + "); " + d.Reason
	}
	return v, nil
}

func sign(v float64) string {
	if v < 0 {
		return "-"
	}
	return "+"
}
