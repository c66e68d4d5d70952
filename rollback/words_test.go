package rollback_test

// Regression tests for issue 19 item 15: one word ("stage") and one count
// (from 1, as Status counts) in rollback's errors, and a plan-change error
// that names the field that changed rather than showing hashes.

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
)

func snapshotAt10(t *testing.T) (*harness, map[string]any) {
	t.Helper()
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	r := h.build(t)
	if _, err := r.Step(ctx, t0); err != nil {
		t.Fatal(err)
	}
	snap, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(snap, &m); err != nil {
		t.Fatal(err)
	}
	return h, m
}

// TestRestoreCountsStagesFromOne: Restore's errors named "stage 0" for
// the stage Status calls 1.
func TestRestoreCountsStagesFromOne(t *testing.T) {
	h, m := snapshotAt10(t)
	m["weight"] = 50 // a weight of the plan, not stage 1's
	snap, _ := json.Marshal(m)
	_, err := rollback.Restore(h.cfg, snap)
	if err == nil || !strings.Contains(err.Error(), "stage 1 of 2") || strings.Contains(err.Error(), "stage 0") {
		t.Errorf("Restore = %v, want the stage counted as Status counts it (stage 1 of 2)", err)
	}
}

// TestPlanChangeNamesTheField: a state made under another plan or policy
// was refused with two hashes; the error now names each field that
// changed, with both values.
func TestPlanChangeNamesTheField(t *testing.T) {
	h, m := snapshotAt10(t)
	snap, _ := json.Marshal(m)
	for _, c := range []struct {
		change func(*rollback.Config)
		want   string
	}{
		{func(c *rollback.Config) { c.Plan.Stages = rollback.Weights(10, 30, 50) }, "Plan.Stages was 10 % for 2m0s, 50 % for 2m0s and is 10 % for 2m0s, 30 % for 2m0s, 50 % for 2m0s"},
		{func(c *rollback.Config) { c.Plan.Interval = 30 * time.Second }, "Plan.Interval was 1m0s and is 30s"},
		{func(c *rollback.Config) { c.Policy.FailureLimit = 3 }, "Policy.FailureLimit was 2 and is 3"},
	} {
		cfg := h.cfg
		c.change(&cfg)
		_, err := rollback.Restore(cfg, snap)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Restore under a changed config = %v, want a FieldError saying %q", err, c.want)
			continue
		}
		if hash, _ := m["plan"].(string); strings.Contains(err.Error(), hash) {
			t.Errorf("the error still shows the hash: %v", err)
		}
	}
}
