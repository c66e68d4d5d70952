package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/trigger"
)

// cmdArchive sets a finished rollout aside so that its name can be
// deployed again: the three records NAME, NAME.commands and NAME.audit
// (and the signal ledger NAME.signals, when there is one) move to
// NAME.archived.TIME, NAME.archived.TIME.commands and
// NAME.archived.TIME.audit (TIME is when the archive started, UTC), where
// status, history, verify and report still read them. An unfinished
// rollout is refused unless --force is given with a --reason, and never
// while a driver holds it. The archive is recorded in the audit trail.
//
// The steps, each with compare-and-swap, can be run again after a crash:
// the rollout record is marked archived first (from then on no driver
// takes it up, and a driver still writing is refused), then the records
// are copied, then the originals deleted, the rollout record last.
func cmdArchive(e env, args []string) error {
	fs, dir := flags("archive", e)
	actor := fs.String("actor", defaultActor(), "who is acting (recorded in the audit trail)")
	reason := fs.String("reason", "", "why (recorded in the audit trail; required with --force)")
	force := fs.Bool("force", false, "archive an unfinished rollout (needs --reason)")
	name, err := oneName(fs, args)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*actor) == "" {
		return usageErr(errors.New("--actor is required"))
	}
	if *force && strings.TrimSpace(*reason) == "" {
		return usageErr(errors.New("--force needs a --reason"))
	}
	st, err := openStore(e.ctx, dir, false)
	if err != nil {
		return usageErr(err)
	}
	ctx := e.ctx
	rec, ver, err := loadRolloutRecord(ctx, st, name)
	if err != nil {
		return usageErr(err)
	}
	if rec.Archived == nil {
		switch {
		case heldHere(rec.Driver) && !rec.Status.Phase.Final():
			return fail(exitHeld, "rollout %s is being driven by process %d on %s: abort it first (canaryctl abort %s)", name, rec.Driver.PID, rec.Driver.Host, name)
		case !rec.Status.Phase.Final() && !*force:
			return fail(exitRefused, "rollout %s has not finished (%s at canary %d %%): abort it first, or archive it with --force --reason R", name, rec.Status.Phase, rec.Status.CanaryWeight)
		}
		now := time.Now().UTC()
		info := &archiveInfo{As: name + ".archived." + strings.ToLower(now.Format("20060102t150405z")),
			Actor: *actor, Reason: *reason, Forced: !rec.Status.Phase.Final(), At: now}
		if err := store.ValidKey("archive name", info.As+".commands"); err != nil {
			return usageErr(fmt.Errorf("rollout name %s is too long to archive: %w", name, err))
		}
		// Recorded in the audit trail first, then marked in the record
		// with the trail's new anchor: the record's compare-and-swap
		// refuses the archive if anyone wrote the rollout meanwhile.
		a, err := openAudit(ctx, st, name, &plainView{w: io.Discard})
		if err != nil {
			return err
		}
		seq := a.rep.Last[name] + 1
		text := "archive to " + info.As
		if info.Forced {
			text = "archive (forced, unfinished) to " + info.As
		}
		if err := a.Record(ctx, rollback.Event{Seq: seq, Time: now, Rollout: name, Kind: rollback.KindManual,
			From: rec.Status.Phase, To: rec.Status.Phase, WeightFrom: rec.Status.CanaryWeight, WeightTo: rec.Status.CanaryWeight,
			Action: text, Actor: *actor, Reason: *reason}); err != nil {
			return fmt.Errorf("audit trail of %s: %w", name, err)
		}
		rec.Archived = info
		rec.Audit = auditHead{Lines: a.lines, Last: a.rep.Anchor.Chain}
		if ver, err = saveJSON(ctx, st, name, rec, ver); errors.Is(err, store.ErrConflict) {
			return fail(exitHeld, "rollout %s was written meanwhile (a driver holds it); not archived (the audit trail records the attempt)", name)
		} else if err != nil {
			return err
		}
	}
	as := rec.Archived.As
	// The signal ledger (trigger.Key: what the Alertmanager receiver, the
	// alarms and the rollback hooks applied) moves too: left behind, it
	// would keep a rollout deployed again under the name from being
	// rolled back by an alert or alarm it names.
	for _, k := range [][2]string{{commandsKey(name), commandsKey(as)}, {auditKey(name), auditKey(as)}, {trigger.Key(name), trigger.Key(as)}, {name, as}} {
		if err := copyRecord(e, st, k[0], k[1]); err != nil {
			return err
		}
	}
	for _, k := range []string{commandsKey(name), auditKey(name), trigger.Key(name)} {
		if err := deleteRecord(e, st, k); err != nil {
			return err
		}
	}
	if err := st.Delete(ctx, name, ver); errors.Is(err, store.ErrConflict) {
		return fail(exitHeld, "rollout %s was written while it was archived; run canaryctl archive %s again", name, name)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	fmt.Fprintf(e.stdout, "archived %s (%s) as %s by %s; %s can be deployed again (read the old one with canaryctl status|history|verify|report %s)\n",
		name, rec.Status.Phase, as, rec.Archived.Actor, name, as)
	return nil
}

// copyRecord copies the record under from to to, unless from is gone (a
// run of the archive that stopped after deleting it) or to already holds
// the same data (one that stopped after copying it).
func copyRecord(e env, st rolloutStore, from, to string) error {
	b, _, err := st.Load(e.ctx, from)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := st.Save(e.ctx, to, b, ""); errors.Is(err, store.ErrConflict) {
		have, _, lerr := st.Load(e.ctx, to)
		if lerr != nil || !bytes.Equal(have, b) {
			return fail(exitHeld, "%s changed while it was archived to %s; run canaryctl archive again", from, to)
		}
	} else if err != nil {
		return err
	}
	return nil
}

// deleteRecord deletes the record under key at the version it has.
func deleteRecord(e env, st rolloutStore, key string) error {
	_, v, err := st.Load(e.ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := st.Delete(e.ctx, key, v); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fail(exitHeld, "%s changed while it was archived; run canaryctl archive again: %v", key, err)
	}
	return nil
}
