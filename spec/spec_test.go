package spec_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/spec"
)

func good(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/good.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// set changes the value at a dotted path (numbers index lists); a nil value
// deletes the key.
func set(m map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	var cur any = m
	for i, p := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if v == nil {
					delete(c, p)
				} else {
					c[p] = v
				}
				return
			}
			if c[p] == nil {
				c[p] = map[string]any{}
			}
			cur = c[p]
		case []any:
			n := 0
			for _, ch := range p {
				n = n*10 + int(ch-'0')
			}
			if last {
				c[n] = v
				return
			}
			cur = c[n]
		}
	}
}

func decode(t *testing.T, m map[string]any) (*spec.Rollout, error) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return spec.Decode(strings.NewReader(string(b)))
}

func TestGoodRolloutBuilds(t *testing.T) {
	ro, err := decode(t, good(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.Validate(nil); err != nil {
		t.Fatal(err)
	}
	router := fake.NewRouter()
	prov := fake.NewProvider(router)
	cfg, err := ro.Build(context.Background(), spec.Factories{
		Router:   func(context.Context, spec.Routing) (rollback.Splitter, error) { return router, nil },
		Provider: func(context.Context, spec.Provider, rollback.Splitter) (metrics.Provider, error) { return prov, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Plan.Interval != 30*time.Second || cfg.Plan.ProgressDeadline != 5*time.Minute || cfg.Plan.Stages[1].Hold != 2*time.Minute || !cfg.Plan.ApprovePromotion {
		t.Errorf("plan = %+v", cfg.Plan)
	}
	// The default preset's policy (one failure rolls back) is overridden by
	// the file's policy block, field by field.
	if cfg.Policy.FailureLimit != 3 || cfg.Policy.Counting != rollback.Consecutive || cfg.Policy.NoData != analysis.HoldOnNoData {
		t.Errorf("policy = %+v", cfg.Policy)
	}
	if len(cfg.Metrics) != 2 || cfg.Metrics[0].Query.Text() != `error_rate{version="{{version}}"}` || cfg.Metrics[0].Provider != prov {
		t.Errorf("metrics = %+v", cfg.Metrics)
	}
	if _, err := rollback.New(cfg); err != nil {
		t.Fatalf("rollback.New refused the built config: %v", err)
	}
	// The rollout round-trips through JSON with durations as text.
	b, err := json.Marshal(ro)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"interval":"30s"`) || !strings.Contains(string(b), `"hold":"2m"`) {
		t.Errorf("durations not written as text: %s", b)
	}
	back, err := spec.Decode(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if back.Plan.Stages[1].Hold != ro.Plan.Stages[1].Hold || back.Name != ro.Name {
		t.Errorf("round trip changed the rollout: %+v", back)
	}
}

func TestValidationNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		path  string
		value any
		field string // the field the error must name
		why   string // a fragment of the reason
	}{
		{"unknown top-level field", "colour", "blue", "colour", "not a known field"},
		{"unknown nested field", "plan.stepz", 3, "plan.stepz", "not a known field"},
		{"duration not parsing", "plan.interval", "2 minutes", "plan.interval", "not a duration"},
		{"duration as number", "plan.interval", 30, "plan.interval", "must be a duration"},
		{"negative duration", "plan.hold", "-1m", "plan.hold", "negative"},
		{"weight of wrong type", "plan.stages.1.weight", "ten", "plan.stages[1].weight", "whole number"},
		{"step of wrong type", "plan.stages.0", "ten", "plan.stages[0]", "must be a mapping"},
		{"step weight not whole", "plan.stages.0", 10.5, "plan.stages[0]", "whole number (the weight)"},
		{"missing interval", "plan.interval", nil, "plan.interval", "required"},
		{"weight above 100", "plan.stages.1.weight", 150, "plan.stages[1].weight", "stage 2's weight must be between 1 and 100"},
		{"weights going backwards", "plan.stages.1.weight", 5, "plan.stages[1].weight", "above stage 1's"},
		{"bad name", "name", "Checkout_V2", "name", "lower-case"},
		{"bad apiVersion", "apiVersion", "v2", "apiVersion", "meshcanary.dev/v1"},
		{"two routers", "router.istio", map[string]any{"namespace": "x"}, "router", "exactly one"},
		{"bad listen", "router.httpsplit.listen", "8080", "router.httpsplit.listen", "host:port"},
		{"bad backend URL", "router.httpsplit.canary", "ftp://x", "router.httpsplit.canary", "http or https"},
		{"unknown preset", "analysis.preset", "yolo", "analysis.preset", "not a preset; known: default"},
		{"preset metric missing", "analysis.errorRate", "errors", "analysis.errorRate", "names no metric"},
		{"unknown builtin", "metrics.0.builtin", "istio/nope", "metrics[0].builtin", "not a built-in"},
		{"template not parsing", "metrics.1.query", `latency_p99{version={{version}}}`, "metrics[1].query.text", "must stand inside"},
		{"bad dialect", "metrics.1.dialect", "sql", "metrics[1].dialect", "promql, nrql or datadog"},
		{"bad counting", "policy.counting", "sometimes", "policy.counting", "cumulative or consecutive"},
		{"negative failure limit", "policy.failureLimit", -1, "policy.failureLimit", "negative"},
		{"noDataAfter without fail-after", "policy.noDataAfter", 3, "policy.noDataAfter", "only used with"},
		{"analyzer metric missing", "analysis.analyzers.0.threshold.limits.0.metric", "p95", "analysis.analyzers[0].threshold.limits[0].metric", "names no metric"},
		{"analyzer refused by analysis", "analysis.analyzers.0.threshold.limits.0.max", nil, "analysis.analyzers[0].threshold.limits[0]", "neither a minimum nor a maximum"},
		{"bad combine", "analysis.combine", "most", "analysis.combine", "all or any"},
		{"provider missing", "provider", nil, "provider", "required when metrics"},
		{"zero traffic too long", "plan.zeroTraffic", map[string]any{"duration": "200h"}, "plan.zeroTraffic.duration", "at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := good(t)
			set(m, tc.path, tc.value)
			ro, err := decode(t, m)
			if err == nil {
				err = ro.Validate(nil)
			}
			var fe *canary.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, canary.ErrInvalid) {
				t.Fatalf("got %v, want a *canary.FieldError", err)
			}
			if fe.Field != tc.field || !strings.Contains(fe.Reason, tc.why) {
				t.Errorf("got field %q reason %q, want field %q reason containing %q", fe.Field, fe.Reason, tc.field, tc.why)
			}
		})
	}
}

func TestLookupPreset(t *testing.T) {
	for _, name := range spec.PresetNames() {
		p, err := spec.LookupPreset(name, analysisMetrics())
		if err != nil || p.Name != name || p.Analyzer == nil {
			t.Errorf("LookupPreset(%q) = %v, %v", name, p.Name, err)
		}
	}
	if _, err := spec.LookupPreset("nope", analysisMetrics()); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("unknown preset: %v", err)
	}
}

func TestSpelledOutAnalyzersWithoutPreset(t *testing.T) {
	m := good(t)
	set(m, "analysis.preset", nil)
	set(m, "policy", nil)
	set(m, "analysis.combine", "any")
	ro, err := decode(t, m)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ro.Core(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Analyzer == nil || cfg.Policy != (rollback.Policy{}) {
		t.Errorf("analyzer %v policy %+v", cfg.Analyzer, cfg.Policy)
	}
}
