package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
)

// costVerdict runs the cost analyzer once: the canary serves 1 request a
// minute on 60 cores, stable 2 on 60 cores (memory priced, none used), at
// £0.04 a vCPU-hour: £0.04 a minute each, so £40,000 and £20,000 per
// million requests.
func costVerdict(t *testing.T, currency string) *analysis.Verdict {
	t.Helper()
	a := analysis.Cost{Prices: analysis.Prices{VCPUHour: 0.04, Currency: currency},
		CPU: "cpu", Requests: "requests", Window: time.Minute, Share: 0.2}
	in := analysis.Input{Time: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), CanaryWeight: 10, Observations: []analysis.Observation{
		{Metric: "cpu", Canary: analysis.Observed(60, 0), Stable: analysis.Observed(60, 0)},
		{Metric: "requests", Canary: analysis.Observed(1, 0), Stable: analysis.Observed(2, 0)},
	}}
	v, err := a.Analyze(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return &v
}

func TestRenderShowsCost(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	v := view{name: "shop", now: now, status: rollback.Status{Phase: rollback.Progressing, Verdict: costVerdict(t, "")}}
	want := "cost      per million requests: stable £20,000, canary £40,000, difference +£20,000 (+100 %)"
	if got := render(v, nil, nil); !strings.Contains(got, want) {
		t.Errorf("screen lacks %q:\n%s", want, got)
	}
	v.status.Verdict = costVerdict(t, "€")
	if got := render(v, nil, nil); !strings.Contains(got, "stable €20,000, canary €40,000, difference +€20,000") {
		t.Errorf("screen lacks the cost in euros:\n%s", got)
	}
	// A canary cheaper than stable shows a negative difference.
	cheap := costVerdict(t, "")
	cheap.Details[0].Value, cheap.Details[0].Stable = cheap.Details[0].Stable, cheap.Details[0].Value
	if got, _ := costText(cheap); got != "per million requests: stable £40,000, canary £20,000, difference -£20,000 (-50 %)" {
		t.Errorf("cheaper canary: %q", got)
	}
	// No cost analyzer, no cost line.
	v.status.Verdict = &analysis.Verdict{Details: []analysis.Detail{{Metric: "error-rate"}}}
	if got := render(v, nil, nil); strings.Contains(got, "cost ") {
		t.Errorf("screen shows a cost without the cost analyzer:\n%s", got)
	}
}

func TestReportShowsCost(t *testing.T) {
	t0 := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	obs := []analysis.Observation{{Metric: "cpu", Canary: analysis.Observed(60, 0), Stable: analysis.Observed(60, 0)}}
	evs := []rollback.Event{
		{Seq: 1, Time: t0, Kind: rollback.KindTransition, From: rollback.Pending, To: rollback.Progressing, WeightTo: 10, Reason: "rollout started"},
		{Seq: 2, Time: t0.Add(time.Minute), Kind: rollback.KindAnalysis, To: rollback.Progressing, WeightFrom: 10, WeightTo: 10, Verdict: costVerdict(t, ""), Observations: obs},
		{Seq: 3, Time: t0.Add(2 * time.Minute), Kind: rollback.KindAnalysis, To: rollback.Progressing, WeightFrom: 10, WeightTo: 10, Verdict: &analysis.Verdict{}, Observations: obs},
	}
	svg, err := chart("shop", evs, "svg", nil)
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	if err := writeReport(&page, "shop", rolloutRecord{Status: rollback.Status{Phase: rollback.Progressing}}, evs, svg, "intact over 3 lines", nil); err != nil {
		t.Fatal(err)
	}
	want := `<td colspan="3" class="cost">per million requests: stable £20,000, canary £40,000, difference &#43;£20,000 (&#43;100 %) (last analysis with cost, 01/07/2026 13:01:00 BST)</td>`
	if !strings.Contains(page.String(), want) {
		t.Errorf("page lacks %s", want)
	}
	// Without the cost analyzer the page has no cost row.
	page.Reset()
	if err := writeReport(&page, "shop", rolloutRecord{}, evs[:1], svg, "intact over 1 line", nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page.String(), `class="cost"`) {
		t.Error("page shows a cost without the cost analyzer")
	}
}

