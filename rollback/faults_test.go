package rollback_test

// Regression tests for issue 9 ("Panics and impossible states", "Liveness
// and bounded resources", "The audit trail") and issue 14 ("no I/O under
// the lock"). Each failed before its fix.

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/workload"
)

// blockingProvider answers like p but, while armed, blocks every query
// until released: a metrics back end that hangs.
type blockingProvider struct {
	p       metrics.Provider
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	release chan struct{}
}

func (b *blockingProvider) Query(ctx context.Context, q metrics.Query) (metrics.Result, error) {
	b.mu.Lock()
	armed := b.armed
	b.armed = false
	b.mu.Unlock()
	if armed {
		close(b.entered)
		<-b.release
	}
	return b.p.Query(ctx, q)
}

// TestAbortDuringASlowAnalysis: an Abort acts at once while a Step is
// blocked in a metric query (it used to wait for the whole analysis,
// minutes with a slow back end), and the analysis, when it finally
// returns, writes no canary traffic.
func TestAbortDuringASlowAnalysis(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	bp := &blockingProvider{p: h.provider, entered: make(chan struct{}), release: make(chan struct{})}
	h.cfg.Metrics[0].Provider = bp
	r := h.build(t)
	if _, err := r.Step(ctx, t0); err != nil {
		t.Fatal(err)
	}
	bp.mu.Lock()
	bp.armed = true
	bp.mu.Unlock()
	stepDone := make(chan rollback.Status)
	go func() {
		st, _ := r.Step(ctx, t0.Add(time.Minute)) // an analysis is due
		stepDone <- st
	}()
	<-bp.entered // the Step is now blocked inside a query
	writes := h.router.Writes()
	st, err := r.Abort(ctx, t0.Add(time.Minute+time.Second), "alice", "pager went off")
	if err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if st.Phase != rollback.RolledBack || h.router.Current() != traffic.AllStable() {
		t.Fatalf("Abort while an analysis is blocked: %v, router %v; want rolled back at once", st.Phase, h.router.Current())
	}
	if n := h.router.Writes() - writes; n != 1 {
		t.Errorf("Abort made %d router writes, want 1", n)
	}
	close(bp.release)
	st = <-stepDone
	if st.Phase != rollback.RolledBack {
		t.Errorf("the blocked Step ended in %v", st.Phase)
	}
	for _, a := range h.router.Actions() {
		if sp, ok := a.Arg.(traffic.Split); ok && a.Verb == "set" && sp.Canary > 0 && a.Err == nil && sp.Canary != 10 {
			t.Errorf("canary traffic written: %v", sp)
		}
	}
	if got := h.router.Current(); got != traffic.AllStable() {
		t.Errorf("after the analysis returned the router is %v", got)
	}
	for _, e := range h.events {
		if e.Kind == rollback.KindAnalysis {
			t.Errorf("the stale analysis was judged after the Abort: %v", e)
		}
	}
}

// TestSetWeightZeroThenResume: it panicked (index out of range [-1]).
func TestSetWeightZeroThenResume(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	r := h.build(t)
	r.Step(ctx, t0)
	if _, err := r.SetWeight(ctx, t0.Add(time.Second), 0, "alice", "hold off"); err != nil {
		t.Fatal(err)
	}
	st, err := r.Resume(ctx, t0.Add(2*time.Second), "alice", "go on")
	if err != nil || st.Phase != rollback.Progressing || st.CanaryWeight != 10 || st.StageNumber != 1 {
		t.Fatalf("Resume after SetWeight(0): %+v, %v; want progressing at the first stage", st, err)
	}
	run(t, r, t0.Add(time.Minute), t0.Add(time.Hour))
	snap := mustSnapshot(t, r)
	if _, err := rollback.Restore(h.cfg, snap); err != nil {
		t.Errorf("the snapshot does not restore: %v", err)
	}
}

// TestZeroRolloutIsSafe: the zero Rollout panicked in Status and Step.
func TestZeroRolloutIsSafe(t *testing.T) {
	var r rollback.Rollout
	if _, err := r.Step(ctx, t0); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("Step on the zero Rollout = %v, want ErrInvalid", err)
	}
	if _, err := r.Abort(ctx, t0, "a", ""); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("Abort on the zero Rollout = %v, want ErrInvalid", err)
	}
	if st := r.Status(t0); st.Phase != rollback.Pending {
		t.Errorf("Status = %+v", st)
	}
	if _, err := r.Snapshot(); err == nil {
		t.Error("Snapshot of the zero Rollout succeeded")
	}
	_ = r.State()
}

