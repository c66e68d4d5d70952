package trigger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/trigger"
)

func TestApplyOnce(t *testing.T) {
	ctx := context.Background()
	s := newSubject(t, "checkout")
	a := &trigger.Applier{Store: new(store.Memory), Targets: trigger.Map{"checkout": s.r}}
	sig := trigger.Signal{ID: "alert-1", Rollout: "checkout", Action: trigger.Pause, Actor: "pager", Reason: "latency"}
	out, err := a.Apply(ctx, t0.Add(time.Second), sig)
	if err != nil || !out.Applied || out.Status.Phase != rollback.Paused {
		t.Fatalf("first apply: %+v, %v", out, err)
	}
	if _, err := s.r.Resume(ctx, t0.Add(2*time.Second), "alice", "false alarm"); err != nil {
		t.Fatal(err)
	}
	// The same signal again, after a person resumed: nothing.
	out, err = a.Apply(ctx, t0.Add(3*time.Second), sig)
	if err != nil || !out.Duplicate || out.Applied {
		t.Fatalf("second apply: %+v, %v", out, err)
	}
	if st := s.r.Status(t0.Add(3 * time.Second)); st.Phase != rollback.Progressing {
		t.Fatalf("phase after the repeat = %v, want progressing", st.Phase)
	}
	m := s.manual()
	if len(m) != 2 || m[0].Action != "pause" || m[0].Actor != "pager" || m[0].Reason != "latency" {
		t.Fatalf("manual events: %v", m)
	}
}

func TestApplyOnceAcrossProcesses(t *testing.T) {
	// Two appliers (two processes) share the ledger's store: a signal
	// each receives acts once.
	ctx := context.Background()
	s := newSubject(t, "checkout")
	ledger := new(store.Memory)
	a := &trigger.Applier{Store: ledger, Targets: trigger.Map{"checkout": s.r}}
	b := &trigger.Applier{Store: ledger, Targets: trigger.Map{"checkout": s.r}}
	sig := trigger.Signal{ID: "alert-1", Rollout: "checkout", Action: trigger.RollBack, Actor: "pager", Reason: "errors"}
	if out, err := a.Apply(ctx, t0.Add(time.Second), sig); err != nil || !out.Applied {
		t.Fatalf("a: %+v, %v", out, err)
	}
	if out, err := b.Apply(ctx, t0.Add(time.Second), sig); err != nil || !out.Duplicate {
		t.Fatalf("b: %+v, %v", out, err)
	}
	if n := len(s.manual()); n != 1 {
		t.Fatalf("%d manual events, want 1", n)
	}
}

// crashingStore fails the Save after the claim, as a process dying
// between its claim and its outcome would leave the ledger.
type crashingStore struct {
	store.Memory
	saves, failAt int
}

func (c *crashingStore) Save(ctx context.Context, key string, data []byte, prev string) (string, error) {
	c.saves++
	if c.saves == c.failAt {
		return "", errors.New("disk gone")
	}
	return c.Memory.Save(ctx, key, data, prev)
}

func TestClaimTimeout(t *testing.T) {
	ctx := context.Background()
	s := newSubject(t, "checkout")
	ledger := &crashingStore{failAt: 2} // the claim is saved, the outcome is not
	a := &trigger.Applier{Store: ledger, Targets: trigger.Map{"checkout": s.r}}
	sig := trigger.Signal{ID: "alert-1", Rollout: "checkout", Action: trigger.RollBack}
	if _, err := a.Apply(ctx, t0.Add(time.Second), sig); err == nil {
		t.Fatal("want the failed save reported")
	}
	// Delivered again at once: the claim holds (it may be another
	// process's, still at work).
	if _, err := a.Apply(ctx, t0.Add(2*time.Second), sig); !errors.Is(err, trigger.ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	// After the claim timeout it is taken over; rolling back a rollback
	// records nothing more.
	out, err := a.Apply(ctx, t0.Add(time.Second+trigger.DefaultClaimTimeout), sig)
	if err != nil || !out.Applied {
		t.Fatalf("take-over: %+v, %v", out, err)
	}
	if n := len(s.manual()); n != 1 {
		t.Fatalf("%d manual events, want 1", n)
	}
	if out, err := a.Apply(ctx, t0.Add(3*trigger.DefaultClaimTimeout), sig); err != nil || !out.Duplicate {
		t.Fatalf("after: %+v, %v", out, err)
	}
}

func TestApplyRefusedForGood(t *testing.T) {
	ctx := context.Background()
	s := newSubject(t, "checkout")
	if _, err := s.r.Promote(ctx, t0.Add(time.Second), "alice", "ship it"); err != nil {
		t.Fatal(err)
	}
	for now := t0.Add(2 * time.Second); !s.r.Status(now).Phase.Final(); now = now.Add(time.Second) {
		if _, err := s.r.Step(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	a := &trigger.Applier{Store: new(store.Memory), Targets: trigger.Map{"checkout": s.r}}
	sig := trigger.Signal{ID: "late", Rollout: "checkout", Action: trigger.RollBack}
	out, err := a.Apply(ctx, t0.Add(time.Minute), sig)
	if err != nil || out.Refused == "" || out.Applied {
		t.Fatalf("apply on a promoted rollout: %+v, %v", out, err)
	}
	if out, err := a.Apply(ctx, t0.Add(time.Minute), sig); err != nil || !out.Duplicate {
		t.Fatalf("again: %+v, %v", out, err)
	}
}

func TestApplyBadSignal(t *testing.T) {
	ctx := context.Background()
	s := newSubject(t, "checkout")
	ledger := new(store.Memory)
	a := &trigger.Applier{Store: ledger, Targets: trigger.Map{"checkout": s.r}}
	for _, sig := range []trigger.Signal{
		{Rollout: "checkout", Action: trigger.Pause},
		{ID: "x", Rollout: "checkout"},
		{ID: "x", Rollout: "Not A Key", Action: trigger.Pause},
	} {
		if _, err := a.Apply(ctx, t0, sig); err == nil {
			t.Errorf("%+v accepted", sig)
		}
	}
	if _, err := a.Apply(ctx, t0, trigger.Signal{ID: "x", Rollout: "payments", Action: trigger.Pause}); !errors.Is(err, trigger.ErrUnknownRollout) {
		t.Errorf("unknown rollout: %v", err)
	}
	if _, _, err := ledger.Load(ctx, trigger.Key("checkout")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ledger written: %v", err)
	}
	if len(s.manual()) != 0 {
		t.Error("rollout acted on")
	}
}
