package prometheus_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/providers/prometheus"
	"github.com/meshcanary/canary/rollback"
)

func TestRolloutMetrics(t *testing.T) {
	m := prometheus.NewRolloutMetrics("")
	reg := prom.NewPedanticRegistry()
	reg.MustRegister(m)
	ctx := context.Background()
	sink := m.Sink()
	rec := func(e rollback.Event) {
		if err := sink.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	rec(rollback.Event{Seq: 1, Rollout: "a", Kind: rollback.KindAnalysis, Verdict: &analysis.Verdict{Outcome: analysis.Pass}})
	rec(rollback.Event{Seq: 2, Rollout: "a", Kind: rollback.KindAnalysis, Verdict: &analysis.Verdict{Outcome: analysis.Fail}})
	rec(rollback.Event{Seq: 2, Rollout: "a", Kind: rollback.KindAnalysis, Verdict: &analysis.Verdict{Outcome: analysis.Fail}}) // offered again
	rec(rollback.Event{Seq: 3, Rollout: "a", Kind: rollback.KindTransition, From: rollback.Progressing, To: rollback.RollingBack,
		Reason: "2 failed analyses (cumulative limit 2): error rate"})
	rec(rollback.Event{Seq: 1, Rollout: "b", Kind: rollback.KindFailure, Action: "set-split", Error: "timeout"})
	rec(rollback.Event{Seq: 2, Rollout: "b", Kind: rollback.KindFailure, Action: "something new", Error: "x"})
	rec(rollback.Event{Seq: 3, Rollout: "b", Kind: rollback.KindTransition, To: rollback.RollingBack, Reason: "aborted: bad build", Actor: "alice"})
	m.ObserveStep(rollback.Status{Name: "a", Phase: rollback.RollingBack}, 3*time.Millisecond)
	m.ObserveStep(rollback.Status{Name: "b", Phase: rollback.Progressing, CanaryWeight: 20}, 0)
	m.ObserveStep(rollback.Status{Name: "c", Phase: rollback.Progressing, CanaryWeight: 5}, time.Millisecond)

	want := `
# HELP meshcanary_action_failures_total Failures to act, by action.
# TYPE meshcanary_action_failures_total counter
meshcanary_action_failures_total{action="other"} 1
meshcanary_action_failures_total{action="set-split"} 1
# HELP meshcanary_analyses_total Analyses by outcome.
# TYPE meshcanary_analyses_total counter
meshcanary_analyses_total{outcome="fail"} 1
meshcanary_analyses_total{outcome="inconclusive"} 0
meshcanary_analyses_total{outcome="pass"} 1
# HELP meshcanary_rollbacks_total Rollbacks by reason class.
# TYPE meshcanary_rollbacks_total counter
meshcanary_rollbacks_total{reason="analysis"} 1
meshcanary_rollbacks_total{reason="budget"} 0
meshcanary_rollbacks_total{reason="manual"} 1
meshcanary_rollbacks_total{reason="not-ready"} 0
meshcanary_rollbacks_total{reason="other"} 0
meshcanary_rollbacks_total{reason="progress-deadline"} 0
meshcanary_rollbacks_total{reason="route-missing"} 0
# HELP meshcanary_rollout_canary_weight The canary weight (percent) each rollout wants.
# TYPE meshcanary_rollout_canary_weight gauge
meshcanary_rollout_canary_weight{rollout="a"} 0
meshcanary_rollout_canary_weight{rollout="b"} 20
meshcanary_rollout_canary_weight{rollout="c"} 5
# HELP meshcanary_rollouts Rollouts in each phase.
# TYPE meshcanary_rollouts gauge
meshcanary_rollouts{phase="awaiting-approval"} 0
meshcanary_rollouts{phase="paused"} 0
meshcanary_rollouts{phase="pending"} 0
meshcanary_rollouts{phase="progressing"} 2
meshcanary_rollouts{phase="promoting"} 0
meshcanary_rollouts{phase="rolled-back"} 0
meshcanary_rollouts{phase="rolling-back"} 1
meshcanary_rollouts{phase="succeeded"} 0
meshcanary_rollouts{phase="validating"} 0
`
	names := []string{"meshcanary_action_failures_total", "meshcanary_analyses_total", "meshcanary_rollbacks_total",
		"meshcanary_rollout_canary_weight", "meshcanary_rollouts"}
	if got := gather(t, reg, names...); got != strings.TrimLeft(want, "\n") {
		t.Fatalf("exposition:\n%s\nwant:\n%s", got, want)
	}
	m.Forget("c")
	if got := gather(t, reg, "meshcanary_rollout_canary_weight"); strings.Contains(got, `rollout="c"`) || !strings.Contains(got, `rollout="b"`) {
		t.Fatalf("weights after Forget(c):\n%s", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "meshcanary_step_duration_seconds" {
			if h := mf.GetMetric()[0].GetHistogram(); h.GetSampleCount() != 2 || h.GetSampleSum() != 0.004 {
				t.Fatalf("step histogram: %d samples summing to %v, want 2 and 0.004", h.GetSampleCount(), h.GetSampleSum())
			}
			return
		}
	}
	t.Fatal("no step histogram")
}

func gather(t *testing.T, reg *prom.Registry, names ...string) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if slices.Contains(names, mf.GetName()) {
			if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	return b.String()
}

// TestRollbackReasonBudget: a rollback because the evidence could not
// arrive within the rollout's budget (rollback.Plan.MaxDuration) has its
// own label, not "other".
func TestRollbackReasonBudget(t *testing.T) {
	for _, reason := range []string{
		"the evidence did not arrive within the rollout's budget of 4h0m0s (Plan.MaxDuration)",
		"the evidence cannot arrive within the rollout's budget (Plan.MaxDuration): about 900 more canary requests",
	} {
		e := rollback.Event{Kind: rollback.KindTransition, To: rollback.RollingBack, Reason: reason}
		if got := prometheus.RollbackReason(e); got != "budget" {
			t.Errorf("RollbackReason(%q) = %q, want budget", reason, got)
		}
	}
}

// TestActionScaleStable: the old version's scale-down after a blue/green
// switch ("scale-stable") has its own label, not "other".
func TestActionScaleStable(t *testing.T) {
	m := prometheus.NewRolloutMetrics("")
	reg := prom.NewPedanticRegistry()
	reg.MustRegister(m)
	if err := m.Sink().Record(context.Background(), rollback.Event{Seq: 1, Rollout: "bg", Kind: rollback.KindFailure, Action: "scale-stable", Error: "timeout"}); err != nil {
		t.Fatal(err)
	}
	if got := gather(t, reg, "meshcanary_action_failures_total"); !strings.Contains(got, `meshcanary_action_failures_total{action="scale-stable"} 1`) {
		t.Fatalf("exposition:\n%s", got)
	}
}