// TestStateIsADeepCopy: State shared Totals and the undelivered events
// with the rollout (a data race under a concurrent Step).
func TestStateIsADeepCopy(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Sink = rollback.SinkFunc(func(context.Context, rollback.Event) error { return errors.New("down") })
	r := h.build(t)
	r.Step(ctx, t0)
	r.Step(ctx, t0.Add(time.Minute))
	s := r.State()
	if len(s.Totals) == 0 || len(s.Undelivered) == 0 || s.Applied == nil || s.LastVerdict == nil {
		t.Fatalf("state too thin for the test: %+v", s)
	}
	s.Totals[0].Canary.Count = -7
	s.Undelivered[0].Reason = "edited"
	s.Applied.Canary = 77
	s.LastVerdict.Reason = "edited"
	again := r.State()
	if again.Totals[0].Canary.Count == -7 || again.Undelivered[0].Reason == "edited" || again.Applied.Canary == 77 || again.LastVerdict.Reason == "edited" {
		t.Error("editing the copy State returned changed the rollout")
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 2; i < 40; i++ {
			r.Step(ctx, t0.Add(time.Duration(i)*time.Minute))
		}
	}()
	for i := 0; i < 40; i++ {
		s := r.State()
		for j := range s.Totals {
			s.Totals[j].Canary.Count++
		}
	}
	wg.Wait()
}

// TestStableReplicasReadIsRetried: a failed read of the stable version's
// replicas was never retried, and the rollback then skipped restoring
// stable while the state said it was restored.
func TestStableReplicasReadIsRetried(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	h.scaler.Fail("replicas", &fake.Error{Verb: "replicas", Msg: "apiserver busy"})
	r := h.build(t)
	if _, err := r.Step(ctx, t0); err == nil {
		t.Fatal("the failed read was not reported")
	}
	r.Step(ctx, t0.Add(time.Minute))
	if !r.State().StableRecorded {
		t.Fatal("the stable replicas were not read again")
	}
	h.scaler.Scale(ctx, workload.Stable, 1) // someone scales stable down meanwhile
	st, _ := r.Abort(ctx, t0.Add(2*time.Minute), "alice", "")
	if st.Phase != rollback.RolledBack || h.scaler.Current(workload.Stable) != 4 {
		t.Errorf("after the rollback: %v, stable %d replicas; want rolled back with stable restored to 4", st.Phase, h.scaler.Current(workload.Stable))
	}
}

// TestPausedCanaryIsStillAnalysed: a paused canary was not analysed at
// all; a failing one now rolls back (RollBackOnFailure) or raises an
// alert (PauseOnFailure).
func TestPausedCanaryIsStillAnalysed(t *testing.T) {
	for _, tc := range []struct {
		policy rollback.Policy
		want   rollback.Phase
	}{
		{rollback.Policy{}, rollback.RolledBack},
		{rollback.Policy{OnFailure: rollback.PauseOnFailure}, rollback.Paused},
	} {
		h := newHarness(stepsPlan(10, 50), tc.policy, fake.Constant(0.2, 500))
		r := h.build(t)
		r.Step(ctx, t0)
		r.Pause(ctx, t0.Add(time.Second), "alice", "watching")
		run(t, r, t0.Add(time.Minute), t0.Add(10*time.Minute))
		if ph := r.Status(t0.Add(10 * time.Minute)).Phase; ph != tc.want {
			t.Errorf("OnFailure %v: a failing paused canary ended %v, want %v", tc.policy.OnFailure, ph, tc.want)
		}
		verdicts, alerts := 0, 0
		for _, e := range h.events {
			switch e.Kind {
			case rollback.KindAnalysis:
				verdicts++
			case rollback.KindAlert:
				alerts++
			}
		}
		if verdicts < 2 {
			t.Errorf("OnFailure %v: %d analyses while paused", tc.policy.OnFailure, verdicts)
		}
		if tc.want == rollback.Paused && alerts == 0 {
			t.Errorf("PauseOnFailure: no alert for a failing paused canary")
		}
	}
}

