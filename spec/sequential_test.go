package spec_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/spec"
)

// TestSequentialIsWrittenWhole: spec.Sequential is analysis.Sequential, so
// every field of the analyzer must be one a rollout file can write: a JSON
// key in lowerCamel case, a plain string, number or boolean (a
// time.Duration would be read as nanoseconds, not "2m"), and a value given
// under that key reaches the analyzer, survives validation and Build, and
// is written back under the same key. A field the analyzer gains that a
// file cannot carry fails here, naming it.
func TestSequentialIsWrittenWhole(t *testing.T) {
	typ := reflect.TypeFor[analysis.Sequential]()
	seq := map[string]any{}
	var keys []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case !f.IsExported():
			t.Errorf("analysis.Sequential.%s is unexported: a rollout file cannot set it", f.Name)
			continue
		case key == "" || key == "-":
			t.Errorf("analysis.Sequential.%s has no JSON key: a rollout file cannot set it", f.Name)
			continue
		case key != strings.ToLower(f.Name[:1])+f.Name[1:]:
			t.Errorf("analysis.Sequential.%s is keyed %q; a rollout file's keys are the field's name in lowerCamel case", f.Name, key)
		case f.Type.PkgPath() != "":
			t.Errorf("analysis.Sequential.%s is a %s: a rollout file writes plain strings, numbers and booleans here (durations as text); give spec.Sequential its own type", f.Name, f.Type)
			continue
		}
		keys = append(keys, key)
		switch f.Type.Kind() {
		case reflect.String:
			seq[key] = "error-rate" // the rollout's metric
		case reflect.Float32, reflect.Float64:
			seq[key] = 0.05
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			seq[key] = 200
		case reflect.Bool:
			seq[key] = true
		default:
			t.Errorf("analysis.Sequential.%s is a %s: a rollout file writes plain strings, numbers and booleans here", f.Name, f.Type)
		}
	}
	if t.Failed() {
		return
	}
	m := good(t)
	m["analysis"] = map[string]any{"analyzers": []any{map[string]any{"sequential": seq}}}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := spec.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Decode of a sequential analyzer with every field set: %v", err)
	}
	got := reflect.ValueOf(*ro.Analysis.Analyzers[0].Sequential)
	for i := range typ.NumField() {
		if got.Field(i).IsZero() {
			t.Errorf("analysis.Sequential.%s was given in the file but did not reach the analyzer", typ.Field(i).Name)
		}
	}
	if _, err := ro.Core(nil); err != nil {
		t.Fatalf("Core with every sequential field set: %v", err)
	}
	out, err := json.Marshal(ro)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Analysis struct {
			Analyzers []struct {
				Sequential map[string]any `json:"sequential"`
			} `json:"analyzers"`
		} `json:"analysis"`
	}
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	var written []string
	for k := range back.Analysis.Analyzers[0].Sequential {
		written = append(written, k)
	}
	slices.Sort(written)
	slices.Sort(keys)
	if !slices.Equal(written, keys) {
		t.Errorf("written back as %v, want the keys %v", written, keys)
	}
}
