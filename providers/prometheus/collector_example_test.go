package prometheus_test

import (
	"context"
	"fmt"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/providers/prometheus"
	"github.com/meshcanary/canary/rollback"
)

// The collector is fed a rollout's events (as its Sink) and statuses.
func ExampleRolloutMetrics() {
	m := prometheus.NewRolloutMetrics("")
	reg := prom.NewRegistry()
	reg.MustRegister(m)
	sink := m.Sink() // with others, in the rollout's Config.Sink
	_ = sink.Record(context.Background(), rollback.Event{Seq: 1, Rollout: "checkout", Kind: rollback.KindAnalysis,
		Verdict: &analysis.Verdict{Outcome: analysis.Fail}})
	m.ObserveStep(rollback.Status{Name: "checkout", Phase: rollback.Progressing, CanaryWeight: 20}, 0)

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			var v float64
			switch {
			case s.GetCounter() != nil:
				v = s.GetCounter().GetValue()
			case s.GetGauge() != nil:
				v = s.GetGauge().GetValue()
			default:
				continue
			}
			if v == 0 {
				continue
			}
			fmt.Print(mf.GetName())
			for _, l := range s.GetLabel() {
				fmt.Printf(" %s=%s", l.GetName(), l.GetValue())
			}
			fmt.Println(" ", v)
		}
	}
	// Output:
	// meshcanary_analyses_total outcome=fail  1
	// meshcanary_rollout_canary_weight rollout=checkout  20
	// meshcanary_rollouts phase=progressing  1
}
