package appmesh_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

// A plan App Mesh cannot carry is refused when the rollout is built,
// naming the plan's field and the VirtualRouter, with no request sent; an
// A/B test by header is taken.
func TestPlanRefusedAtNew(t *testing.T) {
	client, r := fakeRouter(t)
	base := rollback.Config{
		Name:   "checkout",
		Target: rollback.Target{Namespace: "shop", Stable: rollback.Workload{Version: "v1"}, Canary: rollback.Workload{Version: "v2"}},
		Router: r,
	}
	for _, c := range []struct {
		plan  rollback.Plan
		field string
		why   string
	}{
		{rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute, SessionAffinity: &rollback.SessionAffinity{Cookie: "s"}},
			"Plan.SessionAffinity", "VirtualRouter shop/cart cannot keep sessions"},
		{rollback.Plan{Strategy: rollback.StrategyBlueGreen, Interval: time.Minute, BlueGreen: &rollback.BlueGreen{Mirror: 20}},
			"Plan.BlueGreen.Mirror", "App Mesh cannot mirror"},
	} {
		cfg := base
		cfg.Plan = c.plan
		_, err := rollback.New(cfg)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(err.Error(), c.why) {
			t.Errorf("New(%s) = %v, want a FieldError on %s saying %q", c.field, err, c.field, c.why)
		}
	}
	cfg := base
	cfg.Plan = rollback.Plan{Strategy: rollback.StrategyABTest, Interval: time.Minute,
		ABTest: &rollback.ABTest{Cohort: []traffic.Match{{Header: "x-user", Kind: traffic.Prefix, Value: "beta"}, {Cookie: "ab", Value: "on"}}}}
	if _, err := rollback.New(cfg); err != nil {
		t.Errorf("New of an A/B test by header and cookie: %v", err)
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("New sent %d requests", n)
	}
}
