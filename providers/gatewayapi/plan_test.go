package gatewayapi_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

// A plan the HTTPRoute cannot carry is refused when the rollout is built,
// naming the plan's field and the route, with no request sent: a prefix
// header match (none in Gateway API); the rest of an A/B test, blue/green
// with mirroring and session affinity are taken.
func TestPlanRefusedAtNew(t *testing.T) {
	cs, r := fakeRouter(t)
	cfg := rollback.Config{
		Name:   "checkout",
		Target: rollback.Target{Namespace: "shop", Stable: rollback.Workload{Version: "v1"}, Canary: rollback.Workload{Version: "v2"}},
		Router: r,
		Plan: rollback.Plan{Strategy: rollback.StrategyABTest, Interval: time.Minute,
			ABTest: &rollback.ABTest{Cohort: []traffic.Match{{Header: "x-user", Value: "beta"}, {Header: "x-group", Kind: traffic.Prefix, Value: "int-"}}}},
	}
	_, err := rollback.New(cfg)
	var fe *canary.FieldError
	if !errors.As(err, &fe) || fe.Field != "Plan.ABTest.Cohort[1].Kind" || !strings.Contains(err.Error(), "HTTPRoute shop/cart cannot match a header by prefix") {
		t.Errorf("New = %v, want a FieldError on Plan.ABTest.Cohort[1].Kind naming the route", err)
	}
	for _, p := range []rollback.Plan{
		{Strategy: rollback.StrategyABTest, Interval: time.Minute,
			ABTest: &rollback.ABTest{Cohort: []traffic.Match{{Header: "x-tier", Kind: traffic.Regex, Value: "gold"}, {Cookie: "ab", Value: "on"}}}},
		{Strategy: rollback.StrategyBlueGreen, Interval: time.Minute,
			BlueGreen: &rollback.BlueGreen{Mirror: 20, Preview: traffic.HeaderRoute{Name: "x-preview", Value: "1"}}},
		{Stages: rollback.Weights(10, 50), Interval: time.Minute, SessionAffinity: &rollback.SessionAffinity{Cookie: "s"}},
	} {
		cfg.Plan = p
		if _, err := rollback.New(cfg); err != nil {
			t.Errorf("New(%+v): %v", p, err)
		}
	}
	if n := len(cs.Actions()); n != 0 {
		t.Errorf("New sent %d requests", n)
	}
}
