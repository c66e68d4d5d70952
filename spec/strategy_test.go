package spec_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

// shaped returns the good rollout with its plan's stages replaced by the
// given plan keys.
func shaped(t *testing.T, plan map[string]any) map[string]any {
	m := good(t)
	p := m["plan"].(map[string]any)
	delete(p, "stages")
	for k, v := range plan {
		p[k] = v
	}
	return m
}

func TestStrategiesBuild(t *testing.T) {
	abtest := map[string]any{"strategy": "abtest", "abTest": map[string]any{
		"match":      []any{map[string]any{"header": "x-canary", "regex": ".*insider.*"}, map[string]any{"cookie": "canary", "exact": "always"}},
		"iterations": 5}}
	ro, err := decode(t, shaped(t, abtest))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ro.RollbackPlan()
	if err != nil {
		t.Fatal(err)
	}
	want := []traffic.Match{{Header: "x-canary", Kind: traffic.Regex, Value: ".*insider.*"}, {Cookie: "canary", Kind: traffic.Exact, Value: "always"}}
	if p.Strategy != rollback.StrategyABTest || p.ABTest == nil || p.ABTest.Iterations != 5 || len(p.ABTest.Cohort) != 2 ||
		p.ABTest.Cohort[0] != want[0] || p.ABTest.Cohort[1] != want[1] {
		t.Errorf("A/B plan = %+v %+v", p, p.ABTest)
	}

	bluegreen := map[string]any{"strategy": "bluegreen", "blueGreen": map[string]any{
		"preview": map[string]any{"header": "x-preview", "value": "yes"}, "mirror": 10,
		"prePromotion": "5m", "postPromotion": "10m", "scaleDownDelay": "15m"}}
	ro, err = decode(t, shaped(t, bluegreen))
	if err != nil {
		t.Fatal(err)
	}
	if p, err = ro.RollbackPlan(); err != nil {
		t.Fatal(err)
	}
	if b := p.BlueGreen; p.Strategy != rollback.StrategyBlueGreen || b == nil || b.Preview != (traffic.HeaderRoute{Name: "x-preview", Value: "yes"}) ||
		b.Mirror != 10 || b.PrePromotion != 5*time.Minute || b.PostPromotion != 10*time.Minute || b.ScaleDownDelay != 15*time.Minute || !p.ApprovePromotion {
		t.Errorf("blue/green plan = %+v %+v", p, b)
	}

	m := good(t)
	m["plan"].(map[string]any)["sessionAffinity"] = map[string]any{"cookie": "canary-session", "maxAge": "2h"}
	ro, err = decode(t, m)
	if err != nil {
		t.Fatal(err)
	}
	if p, err = ro.RollbackPlan(); err != nil {
		t.Fatal(err)
	}
	if a := p.SessionAffinity; a == nil || a.Cookie != "canary-session" || a.MaxAge != 2*time.Hour || len(p.Stages) != 2 {
		t.Errorf("affinity plan = %+v %+v", p, a)
	}
	if err := ro.Validate(nil); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestStrategyErrorsNameTheKey(t *testing.T) {
	match := func(kv ...string) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	ab := func(iterations int, ms ...any) map[string]any {
		return map[string]any{"strategy": "abtest", "abTest": map[string]any{"match": ms, "iterations": iterations}}
	}
	bg := func(b map[string]any) map[string]any { return map[string]any{"strategy": "bluegreen", "blueGreen": b} }
	for _, tc := range []struct {
		name  string
		plan  map[string]any
		field string
		why   string
	}{
		{"unknown strategy", map[string]any{"strategy": "shadow", "stages": []any{10}}, "plan.strategy", "canary, abtest or bluegreen"},
		{"unknown abTest key", map[string]any{"strategy": "abtest", "abTest": map[string]any{"matches": []any{}}}, "plan.abTest.matches", "not a known field"},
		{"header and cookie", ab(0, match("header", "x-a", "cookie", "c", "exact", "1")), "plan.abTest.match[0].cookie", "not both"},
		{"neither header nor cookie", ab(0, match("exact", "1")), "plan.abTest.match[0]", "header or cookie"},
		{"two kinds", ab(0, match("header", "x-a", "exact", "1", "regex", "x")), "plan.abTest.match[0]", "exactly one of exact, prefix and regex"},
		{"bad regex", ab(0, match("header", "x-a", "exact", "1"), match("header", "x-b", "regex", "(")), "plan.abTest.match[1].regex", "RE2"},
		{"cookie by prefix", ab(0, match("cookie", "c", "prefix", "a")), "plan.abTest.match[0].prefix", "exact"},
		{"bad header name", ab(0, match("header", "x a", "exact", "1")), "plan.abTest.match[0].header", "token"},
		{"five matches", ab(0, match("header", "a", "exact", "1"), match("header", "b", "exact", "1"), match("header", "c", "exact", "1"),
			match("header", "d", "exact", "1"), match("header", "e", "exact", "1")), "plan.abTest.match", "at most 4"},
		{"no match", ab(0), "plan.abTest.match", "empty"},
		{"negative iterations", ab(-1, match("header", "x-a", "exact", "1")), "plan.abTest.iterations", "negative"},
		{"abTest without strategy", map[string]any{"stages": []any{10}, "abTest": map[string]any{"match": []any{match("header", "x-a", "exact", "1")}}}, "plan.abTest", "strategy"},
		{"stages in an A/B test", map[string]any{"strategy": "abtest", "stages": []any{10}, "abTest": map[string]any{"match": []any{match("header", "x-a", "exact", "1")}}}, "plan.stages", "moves no weights"},
		{"mirror above 100", bg(map[string]any{"mirror": 120}), "plan.blueGreen.mirror", "between 0 and 100"},
		{"preview without value", bg(map[string]any{"preview": map[string]any{"header": "x-p"}}), "plan.blueGreen.preview", "both header and value"},
		{"preview header not a token", bg(map[string]any{"preview": map[string]any{"header": "x p", "value": "1"}}), "plan.blueGreen.preview.header", "token"},
		{"bluegreen without blueGreen", map[string]any{"strategy": "bluegreen"}, "plan.blueGreen", "must be set"},
		{"affinity cookie not a token", map[string]any{"stages": []any{10}, "sessionAffinity": map[string]any{"cookie": "a;b"}}, "plan.sessionAffinity.cookie", "token"},
		{"affinity on blue/green", map[string]any{"strategy": "bluegreen", "blueGreen": map[string]any{}, "sessionAffinity": map[string]any{"cookie": "s"}}, "plan.sessionAffinity", "weighted stages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro, err := decode(t, shaped(t, tc.plan))
			if err == nil {
				err = ro.Validate(nil)
			}
			var fe *canary.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *canary.FieldError", err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Reason, tc.why) {
				t.Errorf("got field %q reason %q, want field %q reason containing %q", fe.Field, fe.Reason, tc.field, tc.why)
			}
		})
	}
}
