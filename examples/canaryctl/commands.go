package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/meshcanary/canary/audit"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/spec"
	"github.com/meshcanary/canary/store"
)

func cmdRun(e env, args []string) error {
	fs, dir := flags("run", e)
	file := fs.String("f", "", "rollout file (YAML)")
	plain := fs.Bool("plain", false, "plain lines even on a terminal")
	poll := fs.Duration("poll", 250*time.Millisecond, "how often the command queue is read")
	timeout := fs.Duration("timeout", 0, "stop driving after this long (0: until the rollout ends)")
	tz := addZone(fs)
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr(fmt.Errorf("unexpected argument %q", pos[0]))
	}
	if *file == "" {
		return usageErr(errors.New("give the rollout file with -f"))
	}
	f, err := loadRollout(*file, e.stderr)
	if err != nil {
		return usageErr(err)
	}
	// -tz overrides the file's timeZone, for what this command shows and
	// for the notifications and webhooks the file configures.
	if tz.loc != nil {
		f.ro.TimeZone = tz.loc.String()
	} else if tz.loc, err = f.ro.Location(); err != nil {
		return usageErr(f.wrap(err))
	}
	st, err := openStore(e.ctx, dir, true)
	if err != nil {
		return usageErr(err)
	}
	ctx := e.ctx
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	var res resources
	defer res.close()
	cfg, err := f.ro.Build(ctx, res.factories())
	if err != nil {
		return usageErr(f.wrap(err))
	}
	show := newProgress(e.stdout, e.tty && !*plain, tz.loc)
	sr := wireSignals(ctx, f, show, tz.loc)
	defer sr.stop()
	d, err := newDriver(ctx, st, f.ro, cfg, show, "", f.signals)
	if err != nil {
		return err
	}
	if sr.watch != nil {
		sr.watch.attach(st, d.r)
		d.watch = sr.watch
	}
	show.note(fmt.Sprintf("driving %s; store %s; steer it with canaryctl pause|resume|promote|abort|set-weight|approve %s", cfg.Name, st.where, cfg.Name))
	final, err := d.drive(ctx, *poll)
	if err != nil {
		if ctx.Err() != nil {
			return fail(exitStopped, "stopped before the end: %s at canary %d %% (kept in the store; run again to resume)", final.Phase, final.CanaryWeight)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "\n%s %s at %s: %s\n", cfg.Name, final.Phase, fmtTime(time.Now(), tz.loc), display.Reason(final, tz.loc))
	if final.Phase != rollback.Succeeded {
		return fail(exitRolledBack, "rollout %s %s: %s", cfg.Name, final.Phase, display.Reason(final, tz.loc))
	}
	return nil
}

func cmdStatus(e env, args []string) error {
	fs, dir := flags("status", e)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	tz := addZone(fs)
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	st, rec, err := openRollout(e, dir, name)
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := json.MarshalIndent(rec.Status, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, string(b))
		return nil
	}
	var recent []rollback.Event
	if b, _, err := st.Load(e.ctx, auditKey(name)); err == nil {
		recent, _ = parseEvents(b)
		if len(recent) > keepRecent {
			recent = recent[len(recent)-keepRecent:]
		}
	}
	fmt.Fprint(e.stdout, render(view{name: name, status: rec.Status, stages: rec.stages(), recent: recent, now: time.Now(), loc: tz.loc}, nil, nil))
	driver := "finished"
	if !rec.Status.Phase.Final() {
		driver = fmt.Sprintf("process %d on %s since %s", rec.Driver.PID, rec.Driver.Host, fmtTime(rec.Driver.Since, tz.loc))
		if hostname() == rec.Driver.Host && !alive(rec.Driver.PID) {
			driver += " — not running: commands wait until canaryctl run resumes the rollout"
		}
	}
	fmt.Fprintf(e.stdout, "driver    %s; record written %s\n", driver, fmtTime(rec.Updated, tz.loc))
	return nil
}

// operator returns the command that queues op for the driver and waits for
// its result.
func operator(op string) func(e env, args []string) error {
	return func(e env, args []string) error {
		fs, dir := flags(op, e)
		actor := fs.String("actor", defaultActor(), "who is acting (recorded in the audit trail)")
		reason := fs.String("reason", "", "why (recorded in the audit trail)")
		wait := fs.Duration("wait", 30*time.Second, "how long to wait for the driver to apply the command")
		tz := addZone(fs)
		weight := -1
		if op == "set-weight" {
			fs.IntVar(&weight, "weight", -1, "the canary's weight, in percent")
		}
		name, err := oneName(fs, args)
		if err != nil {
			return err
		}
		if op == "set-weight" && (weight < 0 || weight > 100) {
			return usageErr(fmt.Errorf("--weight %d: give the canary's weight, 0 to 100", weight))
		}
		if strings.TrimSpace(*actor) == "" {
			return usageErr(errors.New("--actor is required"))
		}
		st, rec, err := openRollout(e, dir, name)
		if err != nil {
			return err
		}
		if rec.Status.Phase.Final() {
			return fail(exitFinished, "rollout %s has finished (%s); nothing to %s", name, rec.Status.Phase, op)
		}
		if rec.Archived != nil {
			return fail(exitFinished, "rollout %s is being archived; nothing to %s", name, op)
		}
		c := command{Op: op, Actor: *actor, Reason: *reason, At: time.Now().UTC()}
		if op == "set-weight" {
			c.Weight = weight
		}
		id, err := enqueue(e.ctx, st, name, c)
		if err != nil {
			return err
		}
		how := ""
		if op == "abort" {
			acted, err := abortWithoutDriver(e, st, name, *wait)
			if err != nil {
				return err
			}
			if acted {
				how = "; no driver held the rollout: canaryctl acted on the router itself"
			}
		}
		res, err := awaitResult(e.ctx, st, name, id, *wait)
		if err != nil {
			return fail(exitQueued, "%s queued as command %d, but no driver applied it within %s (is canaryctl run still driving %s?): %v", op, id, *wait, name, err)
		}
		if !res.OK {
			return fail(exitRefused, "%s refused: %s", op, res.Error)
		}
		fmt.Fprintf(e.stdout, "%s %s by %s: %s at canary %d %% (%s)%s\n", op, name, *actor, res.After.Phase, res.After.CanaryWeight, fmtTime(res.At, tz.loc), how)
		if res.Error != "" {
			return fail(exitFailed, "%s %s: decided and saved, but acting on it failed (retried by the next driver; run canaryctl abort %s again to retry now): %s", op, name, name, res.Error)
		}
		return nil
	}
}

func defaultActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// awaitResult polls the command record until the driver has recorded the
// result of command id.
func awaitResult(ctx context.Context, st store.Store, name string, id int, wait time.Duration) (result, error) {
	deadline := time.Now().Add(wait)
	for {
		rec, _, err := loadJSON[commandsRecord](ctx, st, commandsKey(name))
		if err != nil {
			return result{}, err
		}
		for _, r := range rec.Done {
			if r.ID == id {
				return r, nil
			}
		}
		if time.Now().After(deadline) {
			return result{}, errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return result{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func cmdHistory(e env, args []string) error {
	fs, dir := flags("history", e)
	tz := addZone(fs)
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	st, err := openStore(e.ctx, dir, false)
	if err != nil {
		return usageErr(err)
	}
	b, _, err := st.Load(e.ctx, auditKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return usageErr(fmt.Errorf("no audit trail for %q in store %s", name, st.where))
	}
	if err != nil {
		return err
	}
	evs, err := parseEvents(b)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "audit trail of %s — %s events, times in %s\n", name, fmtNum(float64(len(evs)), 0), tz)
	for _, ev := range evs {
		fmt.Fprintf(e.stdout, "%5d  %s\n", ev.Seq, eventLine(ev, tz.loc))
	}
	return nil
}

func cmdVerify(e env, args []string) error {
	fs, dir := flags("verify", e)
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	st, rec, err := openRollout(e, dir, name)
	if err != nil {
		return err
	}
	b, _, err := st.Load(e.ctx, auditKey(name))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	rep, err := audit.Verify(bytes.NewReader(b), audit.Config{}, nil)
	n, last := int(rep.Anchor.Lines), rep.Anchor.Chain
	if err != nil {
		return fail(exitTampered, "audit trail of %s: %v", name, err)
	}
	switch {
	case n < rec.Audit.Lines:
		return fail(exitTampered, "audit trail of %s: %d lines, but the rollout record anchored %d: lines were removed from the end", name, n, rec.Audit.Lines)
	case rec.Audit.Lines > 0 && !chainHas(b, rec.Audit.Lines, rec.Audit.Last):
		return fail(exitTampered, "audit trail of %s: line %d does not carry the chain the rollout record anchored", name, rec.Audit.Lines)
	}
	evs, _ := parseEvents(b)
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			return fail(exitTampered, "audit trail of %s: line %d has event %d; events are numbered without gaps", name, i+1, ev.Seq)
		}
	}
	fmt.Fprintf(e.stdout, "audit trail of %s: %s events, chain intact, anchored at line %s; last chain %s\n",
		name, fmtNum(float64(n), 0), fmtNum(float64(rec.Audit.Lines), 0), last)
	return nil
}

// chainHas reports whether line n (1-based) of the trail ends with chain.
func chainHas(b []byte, n int, chain string) bool {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if n > len(lines) {
		return false
	}
	return bytes.HasSuffix(lines[n-1], []byte(`"chain":"`+chain+`"}`))
}

func cmdValidate(e env, args []string) error {
	fs, _ := flags("validate", e)
	file := fs.String("f", "", "rollout file (YAML)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 && *file == "" {
		*file = pos[0]
	}
	if *file == "" {
		return usageErr(errors.New("give the rollout file with -f"))
	}
	f, err := loadRollout(*file, e.stderr)
	if err != nil {
		return usageErr(err)
	}
	cfg, err := f.ro.Core(lookup)
	if err != nil {
		return usageErr(f.wrap(err))
	}
	var stages []string
	for _, s := range cfg.Plan.Stages {
		stages = append(stages, fmt.Sprint(s.Weight))
	}
	plan := strings.Join(stages, ", ")
	if plan == "" {
		plan = fmt.Sprintf("every %d up to %d", cfg.Plan.StageWeight, cfg.Plan.MaxWeight)
	}
	limit := cfg.Policy.FailureLimit
	if limit == 0 {
		limit = rollback.DefaultFailureLimit
	}
	fmt.Fprintf(e.stdout, "%s: rollout %s is valid: router %s, %d metrics, stages %s %%, analysis every %s, failure limit %d\n",
		*file, cfg.Name, f.ro.Router.Kind(), len(f.ro.Metrics), plan, spec.FormatDuration(cfg.Plan.Interval), limit)
	return nil
}
