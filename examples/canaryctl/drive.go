package main

// This file holds everything that touches rollback's driving API (New,
// Restore, Step, Snapshot, the manual operations) and how the state is
// persisted, so that it can follow that API in one place.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/meshcanary/canary/audit"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
)

// driver runs one rollout and keeps it in the store.
type driver struct {
	st    rolloutStore
	name  string
	r     *rollback.Rollout
	rec   rolloutRecord
	ver   string // the <name> record's version
	snap  []byte // the snapshot last saved
	audit *auditSink
	show  progress
}

// newDriver builds the rollout from cfg, or restores it from the store when
// an earlier run left it unfinished, and writes the rollout record.
func newDriver(ctx context.Context, st rolloutStore, f *rolloutFile, cfg rollback.Config, show progress) (*driver, error) {
	name := cfg.Name
	d := &driver{st: st, name: name, show: show}
	host, _ := os.Hostname()
	me := driverInfo{PID: os.Getpid(), Host: host, Since: time.Now().UTC()}
	old, ver, err := loadJSON[rolloutRecord](ctx, st, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		ver = ""
	case err != nil:
		return nil, err
	case old.Status.Phase.Final():
		// A driver that crashed after its last command finished the
		// rollout left that command queued: record its result.
		if err := clearApplied(ctx, st, name, old.Applied, old.Status, time.Now()); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("rollout %s already finished (%s); choose another name or remove it from the store", name, old.Status.Phase)
	case old.Driver.Host == host && old.Driver.PID != os.Getpid() && alive(old.Driver.PID):
		return nil, fmt.Errorf("rollout %s is already being driven by process %d on %s", name, old.Driver.PID, host)
	}
	if d.audit, err = openAudit(ctx, st, name, show); err != nil {
		return nil, err
	}
	cfg.Sink = d.audit
	if f.signals != nil { // notifications and webhooks (signals.go)
		if err := f.signals(&cfg); err != nil {
			return nil, err
		}
	}
	if ver != "" && old.Audit.Lines > d.audit.lines {
		return nil, fmt.Errorf("audit trail of %s has %d lines but the rollout record anchored %d: it was truncated", name, d.audit.lines, old.Audit.Lines)
	}
	if ver == "" {
		d.r, err = rollback.New(cfg)
	} else {
		d.r, err = rollback.Restore(cfg, old.Snapshot)
		show.note(fmt.Sprintf("resuming %s from the store (%s, canary %d %%)", name, old.Status.Phase, old.Status.CanaryWeight))
	}
	if err != nil {
		return nil, err
	}
	stages, err := cfg.Plan.Expand()
	if err != nil {
		return nil, err
	}
	for _, s := range stages {
		d.rec.Steps = append(d.rec.Steps, s.Weight)
	}
	d.rec.Spec, d.rec.Driver, d.ver = f.ro, me, ver
	if ver != "" {
		d.rec.Applied = old.Applied
	}
	if err := d.save(ctx, time.Now(), true); err != nil {
		return nil, err
	}
	return d, nil
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// save writes the rollout record when the state changed (or force).
func (d *driver) save(ctx context.Context, now time.Time, force bool) error {
	snap, err := d.r.Snapshot()
	if err != nil {
		return err
	}
	if !force && bytes.Equal(snap, d.snap) {
		return nil
	}
	d.rec.Snapshot, d.rec.Status, d.rec.Updated = snap, d.r.Status(now), now.UTC()
	d.rec.Audit = auditHead{Lines: d.audit.lines, Last: d.audit.rep.Anchor.Chain}
	v, err := saveJSON(ctx, d.st, d.name, d.rec, d.ver)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("rollout %s was written by someone else meanwhile; this driver stops (run again to resume)", d.name)
	}
	if err != nil {
		return err
	}
	d.ver, d.snap = v, snap
	return nil
}

// step runs one round of the rollout.
func (d *driver) step(ctx context.Context, now time.Time) (rollback.Status, error) {
	return d.r.Step(ctx, now)
}

