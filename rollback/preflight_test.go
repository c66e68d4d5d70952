package rollback_test

// Regression tests for issue 19 item 13: resuming over the in-process
// mesh (whose route starts all-stable) reported "changed outside the
// rollout" every time, and target versions the router or its metrics do
// not know were found only after 10 % of the traffic had moved.

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/traffic"
)

func newProxy(t *testing.T) *httpsplit.Proxy {
	t.Helper()
	st, _ := url.Parse("http://127.0.0.1:9/stable")
	ca, _ := url.Parse("http://127.0.0.1:9/canary")
	p, err := httpsplit.New(httpsplit.Config{Stable: st, Canary: ca})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestResumeOverHTTPSplit: the driver restarts, and with it the proxy,
// all-stable. The resumed rollout writes its split again without a
// "changed outside" failure.
func TestResumeOverHTTPSplit(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	mem := &store.Memory{}
	h.cfg.Store = mem
	h.cfg.Router = newProxy(t)
	r := h.build(t)
	r.Step(ctx, t0)
	if _, err := r.Step(ctx, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	p2 := newProxy(t) // the process restarted: a new proxy, all-stable
	h.cfg.Router = p2
	h.events = nil
	again, err := rollback.Open(ctx, h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{t0.Add(90 * time.Second), t0.Add(2 * time.Minute)} {
		if _, err := again.Step(ctx, at); err != nil {
			t.Errorf("Step after the restart: %v", err)
		}
	}
	if got, _ := p2.Split(ctx); got != traffic.Weighted(50) && got != traffic.Weighted(10) {
		t.Errorf("the restarted proxy is at %v", got)
	}
	for _, e := range h.events {
		if e.Kind == rollback.KindFailure {
			t.Errorf("failure event after the restart: %v", e)
		}
	}
}

// TestPreflightRefusesUnknownVersions: versions the router (or the
// in-process mesh measuring them) does not know are refused at the first
// Step, or at Open, before anything is written.
func TestPreflightRefusesUnknownVersions(t *testing.T) {
	t.Run("httpsplit measuring", func(t *testing.T) {
		p := newProxy(t)
		h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
		h.cfg.Router = p
		h.cfg.Metrics[0].Provider = p
		h.cfg.Metrics[0].Query = metrics.MustParse(metrics.PromQL, "error-rate", `error_rate{version="{{version}}"}`)
		r := h.build(t) // Target versions v1 and v2: the proxy measures stable and canary
		_, err := r.Step(ctx, t0)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "v1") {
			t.Errorf("first Step = %v, want a FieldError naming the version", err)
		}
		if got, _ := p.Split(ctx); got != traffic.AllStable() || r.State().Phase != rollback.Pending {
			t.Errorf("traffic moved: %v, %v", got, r.State().Phase)
		}
		h.cfg.Store = &store.Memory{}
		if _, err := rollback.Open(ctx, h.cfg); !errors.As(err, &fe) {
			t.Errorf("Open = %v, want the FieldError", err)
		}
		h.cfg.Target.Stable.Version, h.cfg.Target.Canary.Version = "stable", "canary"
		h.cfg.Store = nil
		if _, err := h.build(t).Step(ctx, t0); err != nil {
			t.Errorf("with the proxy's names: %v", err)
		}
	})
	t.Run("httpsplit routing only", func(t *testing.T) {
		p := newProxy(t)
		h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
		h.cfg.Router = p // metrics from elsewhere: any version names
		if _, err := h.build(t).Step(ctx, t0); err != nil {
			t.Errorf("Step = %v", err)
		}
	})
	t.Run("fake", func(t *testing.T) {
		h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
		h.router.SetVersions("v1", "v3")
		r := h.build(t)
		if _, err := r.Step(ctx, t0); err == nil || !strings.Contains(err.Error(), "Versions.Canary") {
			t.Errorf("Step = %v, want the canary version refused", err)
		}
		if h.router.Writes() != 0 {
			t.Errorf("%d writes", h.router.Writes())
		}
		h.router.SetVersions("v1", "v2")
		if _, err := r.Step(ctx, t0.Add(time.Second)); err != nil || h.router.Current() != traffic.Weighted(10) {
			t.Errorf("Step = %v, router %v", err, h.router.Current())
		}
	})
}
