package rollback_test

// Regression tests for issue 19 items 1 (the edge), 11 and 15: a value
// JSON cannot encode does not freeze a rollout, a move toward stable
// reaches the router while saves fail, an unsaved decision is not
// reported, and Step's errors are one line. Each failed before its fix.

import (
	"context"
	"encoding/json"
	"errors"
	"math"
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

// nanAnalyzer returns outcome with evidence and statistics that are not
// finite, as analysis.Sequential did when both versions failed every
// request.
type nanAnalyzer struct {
	mu      sync.Mutex
	outcome analysis.Outcome
}

func (a *nanAnalyzer) set(o analysis.Outcome) {
	a.mu.Lock()
	a.outcome = o
	a.mu.Unlock()
}

func (a *nanAnalyzer) Analyze(_ context.Context, in analysis.Input) (analysis.Verdict, error) {
	a.mu.Lock()
	o := a.outcome
	a.mu.Unlock()
	nan, inf := math.NaN(), math.Inf(1)
	return analysis.Verdict{
		Outcome:  o,
		Score:    &inf,
		Details:  []analysis.Detail{{Metric: "error-rate", Outcome: o, Value: &nan, Statistic: &nan, Reason: "Λ"}},
		Evidence: []analysis.Evidence{{Metric: "error-rate", Fail: nan, Pass: math.Inf(-1), Requests: 10, More: 5}},
		Reason:   "sequential",
		Memory:   json.RawMessage(`{"llr":`), // cut short: not JSON
	}, nil
}

// switchStore fails every Save while failing is set: a full disk that
// may recover.
type switchStore struct {
	store.Store
	mu      sync.Mutex
	failing bool
	fails   int
}

func (s *switchStore) fail(on bool) {
	s.mu.Lock()
	s.failing = on
	s.mu.Unlock()
}

func (s *switchStore) Save(ctx context.Context, key string, data []byte, prev string) (string, error) {
	s.mu.Lock()
	failing := s.failing
	if failing {
		s.fails++
	}
	s.mu.Unlock()
	if failing {
		return "", errors.New("no space left on device")
	}
	return s.Store.Save(ctx, key, data, prev)
}

func loadState(t *testing.T, st store.Store) rollback.State {
	t.Helper()
	data, _, err := st.Load(ctx, "checkout")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var s rollback.State
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("stored state: %v", err)
	}
	return s
}

// TestNotFiniteVerdictDoesNotFreeze: an analyzer's NaN and ±Inf (and a
// Memory that is not JSON) used to make the state unsaveable: every Step
// failed with "json: unsupported value: NaN" and an Abort left the canary
// at 10 %. Now the values are left out, reported as a bug, a Pass made
// with them counts as inconclusive, and the rollout goes on: saved,
// snapshotted, every event encodable, and an Abort reaches the router.
func TestNotFiniteVerdictDoesNotFreeze(t *testing.T) {
	for _, withStore := range []bool{true, false} {
		h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
		an := &nanAnalyzer{outcome: analysis.Pass}
		h.cfg.Analyzer = an
		mem := &store.Memory{}
		if withStore {
			h.cfg.Store = mem
		}
		h.cfg.Sink = rollback.SinkFunc(func(_ context.Context, e rollback.Event) error {
			if _, err := json.Marshal(e); err != nil {
				return err // as a JSON-lines trail would refuse it
			}
			h.events = append(h.events, e)
			return nil
		})
		r := h.build(t)
		if _, err := r.Step(ctx, t0); err != nil {
			t.Fatal(err)
		}
		st, err := r.Step(ctx, t0.Add(time.Minute))
		if !errors.Is(err, rollback.ErrNotFinite) {
			t.Errorf("store %v: Step = %v, want an error reporting ErrNotFinite", withStore, err)
		}
		if err != nil && (strings.Contains(err.Error(), "persist") || strings.Contains(err.Error(), "audit sink")) {
			t.Errorf("store %v: the state could not be saved or delivered: %v", withStore, err)
		}
		if st.Verdict == nil || st.Verdict.Outcome != analysis.Inconclusive {
			t.Errorf("store %v: a Pass made of NaN counted as %+v, want inconclusive", withStore, st.Verdict)
		}
		if _, err := r.Snapshot(); err != nil {
			t.Errorf("store %v: Snapshot: %v", withStore, err)
		}
		if withStore {
			if s := loadState(t, mem); s.Looks != 1 || len(s.Undelivered) != 0 {
				t.Errorf("stored state: %d looks, %d undelivered; want the analysis saved and delivered", s.Looks, len(s.Undelivered))
			}
		}
		var sawBug bool
		for _, e := range h.events {
			if e.Kind == rollback.KindFailure && e.Action == "analyze" && strings.Contains(e.Error, "not a finite number") {
				sawBug = true
			}
		}
		if !sawBug {
			t.Errorf("store %v: no failure event reports the analyzer's bug: %v", withStore, h.events)
		}
		an.set(analysis.Fail) // a Fail with NaN still counts as a Fail
		st, _ = r.Abort(ctx, t0.Add(90*time.Second), "alice", "NaN everywhere")
		if st.Phase != rollback.RolledBack || h.router.Current() != traffic.AllStable() {
			t.Errorf("store %v: after Abort: %v, router at %v", withStore, st.Phase, h.router.Current())
		}
	}
}