// apply runs one operator command.
func (d *driver) apply(ctx context.Context, now time.Time, c command) (rollback.Status, error) {
	switch c.Op {
	case "pause":
		return d.r.Pause(ctx, now, c.Actor, c.Reason)
	case "resume":
		return d.r.Resume(ctx, now, c.Actor, c.Reason)
	case "promote":
		return d.r.Promote(ctx, now, c.Actor, c.Reason)
	case "abort":
		return d.r.Abort(ctx, now, c.Actor, c.Reason)
	case "approve":
		return d.r.Approve(ctx, now, c.Actor, c.Reason)
	case "set-weight":
		return d.r.SetWeight(ctx, now, c.Weight, c.Actor, c.Reason)
	}
	return d.r.Status(now), fmt.Errorf("unknown command %q", c.Op)
}

// crashHook, when CANARYCTL_TEST_CRASH names a point of the driver, kills
// the process there with SIGKILL (no deferred functions, no flush): the
// tests use it to crash a driver between two writes. Only the tests set it.
func crashHook(point string) {
	if os.Getenv("CANARYCTL_TEST_CRASH") == point {
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			_ = p.Kill() // SIGKILL on Unix
		}
		select {} // the signal is on its way
	}
}

// commands applies the queued operator commands exactly once: it applies
// the new ones, saves the rollout together with the mark of what it
// applied (Applied) in one compare-and-swap, then records the results in
// <name>.commands and removes the commands from its queue. A crash between
// the two writes leaves the commands queued; the next driver finds them
// marked as applied in the rollout record and only moves their results.
func (d *driver) commands(ctx context.Context, now time.Time) error {
	q, _, err := loadJSON[commandsRecord](ctx, d.st, commandsKey(d.name))
	if errors.Is(err, store.ErrNotFound) || (err == nil && len(q.Queue) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	applied, fresh := d.rec.Applied, false
	var done []result
	for _, c := range q.Queue {
		if c.ID <= applied.Through {
			done = append(done, resultOf(applied, c.ID, d.r.Status(now), now))
			continue
		}
		st, err := d.apply(ctx, now, c)
		res := result{ID: c.ID, OK: err == nil, After: st, At: now.UTC()}
		if err != nil {
			res.Error = err.Error()
		}
		done = append(done, res)
		applied.Through, fresh = c.ID, true
		d.show.note(fmt.Sprintf("applied %s from %s: %s", c.Op, c.Actor, outcome(res)))
	}
	if fresh {
		d.rec.Applied = appliedCommands{Through: applied.Through, Results: done}
		if err := d.save(ctx, now, true); err != nil {
			return err
		}
		crashHook("between-apply-and-clear")
	}
	return clearApplied(ctx, d.st, d.name, d.rec.Applied, d.r.Status(now), now)
}

// resultOf returns the result recorded for command id, or, when an earlier
// batch's result was already moved on, a result saying it was applied.
func resultOf(a appliedCommands, id int, st rollback.Status, now time.Time) result {
	for _, r := range a.Results {
		if r.ID == id {
			return r
		}
	}
	return result{ID: id, OK: true, After: st, At: now.UTC()}
}

// clearApplied removes the commands marked in a from the queue of rollout
// name and records their results in Done, with compare-and-swap, retrying
// when an operator queued another command meanwhile.
func clearApplied(ctx context.Context, s store.Store, name string, a appliedCommands, st rollback.Status, now time.Time) error {
	for range 20 {
		q, ver, err := loadJSON[commandsRecord](ctx, s, commandsKey(name))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var keep []command
		var done []result
		for _, c := range q.Queue {
			if c.ID <= a.Through {
				done = append(done, resultOf(a, c.ID, st, now))
			} else {
				keep = append(keep, c)
			}
		}
		if len(done) == 0 {
			return nil
		}
		q.Queue = keep
		q.Done = append(q.Done, done...)
		if len(q.Done) > maxDone {
			q.Done = q.Done[len(q.Done)-maxDone:]
		}
		if _, err = saveJSON(ctx, s, commandsKey(name), q, ver); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("the command queue of %s kept changing", name)
}

func outcome(r result) string {
	if !r.OK {
		return "refused: " + r.Error
	}
	return fmt.Sprintf("now %s at canary %d %%", r.After.Phase, r.After.CanaryWeight)
}

// drive runs the rollout until it is final or ctx ends, polling the
// command queue every poll.
func (d *driver) drive(ctx context.Context, poll time.Duration) (rollback.Status, error) {
	var st rollback.Status
	due := time.Time{}
	for {
		now := time.Now()
		if err := d.commands(ctx, now); err != nil {
			return st, err
		}
		if !now.Before(due) {
			var err error
			st, err = d.step(ctx, now)
			d.show.stepErr(err)
			due = st.Next
		} else {
			st = d.r.Status(now)
			due = st.Next
		}
		if err := d.save(ctx, now, false); err != nil {
			return st, err
		}
		d.show.update(view{name: d.name, status: st, steps: d.rec.Steps, recent: d.audit.recent, now: now})
		if st.Phase.Final() && len(d.r.State().Undelivered) == 0 {
			return st, nil
		}
		wait := poll
		if until := time.Until(due); until < wait {
			wait = max(until, 0)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// auditSink appends each event to the <name>.audit record as one chained
// JSON line, with compare-and-swap.
type auditSink struct {
	st     store.Store
	key    string
	data   []byte
	ver    string
	lines  int
	rep    audit.Report // what the trail holds: its anchor and each rollout's last Seq
	recent []rollback.Event
	show   progress
}

const keepRecent = 8

func openAudit(ctx context.Context, st store.Store, name string, show progress) (*auditSink, error) {
	a := &auditSink{st: st, key: auditKey(name), show: show}
	b, ver, err := st.Load(ctx, a.key)
	if errors.Is(err, store.ErrNotFound) {
		return a, nil
	}
	if err != nil {
		return nil, err
	}
	rep, err := audit.Verify(bytes.NewReader(b), audit.Options{}, nil)
	if err != nil {
		return nil, fmt.Errorf("audit trail of %s: %w", name, err)
	}
	a.data, a.ver, a.lines, a.rep = b, ver, int(rep.Anchor.Lines), rep
	evs, _ := parseEvents(b)
	if len(evs) > keepRecent {
		evs = evs[len(evs)-keepRecent:]
	}
	a.recent = evs
	return a, nil
}

// Record implements [rollback.Sink].
func (a *auditSink) Record(ctx context.Context, e rollback.Event) error {
	var buf bytes.Buffer
	j, err := audit.New(&buf, audit.Options{}, a.rep)
	if err != nil {
		return err
	}
	if err := j.Record(ctx, e); err != nil {
		return err
	}
	line := buf.Bytes()
	if len(line) == 0 { // the trail already holds this Seq: exactly once
		return nil
	}
	data := append(a.data[:len(a.data):len(a.data)], line...)
	v, err := a.st.Save(ctx, a.key, data, a.ver)
	if err != nil {
		return err
	}
	a.data, a.ver, a.lines = data, v, a.lines+1
	a.rep.Anchor = j.Anchor()
	if a.rep.Last == nil {
		a.rep.Last = map[string]uint64{}
	}
	a.rep.Last[e.Rollout] = e.Seq
	a.recent = append(a.recent, e)
	if len(a.recent) > keepRecent {
		a.recent = a.recent[1:]
	}
	a.show.event(e)
	return nil
}

// parseEvents reads a trail's events (the chain field is ignored here;
// verify checks it).
func parseEvents(b []byte) ([]rollback.Event, error) {
	var evs []rollback.Event
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e struct {
			rollback.Event
			Chain string `json:"chain"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			return evs, fmt.Errorf("audit line %d: %w", i+1, err)
		}
		evs = append(evs, e.Event)
	}
	return evs, nil
}
