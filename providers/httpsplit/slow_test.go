package httpsplit_test

import (
	"math"
	"testing"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/httpsplit"
)

// TestSlowFromATemplate: the slow query rendered by a metrics.Template, as
// a rollout's metric would be, gives latency as counts: Value·Count
// requests slower than the bound, out of Count.
func TestSlowFromATemplate(t *testing.T) {
	r, _ := metricsRig(t, httpsplit.Config{})
	tmpl := metrics.MustParse(metrics.PromQL, "slow", `slow{version="{{version}}",le="0.065536"}`)
	for v, want := range map[string]float64{"canary": 35, "stable": 0} {
		text, err := tmpl.Render(metrics.Vars{Version: v})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.p.Query(ctx(t), metrics.Query{Text: text, Window: 10 * time.Second, End: t0.Add(10 * time.Second)})
		if err != nil || res.Count != 100 || math.Abs(res.Value*float64(res.Count)-want) > 1e-9 {
			t.Errorf("%s = %+v, %v; want %v slow of 100", text, res, err, want)
		}
		if len(res.Samples) != 10 {
			t.Errorf("%s: samples %v, want one slow fraction per second", text, res.Samples)
		}
	}
}
