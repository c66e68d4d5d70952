package rollback_test

import (
	"context"
	"testing"
	"time"

	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

// blockingRelease is the fake router with a Release that blocks until
// released: a mesh API that hangs.
type blockingRelease struct {
	*fake.Router
	entered, release chan struct{}
}

func (b blockingRelease) Release(ctx context.Context) error {
	close(b.entered)
	<-b.release
	return b.Router.Release(ctx)
}

// TestCommandDuringARound: the driver reports a round back once, at its
// end, yet what it has done is seen at once. While a promotion's release
// hangs, State shows the write to 100 % already done, and an Abort lands
// after it: its events follow the write's, and the round under way stops
// acting on the promotion and rolls back.
func TestCommandDuringARound(t *testing.T) {
	h := newHarness(rollback.Plan{Stages: rollback.Weights(50), Interval: time.Minute}, rollback.Policy{}, fake.Constant(0.001, 500))
	b := blockingRelease{Router: h.router, entered: make(chan struct{}), release: make(chan struct{})}
	h.cfg.Router = b
	r := h.build(t)
	if _, err := r.Step(ctx, t0); err != nil {
		t.Fatal(err)
	}
	promoted := make(chan rollback.Status)
	go func() {
		st, _ := r.Promote(ctx, t0.Add(time.Second), "alice", "")
		promoted <- st
	}()
	<-b.entered // the promotion's round has written 100 % and hangs in Release

	if s := r.State(); s.Applied == nil || !s.Applied.Equal(traffic.Weighted(100)) || s.Phase != rollback.Promoting {
		t.Fatalf("during the release: %v, applied %v; want promoting with 100 %% confirmed", s.Phase, s.Applied)
	}
	aborted := make(chan rollback.Status)
	go func() {
		st, _ := r.Abort(ctx, t0.Add(2*time.Second), "bob", "")
		aborted <- st
	}()
	// The Abort is taken into the state at once (it waits only to act).
	for r.State().Phase != rollback.RollingBack {
		time.Sleep(time.Millisecond)
	}
	close(b.release)
	<-promoted
	st := <-aborted
	if st.Phase != rollback.RolledBack || h.router.Current() != traffic.AllStable() {
		t.Fatalf("after the Abort: %v, router %v; want rolled back, all stable", st.Phase, h.router.Current())
	}
	var order []string
	for i, e := range h.events {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has Seq %d", i, e.Seq)
		}
		order = append(order, string(e.Kind)+" "+e.Action)
	}
	write, abort := -1, -1
	for i, e := range h.events {
		if e.Kind == rollback.KindAction && e.Action == "set-split" && e.Split != nil && e.Split.Canary == 100 {
			write = i
		}
		if e.Kind == rollback.KindManual && e.Action == "abort" {
			abort = i
		}
	}
	if write < 0 || abort < 0 || write > abort {
		t.Fatalf("events %q: want the write to 100 %% before the abort", order)
	}
}