// TestQueryErrorsReachTheCaller: query errors were swallowed, and a healthy
// canary was rolled back at the deadline with a reason that did not
// mention them.
func TestQueryErrorsReachTheCaller(t *testing.T) {
	h := newHarness(rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute, ProgressDeadline: 3 * time.Minute},
		rollback.Policy{OnInconclusive: rollback.RollBackInconclusive}, fake.Constant(0.001, 500))
	h.provider.FailAlways("query", &fake.Error{Verb: "query", Msg: "no series for version v2"})
	r := h.build(t)
	r.Step(ctx, t0)
	_, err := r.Step(ctx, t0.Add(time.Minute))
	var fe *fake.Error
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "query error-rate") {
		t.Fatalf("Step = %v, want the query's error", err)
	}
	run(t, r, t0.Add(2*time.Minute), t0.Add(time.Hour))
	st := r.Status(t0)
	if st.Phase != rollback.RolledBack || !strings.Contains(st.Reason, "no series for version v2") {
		t.Errorf("ended %v: %q; want a rollback naming the failing query", st.Phase, st.Reason)
	}
	failures := 0
	for _, e := range h.events {
		if e.Kind == rollback.KindFailure && e.Repeats == 0 {
			failures++
		}
	}
	if failures > 2 {
		t.Errorf("%d failure events for one repeated failure; want them coalesced", failures)
	}
}

// TestNewRefusesWhatCanNeverWork: each of these rolled a healthy canary
// back at the deadline, with a reason that did not name the mistake.
func TestNewRefusesWhatCanNeverWork(t *testing.T) {
	for name, edit := range map[string]func(*rollback.Config){
		"an analyzer reading an unmeasured metric": func(c *rollback.Config) {
			c.Analyzer = analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("error-rate", 0.02), analysis.AtMost("latency-p99", 0.5)}}
		},
		"an empty All": func(c *rollback.Config) { c.Analyzer = analysis.All() },
		"a preset without metric names": func(c *rollback.Config) {
			c.Analyzer = analysis.DefaultPreset(analysis.PresetMetrics{}).Analyzer
		},
		"a comparison with stable on a metric that skips stable": func(c *rollback.Config) {
			c.Metrics[0].SkipStable = true
			c.Analyzer = analysis.Sequential{Metric: "error-rate"}
		},
		"a composition with a part reading an unmeasured metric": func(c *rollback.Config) {
			c.Analyzer = analysis.All(c.Analyzer, analysis.Rates{Metrics: []analysis.Rate{{Metric: "slow"}}})
		},
		"stable and canary the same version": func(c *rollback.Config) {
			c.Target.Canary = c.Target.Stable
		},
		"a store key no store accepts": func(c *rollback.Config) { c.Store, c.Key = &store.Memory{}, "Bad Key" },
		"a key without a store":        func(c *rollback.Config) { c.Key = "checkout" },
	} {
		h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
		edit(&h.cfg)
		if _, err := rollback.New(h.cfg); !errors.Is(err, canary.ErrInvalid) {
			t.Errorf("%s: New = %v, want ErrInvalid", name, err)
		}
	}
	for name, a := range map[string]analysis.Analyzer{
		"a threshold on the measured metric": analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("error-rate", 0.02)}},
		"the default preset on it":           analysis.DefaultPreset(analysis.PresetMetrics{ErrorRate: "error-rate"}).Analyzer,
		// An analyzer that does not say what it reads is trusted.
		"a caller's own analyzer": analysis.AnalyzerFunc(func(context.Context, analysis.Input) (analysis.Verdict, error) {
			return analysis.Verdict{}, nil
		}),
	} {
		h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
		h.cfg.Analyzer = a
		if _, err := rollback.New(h.cfg); err != nil {
			t.Errorf("%s: New = %v", name, err)
		}
	}
}