// TestNotFiniteProviderValueIsNoData: a provider answering NaN (0/0 with
// no traffic) is no data, never compared with a bound nor saved.
func TestNotFiniteProviderValueIsNoData(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	for i := range h.cfg.Metrics {
		h.cfg.Metrics[i].Provider = metrics.ProviderFunc(func(context.Context, metrics.Query) (metrics.Result, error) {
			return metrics.Result{Value: math.NaN(), Count: 500, Samples: []float64{1, math.Inf(1)}}, nil // unchecked
		})
	}
	mem := &store.Memory{}
	h.cfg.Store = mem
	r := h.build(t)
	r.Step(ctx, t0)
	st, err := r.Step(ctx, t0.Add(time.Minute))
	if err != nil {
		t.Errorf("Step = %v, want no data and a saved state", err)
	}
	if st.Verdict == nil || st.Verdict.Outcome == analysis.Pass {
		t.Errorf("a NaN error rate judged %+v", st.Verdict)
	}
	if _, err := r.Snapshot(); err != nil {
		t.Error(err)
	}
}

// TestRollbackReachesRouterWhileSavesFail: with a store that fails every
// save, an Abort and a failing canary used to change nothing (no action
// on an unsaved decision), leaving the canary its traffic. A move toward
// stable now reaches the router and the scaler unsaved; the save is
// retried, and lands when the store recovers.
func TestRollbackReachesRouterWhileSavesFail(t *testing.T) {
	for _, how := range []string{"abort", "fail"} {
		h := newHarness(stepsPlan(10, 50), rollback.Policy{FailureLimit: 1}, fake.Constant(0.001, 500))
		an := &nanAnalyzer{outcome: analysis.Pass}
		if how == "fail" {
			h.cfg.Analyzer = an
		}
		ss := &switchStore{Store: &store.Memory{}}
		h.cfg.Store = ss
		r := h.build(t)
		if _, err := r.Step(ctx, t0); err != nil {
			t.Fatal(err)
		}
		if got := h.router.Current(); got.Canary != 10 {
			t.Fatalf("%s: router at %v, want 10 %%", how, got)
		}
		ss.fail(true)
		var st rollback.Status
		var err error
		switch how {
		case "abort":
			st, err = r.Abort(ctx, t0.Add(30*time.Second), "alice", "")
		case "fail":
			an.set(analysis.Fail)
			st, err = r.Step(ctx, t0.Add(time.Minute))
		}
		if err == nil || !strings.Contains(err.Error(), "no space left") {
			t.Errorf("%s: error = %v, want the failed save reported", how, err)
		}
		if h.router.Current() != traffic.AllStable() || h.scaler.Current(workload.Canary) != 0 {
			t.Errorf("%s: with saves failing the rollback did not act: router %v, canary replicas %d",
				how, h.router.Current(), h.scaler.Current(workload.Canary))
		}
		if st.Phase != rollback.RolledBack || st.Next.IsZero() {
			t.Errorf("%s: status %v next %v; want rolled-back, stepped again to retry the save", how, st.Phase, st.Next)
		}
		if s := loadState(t, ss); s.Phase != rollback.Progressing {
			t.Fatalf("%s: the failing store holds %v", how, s.Phase)
		}
		// Still failing: retried, nothing else written.
		writes := h.router.Writes()
		if _, err := r.Step(ctx, st.Next); err == nil {
			t.Errorf("%s: a failing save was not reported", how)
		}
		if h.router.Writes() != writes {
			t.Errorf("%s: the router was written again", how)
		}
		ss.fail(false)
		st, err = r.Step(ctx, st.Next.Add(time.Minute))
		if err != nil {
			t.Fatalf("%s: once the store recovered: %v", how, err)
		}
		if s := loadState(t, ss); s.Phase != rollback.RolledBack || len(s.Undelivered) != 0 {
			t.Errorf("%s: after recovery the store holds %v with %d undelivered events", how, s.Phase, len(s.Undelivered))
		}
		if !st.Next.IsZero() {
			t.Errorf("%s: still asks to be stepped at %v", how, st.Next)
		}
		var rolled bool
		for _, e := range h.events {
			rolled = rolled || e.Kind == rollback.KindTransition && e.To == rollback.RolledBack
		}
		if !rolled {
			t.Errorf("%s: the rollback's events were not delivered after the store recovered", how)
		}
	}
}