// costRolloutFile is a rollout file whose analysis includes the cost
// analyzer; extra is added to its fields.
func costRolloutFile(extra string) string {
	return `name: shop
router:
  httpsplit: {listen: "127.0.0.1:1", stable: "http://127.0.0.1:2", canary: "http://127.0.0.1:3"}
provider:
  prometheus: {address: "http://127.0.0.1:9"}
metrics:
  - {name: error-rate, query: 'errors{version="{{version}}"}'}
  - {name: cpu, query: 'cores{version="{{version}}"}'}
  - {name: memory, query: 'bytes{version="{{version}}"}'}
  - {name: requests, query: 'requests{version="{{version}}"}'}
plan:
  stages: [10, 50]
  interval: 1m
analysis:
  preset: default
  analyzers:
    - cost: {vcpuHour: 0.04, gibHour: 0.005, cpu: cpu, memory: memory, requests: requests, window: 1m, share: 0.2` + extra + `}
`
}

func TestValidateCost(t *testing.T) {
	out, errOut, code := ctl(t, t.TempDir(), "validate", "-f", write(t, "r.yaml", costRolloutFile(", currency: €")))
	if code != 0 || !strings.Contains(out, "rollout shop is valid: router httpsplit, 4 metrics") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	for _, c := range []struct{ old, new, field string }{
		{"share: 0.2", "share: 0.2, replicaHour: -1", "analysis.analyzers[0].cost.replicaHour"},
		{"memory: memory", "memory: mem", "analysis.analyzers[0].cost.memory"},
		{"window: 1m", "window: 0s", "analysis.analyzers[0].cost.window"},
	} {
		f := strings.Replace(costRolloutFile(""), c.old, c.new, 1)
		_, errOut, code := ctl(t, t.TempDir(), "validate", "-f", write(t, "r.yaml", f))
		if code != 2 || !strings.Contains(errOut, c.field) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 naming %s", c.new, code, errOut, c.field)
		}
	}
}

// TestAlarmsValidated: canaryctl validate checks the alarms section field
// by field, and run refuses, naming the field, alarms it cannot read for
// want of an AWS region (rather than run a rollout that looks guarded by
// alarms nobody watches). The alarms polled: alarms_test.go.
func TestAlarmsValidated(t *testing.T) {
	alarms := "signals:\n  alarms: {names: [checkout-5xx], tags: [{key: service, value: checkout}], for: 90s, region: eu-west-2}\n"
	file := write(t, "r.yaml", goodRollout+alarms)
	if out, errOut, code := ctl(t, t.TempDir(), "validate", "-f", file); code != 0 || !strings.Contains(out, "is valid") {
		t.Errorf("validate: exit %d\n%s%s", code, out, errOut)
	}
	bad := write(t, "r.yaml", goodRollout+strings.Replace(alarms, "for: 90s", "for: -1s", 1))
	if _, errOut, code := ctl(t, t.TempDir(), "validate", "-f", bad); code != 2 || !strings.Contains(errOut, "signals.alarms.for") {
		t.Errorf("validate of a negative for: exit %d, %q", code, errOut)
	}
	awsEnv(t, "http://127.0.0.1:1")
	noRegion := write(t, "r.yaml", goodRollout+strings.Replace(alarms, ", region: eu-west-2", "", 1))
	out, errOut, code := ctl(t, t.TempDir(), "run", "-f", noRegion)
	if code != 2 || !strings.Contains(errOut, "signals.alarms.region") || !strings.Contains(errOut, "no AWS region") {
		t.Errorf("run: exit %d\n%s%s", code, out, errOut)
	}
}
