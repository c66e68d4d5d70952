package main

// The rollout file's signals section: notifications (package notify),
// Flagger-style webhooks (package hook), wired around the driver's audit
// sink, and what the driver polls while it drives (watch): the
// confirm-rollout hooks before the rollout starts, then the rollback hooks
// and the CloudWatch alarms (providers/cloudwatch) at every analysis
// interval, which roll the rollout back through a trigger.Applier.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/hook"
	"github.com/meshcanary/canary/providers/cloudwatch"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/spec"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/trigger"
)

// signalsRun is the signals section of one run.
type signalsRun struct {
	// stop gives the notifier up to 30 s to deliver what is queued,
	// then reports what was not delivered.
	stop func()
	// watch, once newDriver called f.signals, holds what the driver
	// polls (nil when the file has neither webhooks nor alarms).
	watch *signalWatch
}

// wireSignals prepares f.signals, which newDriver calls once the audit
// sink is in cfg.
func wireSignals(ctx context.Context, f *rolloutFile, show progress, loc *time.Location) *signalsRun {
	sr := &signalsRun{stop: func() {}}
	if f.ro.Signals == nil {
		return sr
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	var stop func()
	sr.stop = func() {
		if stop != nil {
			stop()
		} else {
			cancel()
		}
	}
	// Its errors are bad input (exit 2): newDriver calls it before it
	// writes anything.
	f.signals = func(cfg *rollback.Config) error {
		n, err := f.ro.Notifier(cfg.Sink, os.Getenv, os.ReadFile)
		if err != nil {
			return usageErr(f.wrap(err))
		}
		if n != nil {
			cfg.Sink = n
			go func() { _ = n.Run(runCtx); close(done) }()
			stop = func() {
				deadline := time.Now().Add(30 * time.Second)
				for n.Pending() > 0 && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
				}
				cancel()
				<-done
				for _, fl := range n.Failures() {
					show.note(fmt.Sprintf("notification not delivered: %s: %v", fl.Message.Title, fl.Err))
				}
			}
		}
		set, err := f.ro.ApplyWebhooks(cfg, os.Getenv, os.ReadFile)
		if err != nil {
			return usageErr(f.wrap(err))
		}
		w, err := newWatch(ctx, f.ro.Signals, cfg.Name, cfg.Plan.Interval, set, show, loc)
		if err != nil {
			return usageErr(f.wrap(err))
		}
		sr.watch = w
		return nil
	}
	return sr
}

// signalWatch is what the driver polls besides its command queue. Before the
// rollout's first step it asks the confirm-rollout hooks, and holds the
// rollout until they all say yes; then, at every interval (the plan's
// analysis interval, on the run's clock) until the rollout is final, it
// asks the rollback hooks and the CloudWatch alarms. A rollback hook's yes
// or an alarm in ALARM for its time rolls the rollout back through a
// [trigger.Applier]: the signal is claimed in the store's ledger
// (<name>.signals) first, so it acts exactly once across runs, and the
// rollout saves its decision before it touches the router, with the hook
// or the alarm as the actor in the audit trail.
type signalWatch struct {
	name   string
	every  time.Duration
	hooks  *hook.Set
	alarms *cloudwatch.Alarms
	show   progress
	loc    *time.Location // where the notes show times; nil: Europe/London

	applier   *trigger.Applier // set by attach
	next      time.Time        // when the rollback hooks and the alarms are due
	confirmed bool             // the confirm-rollout hooks said yes (or the rollout had started)
	nextAsk   time.Time        // when the confirm-rollout hooks are due
	lastNote  string           // the last problem noted, not repeated
	failures  int              // hook failures already shown
}

// newWatch returns the watch of the signals section s, or nil when it has
// neither a webhook nor alarms; its notes and the alarms' audit reasons
// show times in loc (nil: Europe/London). It sends no request.
func newWatch(ctx context.Context, s *spec.Signals, name string, every time.Duration, set *hook.Set, show progress, loc *time.Location) (*signalWatch, error) {
	if s == nil || (set == nil && s.Alarms == nil) {
		return nil, nil
	}
	w := &signalWatch{name: name, every: every, hooks: set, show: show, loc: loc}
	if s.Alarms != nil {
		a, err := newAlarms(ctx, s.Alarms, loc)
		if err != nil {
			return nil, err
		}
		w.alarms = a
	}
	return w, nil
}

