package rollback_test

import (
	"testing"
	"time"

	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
)

// BenchmarkStep measures a steady-state Step over the fakes: the rollout
// holds a step between analyses, so nothing is due and nothing is written.
func BenchmarkStep(b *testing.B) {
	h := newHarness(rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute, Hold: 1000 * time.Hour,
		ProgressDeadline: 1000 * time.Hour}, rollback.Policy{}, fake.Constant(0.001, 500))
	r := h.build(b)
	now := t0
	r.Step(ctx, now)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(time.Nanosecond)
		if st, err := r.Step(ctx, now); err != nil || st.Phase != rollback.Progressing {
			b.Fatal(st.Phase, err)
		}
	}
}

// BenchmarkStepWithAnalysis measures a Step at which an analysis is due:
// two queries to the fake provider (canary and stable), the threshold
// analyzer, the verdict event.
func BenchmarkStepWithAnalysis(b *testing.B) {
	// A hold of about 200 years: b.N one-minute analyses never finish it.
	h := newHarness(rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute, Hold: 1_750_000 * time.Hour,
		ProgressDeadline: time.Hour}, rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Sink = nil
	r := h.build(b)
	now := t0
	r.Step(ctx, now)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%1024 == 0 {
			h.provider.ClearActions() // the fakes' call logs would otherwise dominate
			h.router.ClearActions()
		}
		now = now.Add(time.Minute)
		st, err := r.Step(ctx, now)
		if err != nil {
			b.Fatal(err)
		}
		if st.Phase != rollback.Progressing || st.Verdict == nil {
			b.Fatalf("iteration %d: %v; the benchmark must analyse at every step", i, st.Phase)
		}
	}
	b.StopTimer()
	if looks := r.State().Looks; looks != b.N {
		b.Fatalf("%d analyses in %d iterations; the benchmark must analyse at every step", looks, b.N)
	}
}
