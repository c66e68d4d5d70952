package main

import (
	"strings"
	"testing"
)

// TestAdvise runs canaryctl advise as a process: plan advice in UK number
// format from flags and from a rollout file, and bad input refused with
// exit status 2 and the field named.
func TestAdvise(t *testing.T) {
	store := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		code int
		out  []string // in stdout (or stderr when code ≠ 0)
	}{
		{"flags", []string{"advise", "--rps", "1500", "--error-rate", "1%", "--runs", "10"}, 0, []string{
			"At 1,500 requests/s with stable failing 1 % of requests, plan 10 → 20 → 30 → 40 → 50 % (interval 1 min), preset \"default\", 10 simulated rollouts each:",
			"good canary: promoted in 100 % of the runs within 240 min",
			"clear regression (canary failing 2 %): rolled back in 100 % of the runs within 240 min",
			"never paused for a person",
		}},
		{"rollout file", []string{"advise", "-f", "testdata/checkout.yaml", "--rps", "500", "--error-rate", "0.005", "--runs", "10", "--preset", "lenient"}, 0, []string{
			"plan 10 → 25 → 50 % (interval 30 s), preset \"lenient\"",
			"clear regression (canary failing 1 %)",
		}},
		{"regression", []string{"advise", "--rps", "500", "--error-rate", "0.5%", "--regression", "5%", "--runs", "5"}, 0, []string{"clear regression (canary failing 5 %): rolled back in 100 %"}},
		{"negative traffic", []string{"advise", "--rps", "-1", "--error-rate", "1%"}, 2, []string{"Input.RPS"}},
		{"error rate over 1", []string{"advise", "--rps", "5", "--error-rate", "150%"}, 2, []string{"Input.ErrorRate"}},
		{"no traffic given", []string{"advise", "--error-rate", "1%"}, 2, []string{"--rps is required"}},
		{"bad steps", []string{"advise", "--rps", "5", "--error-rate", "1%", "--steps", "10,5"}, 2, []string{"Plan.Stages[1].Weight"}},
		{"file and flags", []string{"advise", "-f", "testdata/checkout.yaml", "--steps", "10,20", "--rps", "5", "--error-rate", "1%"}, 2, []string{"not both"}},
		{"unknown preset", []string{"advise", "--rps", "5", "--error-rate", "1%", "--preset", "fast"}, 2, []string{`--preset "fast"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := ctl(t, store, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out, errOut)
			}
			text := out
			if c.code != 0 {
				text = errOut
			}
			for _, want := range c.out {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
		})
	}
}
