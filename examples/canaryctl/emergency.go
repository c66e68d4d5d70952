package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/meshcanary/canary/rollback"
)

// abortWithoutDriver acts on the abort just queued for rollout name when
// no driver holds the rollout, exactly as a driver would: it takes the
// rollout over with compare-and-swap on its record (newDriver), applies
// the queued commands in order, the abort last (the library saves the
// rollback decision, then sends every request to stable, verifies the
// split and records it in the audit trail), and drives the rollback to
// its end within wait. It reports whether it acted.
//
// A driver holds the rollout when its process lives on this machine
// (the record names the process and the machine), or, for a driver on
// another machine (the Kubernetes store), when the record changes within
// lease: a driver rewrites it at least every heartbeat. Whatever this
// check concludes, the compare-and-swap fences: a driver that writes the
// record first makes the takeover fail (the abort stays queued for it),
// and a driver that writes after the takeover is refused at its next save,
// before it acts on the router, since every decision is saved first.
func abortWithoutDriver(e env, st rolloutStore, name string, wait time.Duration) (bool, error) {
	rec, ver, err := loadRolloutRecord(e.ctx, st, name)
	if err != nil {
		return false, err
	}
	if rec.Status.Phase.Final() || heldHere(rec.Driver) {
		return false, nil
	}
	if rec.Driver.Host != hostname() {
		deadline := time.Now().Add(lease)
		for time.Now().Before(deadline) {
			select {
			case <-e.ctx.Done():
				return false, e.ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
			if _, v, err := st.Load(e.ctx, name); err != nil || v != ver {
				return false, nil // written meanwhile: a driver lives
			}
		}
	}
	ctx, cancel := context.WithTimeout(e.ctx, wait)
	defer cancel()
	var res resources
	defer res.close()
	cfg, err := rec.Spec.Build(ctx, res.factories())
	if err != nil {
		return false, fmt.Errorf("no driver holds %s and its router could not be built from the stored rollout (the abort stays queued): %w", name, err)
	}
	d, err := newDriver(ctx, st, rec.Spec, cfg, &plainView{w: io.Discard}, ver)
	if code := exitCode(err); code == exitHeld || code == exitFinished {
		return false, nil // a driver took it up meanwhile and applies the abort
	} else if err != nil {
		return false, err
	}
	now := time.Now()
	if err := d.commands(ctx, now); exitCode(err) == exitHeld {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if ph := d.r.Status(now).Phase; ph != rollback.RollingBack && ph != rollback.RolledBack {
		return true, nil
	}
	if _, err := d.drive(ctx, 100*time.Millisecond); err != nil {
		if ctx.Err() != nil {
			st := d.r.Status(time.Now())
			return true, fail(exitFailed, "abort of %s decided and saved, but the rollback did not finish within %s (%s at canary %d %%); canaryctl run or abort again retries it", name, wait, st.Phase, st.CanaryWeight)
		}
		return true, err
	}
	return true, nil
}

// exitCode returns the exit status err carries (0 for nil, exitFailed
// for an error without one).
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailed
}