// newAlarms builds the alarms of the section with the AWS SDK's default
// configuration (credentials, endpoint and, unless the section gives
// one, region from the environment and the shared files), the time in
// their audit reasons in loc (nil: Europe/London).
func newAlarms(ctx context.Context, a *spec.Alarms, loc *time.Location) (*cloudwatch.Alarms, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if a.Region != "" {
		opts = append(opts, awsconfig.WithRegion(a.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, canary.Invalid("signals.alarms", nil, "the AWS SDK's configuration does not load: %v", err)
	}
	if cfg.Region == "" {
		return nil, canary.Invalid("signals.alarms.region", nil, "no AWS region: give it here, or set AWS_REGION or a profile's region")
	}
	return cloudwatch.NewAlarms(ctx, cloudwatch.AlarmsConfig{AWS: &cfg, Names: a.Names, Tags: a.TagMap(), For: a.For.D(), Location: loc})
}

// attach makes w act on the driver's rollout, with its ledger in st.
func (w *signalWatch) attach(st store.Store, r *rollback.Rollout) {
	w.applier = &trigger.Applier{Store: st, Targets: trigger.Map{w.name: r}}
}

// ready reports whether the rollout may take its next step: once it has
// started, or once the confirm-rollout hooks said yes (asked at most once
// an interval, at now).
func (w *signalWatch) ready(ctx context.Context, now time.Time, st rollback.Status) bool {
	if w == nil || w.confirmed {
		return true
	}
	if st.Phase != rollback.Pending || w.hooks == nil {
		w.confirmed = true
		return true
	}
	if now.Before(w.nextAsk) {
		return false
	}
	w.nextAsk = now.Add(w.every)
	ok, err := w.hooks.ConfirmRollout(ctx)
	w.showFailures()
	switch {
	case err != nil:
		w.noteOnce(fmt.Sprintf("confirm-rollout hooks: %v; asked again in %s", err, w.every))
	case !ok:
		w.noteOnce(fmt.Sprintf("waiting for the confirm-rollout hooks to say yes (asked every %s)", w.every))
	default:
		w.confirmed = true
		w.show.note("the confirm-rollout hooks said yes")
	}
	return w.confirmed
}

// poll asks the rollback hooks and the alarms when they are due at now,
// and rolls the rollout back through the applier when one says so. Only
// an error that must stop the driver is returned (the rollout record was
// written by someone else: store.ErrConflict); the rest is noted.
func (w *signalWatch) poll(ctx context.Context, now time.Time, st rollback.Status) error {
	if w == nil || st.Phase.Final() || now.Before(w.next) {
		return nil
	}
	w.next = now.Add(w.every)
	var errs []error
	if w.hooks != nil && st.Phase != rollback.Pending {
		if yes, err := w.hooks.CheckRollback(ctx, now, w.applier); err != nil {
			errs = append(errs, err)
		} else if yes {
			w.show.note("a rollback hook said yes: rolling back")
		}
		w.showFailures()
	}
	if w.alarms != nil {
		acted, err := w.alarms.Poll(ctx, now, w.applier, w.name)
		for _, a := range acted {
			w.show.note(fmt.Sprintf("CloudWatch alarm %s in ALARM since %s: rolling back", a.Name, fmtTime(a.Since, w.loc)))
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	if errors.Is(err, store.ErrConflict) {
		return err
	}
	if err != nil {
		w.noteOnce(fmt.Sprintf("signals: %v", err))
	} else {
		w.lastNote = ""
	}
	return nil
}

func (w *signalWatch) noteOnce(msg string) {
	if msg != w.lastNote {
		w.show.note(msg)
		w.lastNote = msg
	}
}

// showFailures notes the hook failures not shown yet (a hook's errors
// name it and never quote its URL or metadata).
// Past the 100 failures the set keeps, new ones are no longer noted here
// (the failed checks are still in the audit trail).
func (w *signalWatch) showFailures() {
	if w.hooks == nil {
		return
	}
	fs := w.hooks.Failures()
	if len(fs) < w.failures { // the set keeps the last 100
		w.failures = 0
	}
	for _, f := range fs[w.failures:] {
		w.show.note("webhook: " + f)
	}
	w.failures = len(fs)
}
