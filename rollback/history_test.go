package rollback_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/traffic"
)

// seeing is an analyzer that keeps the observations it was given and
// answers outcome.
type seeing struct {
	mu      sync.Mutex
	outcome analysis.Outcome
	seen    [][]analysis.Observation
}

func (s *seeing) Analyze(_ context.Context, in analysis.Input) (analysis.Verdict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, in.Observations)
	return analysis.Verdict{Outcome: s.outcome, Reason: "scripted"}, nil
}

func (s *seeing) last(t *testing.T) analysis.Observation {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 || len(s.seen[len(s.seen)-1]) != 1 {
		t.Fatalf("the analyzer saw %v, want one observation a look", s.seen)
	}
	return s.seen[len(s.seen)-1][0]
}

// historyHarness: an error-rate metric with an hour's baseline over the
// fake provider, the stable version's history scripted at both windows.
func historyHarness(outcome analysis.Outcome) (*harness, *seeing) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	hour, _ := errTmpl.Render(metrics.Vars{Version: "v1", Window: time.Hour})
	h.provider.Script(hour, fake.Constant(0.005, 60000))
	h.cfg.Metrics[0].Baseline = time.Hour
	an := &seeing{outcome: outcome}
	h.cfg.Analyzer = an
	return h, an
}

// TestBaselineBucketsThroughRollout: with a baseline and a provider that
// answers range queries, the analyzer sees the stable version's history
// per analysis window (Observation.Baseline.Buckets), asked as one range
// query tiling the hour before the window; events and the saved state
// do not carry the buckets.
func TestBaselineBucketsThroughRollout(t *testing.T) {
	h, an := historyHarness(analysis.Inconclusive)
	mem := &store.Memory{}
	h.cfg.Store = mem
	r := h.build(t)
	now := t0.Add(time.Minute)
	for _, at := range []time.Time{t0, now} {
		if _, err := r.Step(ctx, at); err != nil {
			t.Fatalf("Step at %v: %v", at, err)
		}
	}
	o := an.last(t)
	if !o.Baseline.Observed || o.Baseline.Count != 60000 {
		t.Fatalf("Baseline = %+v, want the hour's one count", o.Baseline)
	}
	if len(o.Baseline.Buckets) != 60 {
		t.Fatalf("Baseline.Buckets: %d buckets, want 60 (an hour per minute)", len(o.Baseline.Buckets))
	}
	for i, b := range o.Baseline.Buckets {
		if !b.Observed || b.Value != 0.005 || b.Count != 1000 {
			t.Fatalf("bucket %d = %+v, want 0.5 %% of 1,000", i, b)
		}
	}
	var ranges []metrics.RangeQuery
	for _, a := range h.provider.Actions() {
		if a.Verb == "range" {
			ranges = append(ranges, a.Arg.(metrics.RangeQuery))
		}
	}
	want := metrics.RangeQuery{Text: h.stableQuery(), Window: time.Minute, Step: time.Minute,
		Start: now.Add(-time.Hour), End: now.Add(-time.Minute)}
	if len(ranges) != 1 || ranges[0] != want {
		t.Errorf("range queries %+v, want one: %+v", ranges, want)
	}
	for _, e := range h.events {
		for _, o := range e.Observations {
			if o.Baseline.Buckets != nil {
				t.Errorf("event %s carries the buckets", e.Kind)
			}
		}
	}
	data, _, err := mem.Load(ctx, "checkout")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"buckets"`) {
		t.Errorf("the saved state carries the buckets: %s", data)
	}
}

// TestBaselineWithoutRangesIsOneCount: a provider without range queries
// gives the history as one count, as before.
func TestBaselineWithoutRangesIsOneCount(t *testing.T) {
	h, an := historyHarness(analysis.Inconclusive)
	h.cfg.Metrics[0].Provider = metrics.ProviderFunc(h.provider.Query)
	r := h.build(t)
	for _, at := range []time.Time{t0, t0.Add(time.Minute)} {
		if _, err := r.Step(ctx, at); err != nil {
			t.Fatalf("Step at %v: %v", at, err)
		}
	}
	if o := an.last(t); !o.Baseline.Observed || o.Baseline.Buckets != nil {
		t.Errorf("Baseline = %+v, want one count and no buckets", o.Baseline)
	}
	if n := h.provider.Count("range"); n != 0 {
		t.Errorf("%d range queries, want none", n)
	}
}

// TestBrokenRangeNeverBlocksRollback: a range query that fails is a
// failure of the round (reported), the history stays one count, and a
// Fail still rolls the canary back, the state saved.
func TestBrokenRangeNeverBlocksRollback(t *testing.T) {
	h, an := historyHarness(analysis.Fail)
	broken := errors.New("range broken")
	h.provider.FailAlways("range", broken)
	mem := &store.Memory{}
	h.cfg.Store = mem
	h.cfg.Policy = rollback.Policy{FailureLimit: 1}
	r := h.build(t)
	if _, err := r.Step(ctx, t0); err != nil {
		t.Fatal(err)
	}
	st, err := r.Step(ctx, t0.Add(time.Minute))
	if !errors.Is(err, broken) {
		t.Errorf("Step = %v, want the range query's failure reported", err)
	}
	if err != nil && strings.Contains(err.Error(), "persist") {
		t.Errorf("the state could not be saved: %v", err)
	}
	if o := an.last(t); !o.Baseline.Observed || o.Baseline.Buckets != nil {
		t.Errorf("Baseline = %+v, want one count and no buckets", o.Baseline)
	}
	for i := 0; i < 5 && !st.Phase.Final(); i++ {
		st, _ = r.Step(ctx, st.Next)
	}
	if st.Phase != rollback.RolledBack || h.router.Current() != traffic.AllStable() {
		t.Fatalf("phase %v, router at %v; want rolled back to all-stable", st.Phase, h.router.Current())
	}
	if s := loadState(t, mem); s.Phase != rollback.RolledBack {
		t.Errorf("stored phase %v, want RolledBack", s.Phase)
	}
	var reported bool
	for _, e := range h.events {
		reported = reported || e.Kind == rollback.KindFailure && e.Action == "history error-rate"
	}
	if !reported {
		t.Errorf("no failure event for the range query: %v", h.events)
	}
}

// TestReplayBucketsFromRecording: Replay's provider answers the rollout's
// range query from the Recording's Observation.Baseline.Buckets, so the
// analyzer sees them only through the rollout's own query (a missing
// bucket is a zero Measurement); a Recording without buckets gives the
// history as one count.
func TestReplayBucketsFromRecording(t *testing.T) {
	for _, withBuckets := range []bool{true, false} {
		an := &seeing{outcome: analysis.Inconclusive}
		rec := func(now time.Time, _ traffic.Split) []analysis.Observation {
			o := analysis.Observation{Metric: "error-rate", Canary: analysis.Observed(0.01, 100),
				Stable: analysis.Observed(0.01, 900), Baseline: analysis.Observed(0.01, 59000)}
			if withBuckets {
				for i := 0; i < 60; i++ {
					b := analysis.Observed(0.01, 1000)
					if i == 3 {
						b = analysis.Measurement{}
					}
					o.Baseline.Buckets = append(o.Baseline.Buckets, b)
				}
			}
			return []analysis.Observation{o}
		}
		cfg := rollback.Config{Name: "replay", Plan: stepsPlan(10, 50), Analyzer: an,
			Metrics: []rollback.Metric{{Name: "error-rate"}}}
		if _, err := rollback.Replay(ctx, cfg, t0, t0.Add(3*time.Minute), rec); err != nil {
			t.Fatal(err)
		}
		bs := an.last(t).Baseline.Buckets
		switch {
		case !withBuckets && bs != nil:
			t.Errorf("without buckets in the recording: %d buckets, want none", len(bs))
		case withBuckets && len(bs) != 60:
			t.Errorf("%d buckets, want the recording's 60", len(bs))
		case withBuckets && (bs[3].Observed || !bs[4].Observed || bs[4].Count != 1000):
			t.Errorf("buckets 3 and 4 = %+v, %+v; want a zero Measurement, then 1 %% of 1,000", bs[3], bs[4])
		}
	}
}
