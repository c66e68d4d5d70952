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

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/audit"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/spec"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/trigger"
)

// driver runs one rollout and keeps it in the store.
//
// The library keeps the rollout's state itself ([rollback.Config.Store]),
// through recordStore: every decision is saved in the <name> record, with
// compare-and-swap on the record's version, before the router is written
// (write-ahead). So a driver that lost the rollout to another writer (a
// second driver, an abort acting without a driver, an archive) is refused
// at its next save and never acts on the router again.
type driver struct {
	st    rolloutStore
	name  string
	r     *rollback.Rollout
	rec   rolloutRecord
	ver   string // the <name> record's version
	snap  []byte // the snapshot last saved
	audit *auditSink
	show  progress
	// watch, when the file has webhooks or alarms, is polled at every
	// round (signals.go).
	watch *signalWatch
}

// heartbeat is how often a driver rewrites its record when nothing else
// changed, so that an abort on another machine can tell that it lives:
// a record unchanged for lease has no live driver.
const (
	heartbeat = 2 * time.Second
	lease     = 4 * heartbeat
)

// hostname names this machine in the record's driver field.
// CANARYCTL_TEST_HOST replaces it: the tests use it to play a second
// machine. Only the tests set it.
func hostname() string {
	if h := os.Getenv("CANARYCTL_TEST_HOST"); h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}

// finishedErr is the error for a rollout that has finished: exit status
// exitFinished, and what to do to deploy again.
func finishedErr(name string, ph rollback.Phase) error {
	return fail(exitFinished, "rollout %s has finished (%s): archive it (canaryctl archive %s) or deploy under a new run key (the rollout file's name, e.g. %s-2)", name, ph, name, name)
}

// heldHere reports whether a live process on this machine other than this
// one holds the rollout.
func heldHere(d driverInfo) bool {
	return d.Host == hostname() && d.PID != os.Getpid() && alive(d.PID)
}

