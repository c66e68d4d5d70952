package main

// The rollout file's signals section: notifications (package notify) and
// Flagger-style webhooks (package hook), wired around the driver's audit
// sink.

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/rollback"
)

// wireSignals prepares f.signals, which newDriver calls once the audit
// sink is in cfg, and returns what to call when the run ends: it gives
// the notifier up to 30 s to deliver what is queued, then reports what
// was not delivered.
func wireSignals(ctx context.Context, f *rolloutFile, show progress) func() {
	if f.ro.Signals == nil {
		return func() {}
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	var stop func()
	f.signals = func(cfg *rollback.Config) error {
		if f.ro.Signals.Alarms != nil {
			// Refused rather than ignored: a rollout must not look guarded
			// by alarms nobody watches.
			return f.wrap(canary.Invalid("signals.alarms", nil, "canaryctl run does not watch CloudWatch alarms yet: build providers/cloudwatch.Alarms in Go (AlarmConfig from this section) and poll it with the rollout's trigger.Applier"))
		}
		n, err := f.ro.Notifier(cfg.Sink, os.Getenv, os.ReadFile)
		if err != nil {
			return f.wrap(err)
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
		if _, err := f.ro.ApplyWebhooks(cfg, os.Getenv, os.ReadFile); err != nil {
			return f.wrap(err)
		}
		return nil
	}
	return func() {
		if stop != nil {
			stop()
		} else {
			cancel()
		}
	}
}