// TestRetriesBackOffAndEventsStayBounded: a route that cannot be written
// for a simulated day made a failure event every 5 s and, with the sink
// down too, 17,287 queued events and a 3.6 MB snapshot.
func TestRetriesBackOffAndEventsStayBounded(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Sink = rollback.SinkFunc(func(context.Context, rollback.Event) error { return errors.New("sink down") })
	r := h.build(t)
	r.Step(ctx, t0)
	h.router.FailAlways("set", &fake.Error{Verb: "set", Msg: "webhook denied"})
	r.Abort(ctx, t0.Add(time.Second), "alice", "")
	steps := 0
	now := t0.Add(time.Second)
	var gaps []time.Duration
	for now.Before(t0.Add(24 * time.Hour)) {
		st, _ := r.Step(ctx, now)
		steps++
		gaps = append(gaps, st.Next.Sub(now))
		now = st.Next
	}
	if steps > 24*60/5+20 {
		t.Errorf("%d attempts in a day; want an exponential back-off capped at %v", steps, rollback.MaxRetryDelay)
	}
	if last := gaps[len(gaps)-1]; last != rollback.MaxRetryDelay {
		t.Errorf("the back-off settles at %v, want %v", last, rollback.MaxRetryDelay)
	}
	snap := mustSnapshot(t, r)
	s := r.State()
	if len(s.Undelivered) > rollback.MaxUndelivered || len(snap) > 1<<20 {
		t.Errorf("%d undelivered events, %d-byte snapshot after a day", len(s.Undelivered), len(snap))
	}
	failures := 0
	for _, e := range s.Undelivered {
		if e.Kind == rollback.KindFailure {
			failures++
		}
	}
	if failures > 2*24+5 {
		t.Errorf("%d failure events in a day for one repeated failure; want at most about one an hour", failures)
	}
}

// TestEventsKeepSummariesNotSamples: an analysis event carried every raw
// sample (lines over 16 MiB).
func TestEventsKeepSummariesNotSamples(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	many := make([]float64, 100_000)
	h.cfg.Metrics[0].Provider = metrics.ProviderFunc(func(context.Context, metrics.Query) (metrics.Result, error) {
		return metrics.Result{Value: 0.001, Count: int64(len(many)), Samples: many}, nil
	})
	r := h.build(t)
	r.Step(ctx, t0)
	r.Step(ctx, t0.Add(time.Minute))
	for _, e := range h.events {
		b, _ := json.Marshal(e)
		if len(b) > 64<<10 {
			t.Errorf("a %s event of %d bytes", e.Kind, len(b))
		}
		for _, o := range e.Observations {
			if o.Canary.Count != int64(len(many)) {
				t.Errorf("the count was lost: %+v", o.Canary)
			}
		}
	}
}

// TestRollbackWithoutARecordedStableCountFinishes: when the stable
// replicas could never be read before the rollback, the rollback reads
// them itself instead of waiting for ever to restore them.
func TestRollbackWithoutARecordedStableCountFinishes(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	h.scaler.Fail("replicas", &fake.Error{Verb: "replicas", Msg: "forbidden"})
	r := h.build(t)
	r.Step(ctx, t0)
	r.Abort(ctx, t0.Add(time.Second), "alice", "")
	seen := run(t, r, t0.Add(2*time.Second), t0.Add(time.Hour))
	if ph := seen[len(seen)-1].Phase; ph != rollback.RolledBack {
		t.Fatalf("ended %v, want rolled back", ph)
	}
	if h.scaler.Current(workload.Stable) != 4 || h.scaler.Current(workload.Canary) != 0 {
		t.Errorf("stable %d canary %d", h.scaler.Current(workload.Stable), h.scaler.Current(workload.Canary))
	}
}

// TestSinkDownKeepsTheAnalysisSchedule: a sink that is down backs off its
// retries but does not delay the analyses.
func TestSinkDownKeepsTheAnalysisSchedule(t *testing.T) {
	h := newHarness(rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute, Hold: time.Hour}, rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Sink = rollback.SinkFunc(func(context.Context, rollback.Event) error { return errors.New("sink down") })
	r := h.build(t)
	seen := run(t, r, t0, t0.Add(30*time.Minute))
	if looks := r.State().Looks; looks < 29 {
		t.Errorf("%d analyses in 30 minutes with the sink down, want one a minute", looks)
	}
	if len(seen) > 40 {
		t.Errorf("%d steps in 30 minutes", len(seen))
	}
	h2 := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	h2.cfg.Sink = h.cfg.Sink
	r2 := h2.build(t)
	run(t, r2, t0, t0.Add(time.Hour)) // promoted; the events wait for the sink
	now := t0.Add(time.Hour)
	var gaps []time.Duration
	for i := 0; i < 20; i++ {
		st, _ := r2.Step(ctx, now)
		gaps = append(gaps, st.Next.Sub(now))
		now = st.Next
	}
	if gaps[len(gaps)-1] != rollback.MaxRetryDelay {
		t.Errorf("a final rollout with its sink down retries every %v, want the back-off capped at %v", gaps[len(gaps)-1], rollback.MaxRetryDelay)
	}
}
