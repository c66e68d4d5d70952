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
		warn []string // in stderr when code = 0
	}{
		{"flags", []string{"advise", "--rps", "1500", "--error-rate", "1%", "--runs", "10"}, 0, []string{
			"At 1,500 requests/s with stable failing 1 % of requests, plan 10 → 20 → 30 → 40 → 50 % (interval 1 min), preset \"default\", 10 simulated rollouts each:",
			"good canary: promoted in 100 % of the runs within 240 min",
			"clear regression (canary failing 2 %): rolled back in 100 % of the runs within 240 min",
			"never paused for a person",
		}, nil},
		{"rollout file", []string{"advise", "-f", "testdata/checkout.yaml", "--rps", "500", "--error-rate", "0.005", "--runs", "10", "--preset", "lenient"}, 0, []string{
			"plan 10 → 25 → 50 % (interval 30 s), preset \"lenient\"",
			"clear regression (canary failing 1 %)",
		}, nil},
		{"regression", []string{"advise", "--rps", "500", "--error-rate", "0.5%", "--regression", "5%", "--runs", "5"}, 0, []string{"clear regression (canary failing 5 %): rolled back in 100 %"}, nil},
		{"negative traffic", []string{"advise", "--rps", "-1", "--error-rate", "1%"}, 2, []string{"Input.RPS"}, nil},
		{"error rate over 1", []string{"advise", "--rps", "5", "--error-rate", "150%"}, 2, []string{"Input.ErrorRate"}, nil},
		{"no traffic given", []string{"advise", "--error-rate", "1%"}, 2, []string{"--rps is required"}, nil},
		{"bad stages", []string{"advise", "--rps", "5", "--error-rate", "1%", "--stages", "10,5"}, 2, []string{"Plan.Stages[1].Weight"}, nil},
		{"stages not numbers", []string{"advise", "--rps", "5", "--error-rate", "1%", "--stages", "10,x"}, 2, []string{"--stages: want whole percentages"}, nil},
		{"file and flags", []string{"advise", "-f", "testdata/checkout.yaml", "--stages", "10,20", "--rps", "5", "--error-rate", "1%"}, 2, []string{"not both"}, nil},
		// --steps is the old name of --stages: still read, with one
		// warning naming both; beside --stages it must agree.
		{"old name", []string{"advise", "--rps", "1500", "--error-rate", "1%", "--runs", "2", "--steps", "10,40"}, 0,
			[]string{"plan 10 → 40 % (interval 1 min)"}, []string{"canaryctl advise: warning: --steps is deprecated; write --stages (read as --stages)\n"}},
		{"old and new name agree", []string{"advise", "--rps", "1500", "--error-rate", "1%", "--runs", "2", "--steps", "10,40", "--stages", "10,40"}, 0,
			[]string{"plan 10 → 40 % (interval 1 min)"}, []string{"canaryctl advise: warning: --steps is deprecated and repeats --stages; drop it\n"}},
		{"old and new name differ", []string{"advise", "--rps", "5", "--error-rate", "1%", "--steps", "10,40", "--stages", "10,50"}, 2,
			[]string{`--steps`, `is the old name of --stages, which is given too with another value ("10,50"); give only --stages`}, nil},
		{"old name is bad", []string{"advise", "--rps", "5", "--error-rate", "1%", "--steps", "10,x"}, 2, []string{"--steps: want whole percentages"}, nil},
		{"old name and a file", []string{"advise", "-f", "testdata/checkout.yaml", "--steps", "10,20", "--rps", "5", "--error-rate", "1%"}, 2, []string{"not both"}, nil},
		{"unknown preset", []string{"advise", "--rps", "5", "--error-rate", "1%", "--preset", "fast"}, 2, []string{`--preset "fast"`}, nil},
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
			for _, want := range c.warn {
				if strings.Count(errOut, want) != 1 {
					t.Errorf("stderr has %q %d times, want once:\n%s", want, strings.Count(errOut, want), errOut)
				}
			}
		})
	}
}
