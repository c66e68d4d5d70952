package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/spec"
)

// allocated returns the bytes f allocated on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

const smallRollout = `name: checkout
router: {httpsplit: {listen: "127.0.0.1:8080", stable: "http://127.0.0.1:9001", canary: "http://127.0.0.1:9002"}}
plan: {stages: [10, 50], interval: 1m}
`

// TestLoaderBounds is issue 19 item 8: the YAML loader bounds the bytes it
// reads before parsing and the values it builds while converting, so a
// hostile file is refused at a bounded cost. The bound is asserted on the
// bytes allocated, not on time. Before: an alias bomb of 10^7 values ran
// past 10 s and 1.1 GiB, a 10 MB file that is mostly a comment was
// accepted (the 1 MiB limit applied after re-encoding), and 10 MB of
// entries were parsed whole before being refused.
func TestLoaderBounds(t *testing.T) {
	dir := t.TempDir()
	// An alias bomb: each level repeats the one before ten times; six
	// levels stand for 10^6 values (the had 10^7).
	var bomb strings.Builder
	bomb.WriteString(smallRollout + "kind: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 6; i++ {
		bomb.WriteString("x" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				bomb.WriteString(", ")
			}
			bomb.WriteString("*a" + string(rune('0'+i-1)))
		}
		bomb.WriteString("]\n")
	}
	comment := smallRollout + "# " + strings.Repeat("c", 10<<20) + "\n"
	entries := smallRollout + "metrics:\n" + strings.Repeat("  - {name: m, builtin: httpsplit/error-rate}\n", (10<<20)/45)
	for _, tc := range []struct {
		name, doc, why string
		maxAlloc       uint64
	}{
		// The bounds leave room for what the rest of the test binary
		// allocates meanwhile (TotalAlloc is the whole process's, and the
		// race detector adds its own): before the fix these inputs cost
		// 588 MB, 84 MB and 443 MB.
		{"alias bomb", bomb.String(), "more than 20000 values", 64 << 20},
		{"10 MB comment", comment, "larger than 1048576 bytes", 16 << 20},
		{"10 MB of entries", entries, "larger than 1048576 bytes", 16 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(p, []byte(tc.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			var err error
			n := allocated(func() { _, err = loadRollout(p, io.Discard) })
			if err == nil || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("loadRollout = %v; want an error saying %q", err, tc.why)
			}
			if n > tc.maxAlloc {
				t.Errorf("refusing it allocated %d bytes; the bound is %d", n, tc.maxAlloc)
			}
		})
	}
}

// TestLoaderNamesTheField is issue 19 item 14's YAML side: .nan and .inf
// limits, an empty file and deep nesting are errors naming the field.
func TestLoaderNamesTheField(t *testing.T) {
	limits := smallRollout + "provider: {httpsplit: {}}\nmetrics: [{name: error-rate, builtin: httpsplit/error-rate}]\n" +
		"analysis: {analyzers: [{threshold: {limits: [{metric: error-rate, max: %s}]}}]}\n"
	deep := smallRollout + "kind: " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\n"
	for _, tc := range []struct {
		name, doc, field, why string
	}{
		{".nan limit", strings.Replace(limits, "%s", ".nan", 1), "analysis.analyzers[0].threshold.limits[0].max", "finite"},
		{".inf limit", strings.Replace(limits, "%s", ".inf", 1), "analysis.analyzers[0].threshold.limits[0].max", "finite"},
		{"-.inf limit", strings.Replace(limits, "%s", "-.Inf", 1), "analysis.analyzers[0].threshold.limits[0].max", "finite"},
		{"empty file", "", "rollout", "is empty"},
		{"only a comment", "# nothing here\n", "rollout", "is empty"},
		{"deep nesting", deep, "kind" + strings.Repeat("[0]", spec.MaxDepth-1), "nested deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRollout("rollout.yaml", []byte(tc.doc))
			var fe *canary.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, tc.why) {
				t.Errorf("got %v; want a field error naming %s, saying %q", err, tc.field, tc.why)
			}
		})
	}
}
