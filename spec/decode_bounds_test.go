package spec_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/spec"
)

// fieldErr asserts err is a *canary.FieldError naming field, with a reason
// holding why.
func fieldErr(t *testing.T, err error, field, why string) {
	t.Helper()
	var fe *canary.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v, want a *canary.FieldError naming %q", err, field)
	}
	if fe.Field != field || !strings.Contains(fe.Reason, why) {
		t.Errorf("got field %q reason %q, want field %q reason containing %q", fe.Field, fe.Reason, field, why)
	}
}

// TestDecodeRefusesWhatYAMLRefuses is issue 19 item 14: a key given twice
// in JSON (the YAML path refused it already), an implausible duration, a
// number that is not finite, an empty document and deep nesting are each
// refused naming the field.
func TestDecodeRefusesWhatYAMLRefuses(t *testing.T) {
	b, _ := json.Marshal(good(t))
	doc := string(b)
	for _, tc := range []struct {
		name, doc, field, why string
	}{
		{"duplicate top-level key", strings.Replace(doc, `"name":"checkout"`, `"name":"checkout","name":"other"`, 1), "name", "given twice"},
		{"duplicate nested key", strings.Replace(doc, `"interval":"30s"`, `"interval":"30s","interval":"1h"`, 1), "plan.interval", "given twice"},
		{"deadline of 1ns", strings.Replace(doc, `"deadline":"5m"`, `"deadline":"1ns"`, 1), "plan.deadline", "under a second"},
		{"interval of 500ms", strings.Replace(doc, `"interval":"30s"`, `"interval":"500ms"`, 1), "plan.interval", "under a second"},
		{"hold of ten years", strings.Replace(doc, `"hold":"2m"`, `"hold":"87600h"`, 1), "plan.stages[1].hold", "over a year"},
		{"empty document", "", "rollout", "is empty"},
		{"blank document", " \n\t", "rollout", "is empty"},
		{"deep nesting", strings.Replace(doc, `"kind":"Rollout"`, `"kind":`+strings.Repeat("[", 100)+strings.Repeat("]", 100), 1),
			"kind" + strings.Repeat("[0]", spec.MaxDepth-1), "nested deeper than 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := spec.Decode(strings.NewReader(tc.doc))
			fieldErr(t, err, tc.field, tc.why)
		})
	}
}

// TestDecodeValueRefusesNonFinite: a YAML .nan or .inf limit reaches
// DecodeValue as a float64 and is refused naming the field (before, the
// re-encoding to JSON failed with "json: unsupported value: NaN" and no
// field).
func TestDecodeValueRefusesNonFinite(t *testing.T) {
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		m := good(t)
		set(m, "analysis.analyzers.0.threshold.limits.0.max", x)
		_, err := spec.DecodeValue(m)
		fieldErr(t, err, "analysis.analyzers[0].threshold.limits[0].max", "finite")
	}
	_, err := spec.DecodeValue(nil)
	fieldErr(t, err, "rollout", "is empty")
}

// TestDecodeValueBounds: a tree beyond MaxNodes or MaxDepth is refused,
// naming where the bound was crossed (issue 19 item 8).
func TestDecodeValueBounds(t *testing.T) {
	m := good(t)
	big := make([]any, spec.MaxNodes)
	for i := range big {
		big[i] = json.Number("1")
	}
	set(m, "metrics", big)
	_, err := spec.DecodeValue(m)
	var fe *canary.FieldError
	if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "metrics[") || !strings.Contains(fe.Reason, "most values") {
		t.Errorf("a tree of %d values: %v", spec.MaxNodes, err)
	}
	var deep any = "x"
	for range spec.MaxDepth {
		deep = []any{deep}
	}
	m = good(t)
	set(m, "kind", deep)
	_, err = spec.DecodeValue(m)
	fieldErr(t, err, "kind"+strings.Repeat("[0]", spec.MaxDepth-1), "nested deeper")
}