// TestFailedSaveReportsNoUnsavedDecision: after a failed save, Status and
// State used to report the decision anyway (the canary at 50 % while store
// and router were at 10 %). A decision neither saved nor acted on is
// dropped; the next Step takes it again.
func TestFailedSaveReportsNoUnsavedDecision(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	ss := &switchStore{Store: &store.Memory{}}
	h.cfg.Store = ss
	r := h.build(t)
	r.Step(ctx, t0)
	r.Step(ctx, t0.Add(time.Minute))
	ss.fail(true)
	st, err := r.Step(ctx, t0.Add(2*time.Minute)) // would pass and move to 50 %
	if err == nil {
		t.Fatal("a failed save was not reported")
	}
	if strings.Count(err.Error(), "no space left") != 1 {
		t.Errorf("the failed save reported more than once: %v", err)
	}
	if st.CanaryWeight != 10 || st.StageNumber != 1 || r.State().Weight != 10 || h.router.Current().Canary != 10 {
		t.Errorf("after a failed save: Status at %d %% (stage %d), State at %d %%, router at %v; want all at 10 %%",
			st.CanaryWeight, st.StageNumber, r.State().Weight, h.router.Current())
	}
	if st, err := r.Pause(ctx, t0.Add(150*time.Second), "alice", ""); err == nil || st.Phase == rollback.Paused || r.State().Phase == rollback.Paused {
		t.Errorf("Pause with a failing store: %v, %v; want an error and not paused", st.Phase, err)
	}
	ss.fail(false)
	st, err = r.Step(ctx, t0.Add(3*time.Minute))
	if err != nil || st.CanaryWeight != 50 || h.router.Current().Canary != 50 {
		t.Errorf("once the store recovered: %d %% (router %v), %v; want 50 %%", st.CanaryWeight, h.router.Current(), err)
	}
	if s := loadState(t, ss); s.Weight != 50 {
		t.Errorf("stored weight %d", s.Weight)
	}
}

// multiLineError is a back end's error whose text spans lines.
type multiLineRouter struct{ *fake.Router }

func (m multiLineRouter) SetSplit(ctx context.Context, s traffic.Split) error {
	return errors.New("mesh said:\n  line one\n  line two")
}

// TestStepErrorsAreOneLine: Step joined its errors with newlines (and
// passed a back end's newlines on), so one failure took several log
// lines.
func TestStepErrorsAreOneLine(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Router = multiLineRouter{h.router}
	h.provider.FailAlways("query", errors.New("prometheus down"))
	r := h.build(t)
	_, err := r.Step(ctx, t0)
	if err == nil || strings.ContainsAny(err.Error(), "\n\r") {
		t.Errorf("Step error %q, want one line", err)
	}
}

// TestZeroTimeIsRefused: Step with the zero time used to start the
// rollout in year 1, so the first hold was skipped.
func TestZeroTimeIsRefused(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	r := h.build(t)
	var fe *canary.FieldError
	if _, err := r.Step(ctx, time.Time{}); !errors.As(err, &fe) || fe.Field != "now" {
		t.Errorf("Step(zero time) = %v, want a *canary.FieldError naming now", err)
	}
	if _, err := r.Pause(ctx, time.Time{}, "alice", ""); !errors.As(err, &fe) {
		t.Errorf("Pause(zero time) = %v", err)
	}
	if st := r.State(); st.Phase != rollback.Pending || h.router.Writes() != 0 {
		t.Errorf("after the zero time: %v, %d writes", st.Phase, h.router.Writes())
	}
}