// newDriver builds the rollout from cfg, or resumes it from the store when
// an earlier run left it unfinished, and writes the rollout record with
// this process as its driver (compare-and-swap: of two drivers starting
// at once, one is refused).
//
// expect, when not empty, is the record's version the caller saw: a
// record written since (a driver that lives) is left to its writer.
func newDriver(ctx context.Context, st rolloutStore, ro *spec.Rollout, cfg rollback.Config, show progress, expect string, wraps ...func(*rollback.Config) error) (*driver, error) {
	name := cfg.Name
	d := &driver{st: st, name: name, show: show}
	me := driverInfo{PID: os.Getpid(), Host: hostname(), Since: time.Now().UTC()}
	old, ver, err := loadJSON[rolloutRecord](ctx, st, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		ver = ""
		// An archive that stopped between its deletions leaves the
		// queue or the trail behind: a new rollout must not continue them.
		for _, k := range []string{commandsKey(name), auditKey(name), trigger.Key(name)} {
			if _, _, err := st.Load(ctx, k); err == nil {
				return nil, fail(exitFinished, "rollout %s has no record but its record %s is in store %s (left by another tool or an older canaryctl): move it aside before deploying %s", name, k, st.where, name)
			} else if !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		}
	case err != nil:
		return nil, err
	case expect != "" && ver != expect:
		return nil, fail(exitHeld, "rollout %s was written meanwhile: a driver holds it", name)
	case old.Archived != nil:
		return nil, fail(exitFinished, "rollout %s is being archived to %s and the archive did not finish: run canaryctl archive %s again", name, old.Archived.As, name)
	case old.Status.Phase.Final():
		// A driver that crashed after its last command finished the
		// rollout left that command queued: record its result.
		if err := clearApplied(ctx, st, name, old.Applied, old.Status, time.Now()); err != nil {
			return nil, err
		}
		return nil, finishedErr(name, old.Status.Phase)
	case heldHere(old.Driver):
		return nil, fail(exitHeld, "rollout %s is already being driven by process %d on %s", name, old.Driver.PID, old.Driver.Host)
	}
	if d.audit, err = openAudit(ctx, st, name, show); err != nil {
		return nil, err
	}
	cfg.Sink = d.audit
	cfg.Store, cfg.Key = recordStore{d}, name
	for _, wrap := range wraps { // notifications and webhooks (signals.go)
		if wrap == nil {
			continue
		}
		if err := wrap(&cfg); err != nil {
			return nil, err
		}
	}
	if ver != "" && old.Audit.Lines > d.audit.lines {
		return nil, fmt.Errorf("audit trail of %s has %d lines but the rollout record anchored %d: it was truncated", name, d.audit.lines, old.Audit.Lines)
	}
	d.rec.Spec, d.rec.Driver, d.ver = ro, me, ver
	if ver != "" {
		d.rec.Applied = old.Applied
	}
	if ver == "" {
		d.r, err = rollback.New(cfg)
	} else {
		d.r, err = rollback.Open(ctx, cfg)
		if errors.Is(err, rollback.ErrFinished) {
			// It finished between the look above and Open.
			return nil, finishedErr(name, d.r.State().Phase)
		}
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
		d.rec.Stages = append(d.rec.Stages, s.Weight)
	}
	if err := d.save(ctx, time.Now(), true); err != nil {
		return nil, err
	}
	return d, nil
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// recordStore is the [store.Store] the library keeps the rollout's state
// in: the state is the snapshot field of the <name> record, written
// together with the driver's other fields, with compare-and-swap on the
// record's version as this driver last wrote or read it.
type recordStore struct{ d *driver }

// Load implements [store.Store]: the snapshot in the record.
func (s recordStore) Load(ctx context.Context, _ string) ([]byte, string, error) {
	rec, ver, err := loadJSON[rolloutRecord](ctx, s.d.st, s.d.name)
	if err != nil {
		return nil, "", err
	}
	if len(rec.Snapshot) == 0 {
		return nil, "", fmt.Errorf("rollout %s has no state: %w", s.d.name, store.ErrNotFound)
	}
	return rec.Snapshot, ver, nil
}

// Save implements [store.Store]: the record with the snapshot data, on
// the version this driver holds (the library's own version is the same
// but for a new rollout, whose record this driver created).
func (s recordStore) Save(ctx context.Context, _ string, data []byte, _ string) (string, error) {
	if err := s.d.write(ctx, data, time.Now()); err != nil {
		return "", err
	}
	return s.d.ver, nil
}

// Delete implements [store.Store]; the library never deletes a state.
func (s recordStore) Delete(context.Context, string, string) error {
	return errors.New("canaryctl: the rollout record is not deleted by a driver")
}

// write saves the record with snapshot snap, with compare-and-swap.
func (d *driver) write(ctx context.Context, snap []byte, now time.Time) error {
	rec := d.rec
	rec.Snapshot, rec.Status, rec.Updated = snap, d.r.Status(now), now.UTC()
	rec.Driver.Seen = now.UTC()
	rec.Audit = auditHead{Lines: d.audit.lines, Last: d.audit.rep.Anchor.Chain}
	v, err := saveJSON(ctx, d.st, d.name, rec, d.ver)
	if err != nil {
		return err
	}
	d.rec, d.ver, d.snap = rec, v, snap
	return nil
}

// save writes the rollout record when the state changed, when the
// heartbeat is due, or when forced.
func (d *driver) save(ctx context.Context, now time.Time, force bool) error {
	snap, err := d.r.Snapshot()
	if err != nil {
		return err
	}
	if !force && bytes.Equal(snap, d.snap) && now.Sub(d.rec.Driver.Seen) < heartbeat {
		return nil
	}
	return fenced(d.name, d.write(ctx, snap, now))
}

// fenced gives a compare-and-swap conflict on the rollout record its exit
// status and message.
func fenced(name string, err error) error {
	if errors.Is(err, store.ErrConflict) {
		return fail(exitHeld, "rollout %s was written by someone else meanwhile (another driver, an abort or an archive); this driver stops without acting (run again to resume)", name)
	}
	return err
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
		// Marked before it is applied: the library saves the command's
		// decision (write-ahead) together with this mark.
		d.rec.Applied = appliedCommands{Through: c.ID, Results: done}
		st, err := d.apply(ctx, now, c)
		if errors.Is(err, store.ErrConflict) {
			return fenced(d.name, err)
		}
		res := result{ID: c.ID, OK: err == nil || !refusal(err), After: st, At: now.UTC()}
		if err != nil {
			res.Error = oneLine(err.Error())
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

// refusal reports whether err says the rollout refused a command (as
// opposed to a command decided and saved whose action failed and is
// retried at the next step).
func refusal(err error) bool {
	var fe *canary.FieldError
	return errors.Is(err, rollback.ErrNotAllowed) || errors.As(err, &fe)
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
	if r.Error != "" {
		return fmt.Sprintf("now %s at canary %d %% (acting failed and is retried: %s)", r.After.Phase, r.After.CanaryWeight, r.Error)
	}
	return fmt.Sprintf("now %s at canary %d %%", r.After.Phase, r.After.CanaryWeight)
}

// drive runs the rollout until it is final or ctx ends, polling the
// command queue every poll.
func (d *driver) drive(ctx context.Context, poll time.Duration) (rollback.Status, error) {
	var st rollback.Status
	due, held := time.Time{}, false
	for {
		now := time.Now()
		if err := d.commands(ctx, now); err != nil {
			return st, err
		}
		if err := d.watch.poll(ctx, now, d.r.Status(now)); err != nil {
			return st, fenced(d.name, err)
		}
		switch {
		case !now.Before(due) && d.watch.ready(ctx, now, d.r.Status(now)):
			held = false
			var err error
			st, err = d.step(ctx, now)
			if errors.Is(err, store.ErrConflict) {
				return st, fenced(d.name, err)
			}
			d.show.stepErr(err)
			due = st.Next
		case !now.Before(due):
			// Held by the confirm-rollout hooks: asked again at their time
			// (a pending rollout's Next is always a little ahead of now).
			st = d.r.Status(now)
			due, held = d.watch.nextAsk, true
		case held:
			st = d.r.Status(now)
		default:
			st = d.r.Status(now)
			due = st.Next
		}
		if err := d.save(ctx, now, false); err != nil {
			return st, err
		}
		d.show.update(view{name: d.name, status: st, stages: d.rec.Stages, recent: d.audit.recent, now: now})
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
	rep, err := audit.Verify(bytes.NewReader(b), audit.Config{}, nil)
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
	j, err := audit.New(&buf, audit.Config{}, a.rep)
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
