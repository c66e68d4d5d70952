package main

// This file is the only one that drives a rollback.Rollout and persists
// it. It uses today's API: Step acts, then the snapshot is saved with
// compare-and-swap. Once rollback.Step persists the decided state to a
// store.Store before acting (write-ahead), this file shrinks to building
// the Rollout with the store and calling Step.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
)

// writeAhead says whether the rollout persists its decided state before
// acting. With today's API it does not: Step acts, then step saves. The
// kill test holds "never promote twice" and "no canary traffic after a
// persisted rollback" as hard checks only when this is true.
const writeAhead = false

// driven is one rollout as its driver holds it between steps: the Rollout
// and the store version its state was last saved or loaded at.
type driven struct {
	r       *rollback.Rollout
	version string
	saved   []byte
	gen     int64 // the custom resource's generation cfg was built from
}

// errFenced means the store refused the driver's write: another driver
// (after a failover) wrote the rollout's state since this one read it.
var errFenced = errors.New("fenced: the rollout's state moved in the store")

// load builds the rollout from its stored state, or a fresh one when the
// store holds none.
func load(ctx context.Context, st store.Store, key string, cfg rollback.Config, gen int64) (*driven, error) {
	data, v, err := st.Load(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		r, err := rollback.New(cfg)
		if err != nil {
			return nil, err
		}
		return &driven{r: r, gen: gen}, nil
	case err != nil:
		return nil, err
	}
	r, err := rollback.Restore(cfg, data)
	if err != nil {
		return nil, fmt.Errorf("stored state refused (left as it is): %w", err)
	}
	return &driven{r: r, version: v, saved: data, gen: gen}, nil
}

// step runs one Step and saves the state if it changed. A refused save
// returns errFenced: the caller drops d and reloads.
func step(ctx context.Context, st store.Store, key string, d *driven, now time.Time) (rollback.Status, error) {
	status, stepErr := d.r.Step(ctx, now)
	snap, err := d.r.Snapshot()
	if err != nil {
		return status, err
	}
	if d.version != "" && bytes.Equal(snap, d.saved) {
		return status, stepErr
	}
	v, err := st.Save(ctx, key, snap, d.version)
	if errors.Is(err, store.ErrConflict) {
		return status, fmt.Errorf("%w: %w", errFenced, err)
	}
	if err != nil {
		return status, err
	}
	d.version, d.saved = v, snap
	return status, stepErr
}