// TestClockJumpAndBack: a clock set ten years ahead for one Step and then
// back left the next analysis scheduled ten years on, the canary sitting
// at its weight unanalysed. The schedule is pulled back (with an alert
// event), and the rollout goes on from now.
func TestClockJumpAndBack(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	r := h.build(t)
	r.Step(ctx, t0)
	r.Step(ctx, t0.Add(time.Minute))
	r.Step(ctx, t0.Add(10*365*24*time.Hour))
	back := t0.Add(2 * time.Minute)
	looks := r.State().Looks
	st, err := r.Step(ctx, back)
	if err != nil {
		t.Fatal(err)
	}
	if st.Next.After(back.Add(time.Minute)) {
		t.Errorf("after the clock came back the next step is due %v", st.Next)
	}
	if got := r.State().Looks; got != looks+1 {
		t.Errorf("analyses: %d before, %d after the clock came back; want one at once", looks, got)
	}
	var alert bool
	for _, e := range h.events {
		alert = alert || e.Kind == rollback.KindAlert && e.Action == "clock"
	}
	if !alert {
		t.Error("no alert event says the clock went back")
	}
	seen := run(t, r, st.Next, back.Add(time.Hour))
	if len(seen) == 0 {
		t.Fatalf("not stepped within the hour after the clock came back (next %v)", st.Next)
	}
	if last := seen[len(seen)-1]; last.Phase != rollback.Succeeded {
		t.Errorf("after the clock came back the rollout ended %v at %d %% (next %v)", last.Phase, last.CanaryWeight, last.Next)
	}
}

// finish runs a rollout over mem to the end and returns its harness.
func finish(t *testing.T, mem store.Store) *harness {
	t.Helper()
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Store = mem
	seen := run(t, h.build(t), t0, t0.Add(time.Hour))
	if ph := seen[len(seen)-1].Phase; ph != rollback.Succeeded {
		t.Fatalf("ended %v", ph)
	}
	return h
}

// TestOpenFinishedRollout: Open on a store holding a finished rollout used
// to return it silently, so a deploy tool that opens by name did nothing
// for the next version. It is returned with an error matching ErrFinished
// that says what to do; a per-deployment Key starts a new rollout.
func TestOpenFinishedRollout(t *testing.T) {
	mem := &store.Memory{}
	h := finish(t, mem)
	writes := h.router.Writes()
	r, err := rollback.Open(ctx, h.cfg)
	if !errors.Is(err, rollback.ErrFinished) || !strings.Contains(err.Error(), "Config.Key") {
		t.Fatalf("Open over a finished rollout = %v, want ErrFinished saying what to do", err)
	}
	if r == nil || r.Status(t0).Phase != rollback.Succeeded {
		t.Errorf("the finished rollout is not returned for a look")
	}
	h.cfg.Key = "checkout-v3"
	r, err = rollback.Open(ctx, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := r.Step(ctx, t0.Add(2*time.Hour)); err != nil || st.Phase != rollback.Progressing || h.router.Writes() == writes {
		t.Errorf("a new key did not start a new rollout: %v %v", st.Phase, err)
	}
}

// TestNewOverAnExistingKey: New over a store that already held a rollout
// under its key used to report "fenced by another driver" (there was
// none) and adopt the old state. Now the error says the key is in use
// (ErrKeyInUse, and ErrFinished for a finished one, both with
// store.ErrConflict), and nothing is adopted, written or reported.
func TestNewOverAnExistingKey(t *testing.T) {
	mem := &store.Memory{}
	finish(t, mem)
	running := &store.Memory{}
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Store = running
	h.build(t).Step(ctx, t0)
	for _, c := range []struct {
		name     string
		st       store.Store
		finished bool
	}{{"finished", mem, true}, {"running", running, false}} {
		h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
		h.cfg.Store = c.st
		r := h.build(t)
		st, err := r.Step(ctx, t0.Add(2*time.Hour))
		if !errors.Is(err, rollback.ErrKeyInUse) || !errors.Is(err, store.ErrConflict) || errors.Is(err, rollback.ErrFinished) != c.finished {
			t.Errorf("%s: Step = %v, want ErrKeyInUse (finished %v)", c.name, err, c.finished)
		}
		if err != nil && strings.Contains(err.Error(), "fenced") {
			t.Errorf("%s: reports a driver that does not exist: %v", c.name, err)
		}
		if st.Phase != rollback.Pending || r.State().Phase != rollback.Pending || h.router.Writes() != 0 {
			t.Errorf("%s: New adopted or acted: status %v, state %v, %d writes", c.name, st.Phase, r.State().Phase, h.router.Writes())
		}
		if _, err := r.Abort(ctx, t0.Add(2*time.Hour), "alice", ""); !errors.Is(err, rollback.ErrKeyInUse) || h.router.Writes() != 0 {
			t.Errorf("%s: an Abort over another rollout's key = %v, %d writes", c.name, err, h.router.Writes())
		}
	}
}
