package analysis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
)

func costInput(canaryCores, canaryGiB, canaryReq, stableCores, stableGiB, stableReq float64) analysis.Input {
	m := func(c, s float64) (analysis.Measurement, analysis.Measurement) {
		return analysis.Observed(c, 0), analysis.Observed(s, 0)
	}
	obs := func(name string, c, s float64) analysis.Observation {
		a, b := m(c, s)
		return analysis.Observation{Metric: name, Canary: a, Stable: b}
	}
	return analysis.Input{Time: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), CanaryWeight: 10, Observations: []analysis.Observation{
		obs("cpu", canaryCores, stableCores),
		obs("memory", canaryGiB*(1<<30), stableGiB*(1<<30)),
		obs("requests", canaryReq, stableReq),
		obs("replicas", 1, 4),
	}}
}

var costAnalyzer = analysis.Cost{
	Prices: analysis.Prices{VCPUHour: 0.04, GiBHour: 0.005},
	CPU:    "cpu", Memory: "memory", Requests: "requests", Window: time.Minute, Share: 0.2,
}

// look runs n analyses of the same input, carrying the memory, and
// returns the last verdict.
func look(t *testing.T, a analysis.Analyzer, in analysis.Input, n int) analysis.Verdict {
	t.Helper()
	var v analysis.Verdict
	for i := 0; i < n; i++ {
		var err error
		if v, err = a.Analyze(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		in.Memory = v.Memory
		if v.Outcome != analysis.Inconclusive {
			return v
		}
	}
	return v
}

func TestCostInPounds(t *testing.T) {
	// Canary: 0.5 cores and 1 GiB for 10,000 requests a minute; stable: 2
	// cores and 4 GiB for 90,000. Per hour the canary costs
	// 0.5×£0.04 + 1×£0.005 = £0.025, stable £0.1; per million requests
	// £0.025/60/10,000×10⁶ = £0.0417 and £0.1/60/90,000×10⁶ = £0.0185.
	v := look(t, costAnalyzer, costInput(0.5, 1, 10000, 2, 4, 90000), 1)
	d := v.Details[0]
	if d.Metric != analysis.CostMetric || d.Value == nil || d.Stable == nil || d.Unit != "£" {
		t.Fatalf("detail %+v", d)
	}
	if got, want := *d.Value, 0.025/60/10000*1e6; abs(got-want) > 1e-12 {
		t.Fatalf("canary cost per million %v, want %v", got, want)
	}
	if got, want := *d.Stable, 0.1/60/90000*1e6; abs(got-want) > 1e-12 {
		t.Fatalf("stable cost per million %v, want %v", got, want)
	}
	if !strings.Contains(d.Reason, "£0.04 per million requests against stable's £0.02 (+£0.02, +125 %") {
		t.Fatalf("reason %q", d.Reason)
	}
	// 2.25 × stable's cost, above the declared 20 %: fails once the
	// evidence is in, like any resource.
	if v = look(t, costAnalyzer, costInput(0.5, 1, 10000, 2, 4, 90000), 50); v.Outcome != analysis.Fail {
		t.Fatalf("outcome %v: %s", v.Outcome, v.Reason)
	}
	// The same cost per request: passes.
	if v = look(t, costAnalyzer, costInput(0.2, 0.4, 9000, 2, 4, 90000), 50); v.Outcome != analysis.Pass {
		t.Fatalf("outcome %v: %s", v.Outcome, v.Reason)
	}
}

func TestCostCurrencyAndReplicaPrice(t *testing.T) {
	c := costAnalyzer
	c.Prices = analysis.Prices{ReplicaHour: 0.5, Currency: "€"}
	c.CPU, c.Memory, c.Replicas = "", "", "replicas"
	v := look(t, c, costInput(0, 0, 10000, 0, 0, 90000), 1)
	// Canary: 1 replica × €0.5 / 60 / 10,000 × 10⁶ = €0.83; stable 4 × 0.5 / 60 / 90,000 × 10⁶ = €0.37.
	if r := v.Details[0].Reason; !strings.Contains(r, "€0.83 per million requests against stable's €0.37") {
		t.Fatalf("reason %q", r)
	}
	if got := (analysis.Prices{}).Money(1234567.891); got != "£1,234,567.89" {
		t.Fatalf("Money = %q", got)
	}
}

func TestCostRefusesBadConfig(t *testing.T) {
	for _, c := range []analysis.Cost{
		{},
		{Prices: analysis.Prices{VCPUHour: -1}, CPU: "cpu", Requests: "r", Window: time.Minute},
		{Prices: analysis.Prices{VCPUHour: 1}, Requests: "r", Window: time.Minute},
		{Prices: analysis.Prices{GiBHour: 1}, CPU: "cpu", Requests: "r", Window: time.Minute},
		{Prices: analysis.Prices{VCPUHour: 1}, CPU: "cpu", Window: time.Minute},
		{Prices: analysis.Prices{VCPUHour: 1}, CPU: "cpu", Requests: "r"},
	} {
		var fe *canary.FieldError
		if err := c.Validate(); !errors.As(err, &fe) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	metrics, stable, known := analysis.Reads(costAnalyzer)
	if !known || len(metrics) != 3 || len(stable) != 3 {
		t.Fatalf("Reads: %v %v %v", metrics, stable, known)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
