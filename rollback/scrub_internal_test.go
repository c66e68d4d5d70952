package rollback

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/traffic"
)

// TestUnencodableStateIsRepairedAtTheSave: the last line of defence of
// issue 19 item 1. Should a value JSON cannot encode reach the state by a
// path that is not checked, the save used to fail at every Step
// ("json: unsupported value: NaN"), freezing the stored rollout. The save
// now repairs the state, reports the bug as a failure event, and the
// Abort is saved and delivered.
func TestUnencodableStateIsRepairedAtTheSave(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	mem := &store.Memory{}
	router := fake.NewRouter()
	var events []Event
	r, err := New(Config{Name: "checkout", Plan: Plan{Stages: Weights(10, 50), Interval: time.Minute},
		Router: router, Store: mem, Sink: SinkFunc(func(_ context.Context, e Event) error {
			if _, err := json.Marshal(e); err != nil {
				return err
			}
			events = append(events, e)
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Step(ctx, t0); err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	r.mu.Lock()
	r.s.CanaryRate = math.Inf(1)
	r.s.LastVerdict = &analysis.Verdict{Outcome: analysis.Pass, Score: &nan,
		Evidence: []analysis.Evidence{{Metric: "error-rate", Fail: nan}}}
	r.mu.Unlock()

	st, err := r.Abort(ctx, t0.Add(time.Minute), "alice", "")
	if err != nil && strings.Contains(err.Error(), "unsupported value") {
		t.Errorf("Abort: %v", err)
	}
	if st.Phase != RolledBack || router.Current() != traffic.AllStable() {
		t.Errorf("after Abort: %v, router %v", st.Phase, router.Current())
	}
	data, _, err := mem.Load(ctx, "checkout")
	if err != nil {
		t.Fatal(err)
	}
	var saved State
	if err := json.Unmarshal(data, &saved); err != nil || saved.Phase != RolledBack || len(saved.Undelivered) != 0 {
		t.Errorf("stored: %v with %d undelivered (%v)", saved.Phase, len(saved.Undelivered), err)
	}
	var reported bool
	for _, e := range events {
		reported = reported || e.Kind == KindFailure && e.Action == "persist" && strings.Contains(e.Error, "CanaryRate")
	}
	if !reported {
		t.Errorf("the repair is not reported: %v", events)
	}
	if _, err := r.Snapshot(); err != nil {
		t.Error(err)
	}
}
