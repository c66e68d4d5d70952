package main

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	canarystore "github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/traffic"
)

// TestTakeoverFencesTheDriver: a driver whose rollout was taken over (by
// an abort acting without a driver, here in the same process) is refused
// at its next save, before it writes the router: every decision is saved
// first, with compare-and-swap on the rollout record. And a takeover that
// expected the record's version is refused when a driver wrote since.
func TestTakeoverFencesTheDriver(t *testing.T) {
	ctx := context.Background()
	fs, err := canarystore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := rolloutStore{Store: fs, where: "test"}
	router := fake.NewRouter()
	cfg := rollback.Config{Name: "cart", Router: router,
		Plan: rollback.Plan{Stages: rollback.Weights(20, 50), Interval: time.Second}}
	quiet := &plainView{w: io.Discard}
	t0 := time.Now()

	a, err := newDriver(ctx, st, nil, cfg, quiet, "")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := a.step(ctx, t0); err != nil || s.Split.Canary != 20 {
		t.Fatalf("first step: %+v %v", s, err)
	}
	_, ver, err := st.Load(ctx, "cart")
	if err != nil {
		t.Fatal(err)
	}
	// The driver writes (a heartbeat): a takeover that expected the
	// version it saw is refused.
	if err := a.save(ctx, t0.Add(heartbeat), true); err != nil {
		t.Fatal(err)
	}
	if _, err := newDriver(ctx, st, nil, cfg, quiet, ver); exitCode(err) != exitHeld {
		t.Fatalf("takeover after the driver wrote: %v, want exit %d", err, exitHeld)
	}

	// An abort takes the rollout over and acts.
	if _, err := enqueue(ctx, st, "cart", command{Op: "abort", Actor: "bob", At: t0}); err != nil {
		t.Fatal(err)
	}
	b, err := newDriver(ctx, st, nil, cfg, quiet, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.commands(ctx, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if s, _ := router.Split(ctx); s != traffic.AllStable() {
		t.Fatalf("after the abort the router holds %v", s)
	}
	sets := router.Count("set")

	// The first driver, behind, would now move to 50 %: it is refused
	// before it writes the router.
	_, err = a.step(ctx, t0.Add(time.Hour))
	if !errors.Is(err, canarystore.ErrConflict) {
		t.Errorf("the fenced driver's step: %v, want a conflict", err)
	}
	if s, _ := router.Split(ctx); s != traffic.AllStable() || router.Count("set") != sets {
		t.Errorf("the fenced driver wrote the router: %v (%d writes, had %d)", s, router.Count("set"), sets)
	}
	if err := a.save(ctx, t0.Add(time.Hour), true); exitCode(err) != exitHeld {
		t.Errorf("the fenced driver's save: %v, want exit %d", err, exitHeld)
	}
}