// TestStagesInTheFile is issue 19 item 15: a rollout file says "stages"
// (and stageWeight, passesPerStage); the older keys are still read, with
// a warning the caller can show, not an error; giving both is read once
// with the same value, and an error naming both with different values.
func TestStagesInTheFile(t *testing.T) {
	ro, err := decode(t, good(t))
	if err != nil || len(ro.Plan.Stages) != 2 || len(ro.Warnings()) != 0 {
		t.Fatalf("stages: %+v, %v, warnings %q", ro, err, ro.Warnings())
	}
	m := good(t)
	plan := m["plan"].(map[string]any)
	plan["steps"] = plan["stages"]
	delete(plan, "stages")
	set(m, "policy.passesPerStep", 2)
	ro, err = decode(t, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(ro.Plan.Stages) != 2 || ro.Plan.Stages[1].Weight != 50 || ro.Policy.PassesPerStage == nil || *ro.Policy.PassesPerStage != 2 {
		t.Errorf("old keys read as %+v %+v", ro.Plan, ro.Policy)
	}
	w := strings.Join(ro.Warnings(), "\n")
	for _, want := range []string{"plan.steps is deprecated; write stages", "policy.passesPerStep is deprecated; write passesPerStage"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q, want one saying %q", w, want)
		}
	}
	if err := ro.Validate(nil); err != nil {
		t.Errorf("a file with the old keys does not validate: %v", err)
	}
	out, _ := json.Marshal(ro)
	if !strings.Contains(string(out), `"stages":[`) || strings.Contains(string(out), `"steps"`) {
		t.Errorf("a rollout is written back as %s; want stages", out)
	}
	// Both names with the same value: read, with a warning naming both;
	// with different values: an error naming both.
	set(m, "plan.stages", plan["steps"])
	ro, err = decode(t, m)
	if err != nil {
		t.Fatalf("plan.steps and plan.stages with the same value: %v", err)
	}
	if w := ro.Warnings(); len(w) != 2 || w[0] != "plan.steps is deprecated and repeats plan.stages; drop it" {
		t.Errorf("warnings %q, want plan.steps's once, naming both keys", w)
	}
	if len(ro.Plan.Stages) != 2 || ro.Plan.Stages[1].Weight != 50 {
		t.Errorf("plan.steps and plan.stages read as %+v", ro.Plan)
	}
	set(m, "plan.stages", []any{10})
	_, err = decode(t, m)
	fieldErr(t, err, "plan.steps", "is the old name of plan.stages, which is given too with another value; give only stages")
	m = good(t)
	set(m, "plan.stageWeight", 10)
	set(m, "plan.stepWeight", 20)
	_, err = decode(t, m)
	fieldErr(t, err, "plan.stepWeight", "plan.stageWeight")
}

// TestImplausibleLatencyBound is issue 19 item 4: every latency is in
// seconds, so a latency bound of 80 or 250 "seconds" was written in
// milliseconds; Validate refuses it naming the field and saying so.
func TestImplausibleLatencyBound(t *testing.T) {
	for _, tc := range []struct {
		path  string
		value any
		field string
	}{
		{"analysis.analyzers.0.threshold.limits.0.max", 250, "analysis.analyzers[0].threshold.limits[0].max"},
		{"analysis.analyzers.0.threshold.limits.0.max", 80, "analysis.analyzers[0].threshold.limits[0].max"},
		{"analysis.analyzers.0", map[string]any{"dualWindow": map[string]any{"metric": "latency-p99", "bound": 500}}, "analysis.analyzers[0].dualWindow.bound"},
	} {
		m := good(t)
		set(m, tc.path, tc.value)
		ro, err := decode(t, m)
		if err != nil {
			t.Fatal(err)
		}
		err = ro.Validate(nil)
		fieldErr(t, err, tc.field, "milliseconds")
	}
	// A plausible bound in seconds, and a large bound on a metric that is
	// not a latency, are fine.
	for path, v := range map[string]any{
		"analysis.analyzers.0.threshold.limits.0.max": 0.25,
		"analysis.analyzers.0.threshold.limits.0":     map[string]any{"metric": "error-rate", "max": 250},
	} {
		m := good(t)
		set(m, path, v)
		if ro, err := decode(t, m); err != nil || ro.Validate(nil) != nil {
			t.Errorf("%s = %v: %v %v", path, v, err, ro.Validate(nil))
		}
	}
}
