package spec_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/spec"
)

// costRollout is good.json with cpu, memory and requests metrics and a
// cost analyzer with the given fields added to the preset.
func costRollout(t *testing.T, cost map[string]any) (*spec.Rollout, error) {
	t.Helper()
	m := good(t)
	ms := m["metrics"].([]any)
	for _, n := range []string{"cpu", "memory", "requests"} {
		ms = append(ms, map[string]any{"name": n, "query": n + `{version="{{version}}"}`})
	}
	m["metrics"] = ms
	set(m, "analysis.analyzers", []any{map[string]any{"cost": cost}})
	ro, err := decode(t, m)
	if err != nil {
		return nil, err
	}
	return ro, ro.Validate(nil)
}

func goodCost() map[string]any {
	return map[string]any{"vcpuHour": 0.04, "gibHour": 0.005, "cpu": "cpu", "memory": "memory",
		"requests": "requests", "window": "1m", "share": 0.2}
}

func TestCostAnalyzerInRolloutFile(t *testing.T) {
	ro, err := costRollout(t, goodCost())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ro.Core(nil)
	if err != nil {
		t.Fatal(err)
	}
	reads, stable, ok := analysis.Reads(cfg.Analyzer)
	for _, n := range []string{"cpu", "memory", "requests"} {
		if !ok || !slices.Contains(reads, n) || !slices.Contains(stable, n) {
			t.Errorf("the analyzer reads %v (stable %v), want %s read and compared with stable", reads, stable, n)
		}
	}
}

func TestCostAnalyzerRefused(t *testing.T) {
	const f = "analysis.analyzers[0].cost."
	for _, c := range []struct {
		key   string
		value any
		field string
	}{
		{"vcpuHour", -1.0, f + "vcpuHour"},
		{"gibHour", -0.5, f + "gibHour"},
		{"replicaHour", 0.1, f + "replicas"}, // priced replicas need the replicas metric
		{"cpu", "cores", f + "cpu"},          // names no metric of the rollout
		{"cpu", nil, f + "cpu"},              // vcpuHour priced without it
		{"requests", nil, f + "requests"},
		{"window", nil, f + "window"},
		{"currency", "12 pounds", f + "currency"},
	} {
		cost := goodCost()
		if c.value == nil {
			delete(cost, c.key)
		} else {
			cost[c.key] = c.value
		}
		_, err := costRollout(t, cost)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s = %v: %v, want a FieldError naming %s", c.key, c.value, err, c.field)
		}
	}
	// No price at all.
	cost := goodCost()
	delete(cost, "vcpuHour")
	delete(cost, "gibHour")
	var fe *canary.FieldError
	if _, err := costRollout(t, cost); !errors.As(err, &fe) || fe.Field != f+"vcpuHour" {
		t.Errorf("no price: %v", err)
	}
}
