package main

// This file is the only one that drives a [rollback.Rollout] and persists
// it. The rollout persists itself: [rollback.Open] resumes it from the
// store, and every Step saves the decided state (with the split it calls
// for) to the store with compare-and-swap before it acts, and the
// confirmed state after (write-ahead). A driver whose save is refused has
// been fenced off by another (after a failover) and must reload.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshcanary/canary/hook"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
)

// driven is one rollout as its driver holds it between steps.
type driven struct {
	r   *rollback.Rollout
	gen int64 // the custom resource's generation cfg was built from
	// hooks are the rollout's webhooks (nil without); stop ends its
	// notifier's deliveries (nil without notifications).
	hooks *hook.Set
	stop  func()
}

// drop forgets the driven rollout of key (the caller holds c.mu) and
// stops its notifier.
func (c *Controller) drop(key string) {
	if d := c.driven[key]; d != nil && d.stop != nil {
		d.stop()
	}
	delete(c.driven, key)
}

// errFenced means the store refused the driver's write: another driver
// (after a failover) wrote the rollout's state since this one read it.
var errFenced = errors.New("fenced: the rollout's state moved in the store")

// load resumes the rollout from its stored state, or starts a fresh one
// when the store holds none. A stored state the configuration cannot
// continue is refused and left as it is.
func load(ctx context.Context, st store.Store, key string, cfg rollback.Config, gen int64) (*driven, error) {
	cfg.Store, cfg.Key = st, key
	r, err := rollback.Open(ctx, cfg)
	if errors.Is(err, rollback.ErrFinished) {
		err = nil // the resource's rollout is done: keep reporting its status
	}
	if err != nil {
		return nil, fmt.Errorf("opening the stored state (left as it is): %w", err)
	}
	return &driven{r: r, gen: gen}, nil
}

// step runs one Step, which saves before and after it acts. A refused save
// returns errFenced: the caller drops d and reloads.
func step(ctx context.Context, d *driven, now time.Time) (rollback.Status, error) {
	status, err := d.r.Step(ctx, now)
	if errors.Is(err, store.ErrConflict) {
		return status, fmt.Errorf("%w: %w", errFenced, err)
	}
	return status, err
}
