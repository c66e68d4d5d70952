package rollback_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/workload"
)

// checkingRouter fails the test if a split is written that the state saved
// in the store does not call for (write-ahead: the decision first).
type checkingRouter struct {
	*fake.Router
	t     *testing.T
	store store.Store
	key   string
}

func (c *checkingRouter) SetSplit(ctx context.Context, s traffic.Split) error {
	data, _, err := c.store.Load(ctx, c.key)
	if err != nil {
		c.t.Errorf("split %v written before any state was saved: %v", s, err)
	} else {
		var st rollback.State
		json.Unmarshal(data, &st)
		want := st.Applied
		if st.Intent != nil {
			want = st.Intent
		}
		if want == nil || !want.Equal(s) {
			c.t.Errorf("split %v written while the saved state (%v at %d %%) calls for %v", s, st.Phase, st.Weight, want)
		}
	}
	return c.Router.SetSplit(ctx, s)
}

func TestWriteAheadSavesTheDecisionBeforeActing(t *testing.T) {
	mem := &store.Memory{}
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Store = mem
	h.cfg.Router = &checkingRouter{Router: h.router, t: t, store: mem, key: "checkout"}
	r := h.build(t)
	seen := run(t, r, t0, t0.Add(time.Hour))
	if ph := seen[len(seen)-1].Phase; ph != rollback.Succeeded {
		t.Fatalf("ended %v", ph)
	}
	h2 := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	mem2 := &store.Memory{}
	h2.cfg.Store = mem2
	h2.cfg.Router = &checkingRouter{Router: h2.router, t: t, store: mem2, key: "checkout"}
	r2 := h2.build(t)
	r2.Step(ctx, t0)
	if st, err := r2.Abort(ctx, t0.Add(time.Second), "alice", ""); err != nil || st.Phase != rollback.RolledBack {
		t.Fatalf("Abort: %v %v", st.Phase, err)
	}
	data, _, _ := mem2.Load(ctx, "checkout")
	var s rollback.State
	json.Unmarshal(data, &s)
	if s.Phase != rollback.RolledBack || len(s.Undelivered) != 0 {
		t.Errorf("saved state after the abort: %v with %d undelivered events", s.Phase, len(s.Undelivered))
	}
}

// failingStore saves n times, then fails every Save: a driver that dies
// after its n-th save.
type failingStore struct {
	store.Store
	n int
}

func (f *failingStore) Save(ctx context.Context, key string, data []byte, prev string) (string, error) {
	if f.n <= 0 {
		return "", errors.New("disk gone")
	}
	f.n--
	return f.Store.Save(ctx, key, data, prev)
}

// TestRestoredRollbackStaysARollback: restored from the snapshot before the
// last call, a rollout used to take its own all-stable write for a change
// made outside, write canary weight again and even promote. Here the
// driver dies at every possible save of an Abort; the rollout opened from
// the store never writes canary traffic again and finishes the rollback.
func TestRestoredRollbackStaysARollback(t *testing.T) {
	for cut := 0; cut < 8; cut++ {
		mem := &store.Memory{}
		h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
		h.cfg.Store = mem
		r := h.build(t)
		r.Step(ctx, t0)
		r.Step(ctx, t0.Add(time.Minute))
		data, _, _ := mem.Load(ctx, "checkout")
		var before rollback.State
		json.Unmarshal(data, &before)
		h.cfg.Store = &failingStore{Store: mem, n: cut}
		dying, err := rollback.Open(ctx, h.cfg)
		if err != nil {
			t.Fatal(err)
		}
		dying.Abort(ctx, t0.Add(90*time.Second), "alice", "")
		data, _, _ = mem.Load(ctx, "checkout")
		var saved rollback.State
		json.Unmarshal(data, &saved)
		decided := saved.Phase == rollback.RollingBack || saved.Phase == rollback.RolledBack

		h.cfg.Store = mem
		h.router.ClearActions()
		again, err := rollback.Open(ctx, h.cfg)
		if err != nil && !(decided && errors.Is(err, rollback.ErrFinished)) {
			t.Fatalf("cut %d: Open: %v", cut, err)
		}
		seen := run(t, again, t0.Add(2*time.Minute), t0.Add(time.Hour))
		final := seen[len(seen)-1].Phase
		for _, a := range h.router.Actions() {
			if sp, ok := a.Arg.(traffic.Split); ok && a.Verb == "set" && sp.Canary > 0 && decided {
				t.Errorf("cut %d: canary traffic %v written after the rollback decision was saved", cut, sp)
			}
		}
		if decided && final != rollback.RolledBack {
			t.Errorf("cut %d: a saved rollback decision ended %v", cut, final)
		}
		if decided && h.scaler.Current(workload.Canary) != 0 {
			t.Errorf("cut %d: canary not scaled down", cut)
		}
	}
}

// TestStaleDriverIsFenced: two drivers of one rollout: the one whose save
// conflicts gets store.ErrConflict, acts on nothing, and reloads.
func TestStaleDriverIsFenced(t *testing.T) {
	mem := &store.Memory{}
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Store = mem
	a := h.build(t)
	a.Step(ctx, t0)
	b, err := rollback.Open(ctx, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := b.Abort(ctx, t0.Add(time.Second), "bob", ""); err != nil || st.Phase != rollback.RolledBack {
		t.Fatalf("b.Abort: %v %v", st.Phase, err)
	}
	writes := h.router.Writes()
	_, err = a.Promote(ctx, t0.Add(2*time.Second), "alice", "")
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the stale driver's Promote = %v, want ErrConflict", err)
	}
	if h.router.Writes() != writes {
		t.Errorf("the fenced driver wrote to the router")
	}
	if st := a.Status(t0); st.Phase != rollback.RolledBack {
		t.Errorf("the fenced driver did not reload: %v", st.Phase)
	}
	if _, err := rollback.New(h.cfg); err != nil {
		t.Fatal(err)
	}
	fresh := h.build(t)
	if _, err := fresh.Step(ctx, t0.Add(3*time.Second)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("New over an existing state then Step = %v, want ErrConflict", err)
	}
}

// TestEventsExactlyOnceAcrossCrash: an event acknowledged by the sink and
// saved is never offered again after a restart.
func TestEventsExactlyOnceAcrossCrash(t *testing.T) {
	mem := &store.Memory{}
	var got []uint64
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Store = mem
	h.cfg.Sink = rollback.SinkFunc(func(_ context.Context, e rollback.Event) error {
		got = append(got, e.Seq)
		return nil
	})
	r := h.build(t)
	r.Step(ctx, t0)
	r.Step(ctx, t0.Add(time.Minute))
	again, err := rollback.Open(ctx, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	run(t, again, t0.Add(2*time.Minute), t0.Add(time.Hour))
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("events delivered %v, want 1, 2, 3… each once", got)
		}
	}
}
