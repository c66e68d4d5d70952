package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/audit"
	"github.com/meshcanary/canary/rollback"
)

// TestMain lets the test binary serve as a back end: the quickstart
// starts each version as a child process of its own executable.
func TestMain(m *testing.M) {
	if spec := os.Getenv(backendEnv); spec != "" {
		if err := backendMain(spec, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "quickstart back end:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestQuickstart runs the three rollouts (one to two minutes of real
// traffic on loopback, through back ends in child processes).
func TestQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a minute of real traffic; run without -short (bash scripts/test.sh)")
	}
	trail := filepath.Join(t.TempDir(), "audit.jsonl")
	// 3 s windows rather than the demo's 2 s: more requests per analysis,
	// so a CI machine busy with other test binaries still gives each
	// window enough evidence.
	o, err := parse([]string{"-audit", trail, "-interval", "3s"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, o, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if testing.Verbose() {
		t.Log(out.String())
	}
	for _, want := range []string{"promoting → succeeded", "rolling-back → rolled-back", "scale-canary: canary scaled to 0 replicas",
		"summary: healthy canary succeeded, faulty canary rolled-back, CPU-hungry canary rolled-back",
		// resource use is measured in the back ends' own processes and
		// judged per request; the hungry canary is rolled back on it
		"resources: restarts: none in the window; CPU per request canary ",
		"FAIL: evidence that the canary uses more than 2 × stable's per request",
		// latency is judged too, as counts, canary against stable (the
		// share itself is not asserted: a loaded machine slows both)
		"slower than 250 ms ", "slow: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	f, err := os.Open(trail)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if rep, err := audit.Verify(f, audit.Config{}, nil); err != nil || rep.Anchor.Lines < 10 {
		t.Errorf("audit trail: %d events, %v", rep.Anchor.Lines, err)
	}
	if !strings.Contains(out.String(), " GMT ") && !strings.Contains(out.String(), " BST ") {
		t.Errorf("times are not shown in Europe/London:\n%s", out.String())
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-stages", "10,x"}, {"-steps", "10,x"}, {"-interval", "500ms"}, {"-interval", "1500ms"}, {"-rps", "0"},
		{"-bad-error-rate", "2"}, {"-hungry-work", "0"}, {"-hungry-work", "99999"}, {"-hold", "0"}, {"-timeout", "-1s"}, {"-nope"}, {"-slow", "0s"},
		{"-strategy", "nope"}, {"-strategy", ""}, {"-tz", "Mars/Olympus_Mons"}, {"-tz", ""},
	} {
		if _, err := parse(args, new(bytes.Buffer)); err == nil {
			t.Errorf("parse(%q) accepted bad flags", args)
		}
	}
}

// -tz chooses the timeline's zone; Europe/London by default.
func TestZoneFlag(t *testing.T) {
	o, err := parse(nil, new(bytes.Buffer))
	if err != nil || o.loc.String() != "Europe/London" {
		t.Fatalf("default zone %v, %v; want Europe/London", o.loc, err)
	}
	o, err = parse([]string{"-tz", "Asia/Tokyo"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	e := rollback.Event{Time: time.Date(2026, 7, 1, 13, 0, 0, 0, time.UTC), Kind: rollback.KindManual, To: rollback.Paused, Action: "pause", Actor: "bob"}
	if got := describe(e, o); !strings.HasPrefix(got, "22:00:00 JST") {
		t.Errorf("describe in Tokyo = %q, want 22:00:00 JST first", got)
	}
}

// A second run against the same trail appends under new rollout names:
// the trail holds each rollout's events once by Seq, so reusing a name
// would have its events skipped.
func TestNewNameAvoidsRolloutsInTheTrail(t *testing.T) {
	held := map[string]uint64{"checkout-v2-good": 12, "checkout-v2-good-2": 9}
	if got := newName("checkout-v2-good", held); got != "checkout-v2-good-3" {
		t.Errorf("newName = %q, want checkout-v2-good-3", got)
	}
	if got := newName("checkout-v2-bad", held); got != "checkout-v2-bad" {
		t.Errorf("newName = %q, want the base name", got)
	}
}

// TestStrategies runs each release shape end to end over httpsplit, a
// healthy and a faulty canary each, with real traffic on loopback: the
// healthy one is promoted and the faulty one rolled back, and what makes
// the shape is seen in the timeline — the A/B cohort routed and promoted
// after its iterations; blue/green's preview, switch and the old version
// stopped; the mirror's copies judged while no client ever saw the faulty
// canary's errors; no session the canary served sent back to stable.
func TestStrategies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real traffic for each shape; run without -short (bash scripts/test.sh)")
	}
	for _, c := range []struct {
		strategy string
		want     []string
		check    func(t *testing.T, out string)
	}{
		{"abtest", []string{"cohort header X-Cohort=beta", "A/B test passed after"}, nil},
		{"bluegreen", []string{"preview route X-Preview=1", "switching every request to the new version in one write",
			"scale-stable: the old (stable) version scaled to 0 replicas"}, nil},
		{"mirror", []string{"50 % mirrored", "post-promotion analysis passed"}, func(t *testing.T, out string) {
			// The faulty canary's answers were copies' answers: discarded.
			if !regexp.MustCompile(`checkout-v2-bad-mirror: rolled-back — [0-9,]+ requests sent through the mesh, 0 answered 5xx`).MatchString(out) {
				t.Errorf("a client saw an answer of the mirrored faulty canary:\n%s", out)
			}
		}},
		{"affinity", []string{"affinity cookie checkout-canary"}, func(t *testing.T, out string) {
			m := regexp.MustCompile(`([0-9,]+) of them reached the canary, ([0-9]+) flipped back`).FindAllStringSubmatch(out, -1)
			if len(m) != 2 {
				t.Fatalf("no session report for both rollouts:\n%s", out)
			}
			for _, g := range m {
				reached, _ := strconv.Atoi(strings.ReplaceAll(g[1], ",", ""))
				if reached == 0 || g[2] != "0" {
					t.Errorf("sessions: %s reached the canary, %s flipped back; want some and none", g[1], g[2])
				}
			}
		}},
	} {
		t.Run(c.strategy, func(t *testing.T) {
			o, err := parse([]string{"-strategy", c.strategy, "-interval", "3s"}, new(bytes.Buffer))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var out bytes.Buffer
			if err := run(ctx, o, &out); err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			if testing.Verbose() {
				t.Log(out.String())
			}
			for _, w := range append(c.want, "summary: healthy canary succeeded, faulty canary rolled-back") {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if c.check != nil {
				c.check(t, out.String())
			}
		})
	}
}

// -stages is the plan's weights; -steps, its old name, is still read with
// a warning, and both at once with different values is an error naming both.
func TestStagesFlag(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parse([]string{"-stages", "5,20"}, &stderr)
	if err != nil || !slices.Equal(o.steps, []int{5, 20}) || stderr.Len() != 0 {
		t.Fatalf("-stages 5,20: %v, %v, %q", o.steps, err, stderr.String())
	}
	o, err = parse([]string{"-steps", "5,20"}, &stderr)
	if err != nil || !slices.Equal(o.steps, []int{5, 20}) || !strings.Contains(stderr.String(), "-steps is deprecated, use -stages") {
		t.Fatalf("-steps 5,20: %v, %v, %q", o.steps, err, stderr.String())
	}
	if _, err := parse([]string{"-steps", "5,20", "-stages", "10,50"}, new(bytes.Buffer)); err == nil ||
		!strings.Contains(err.Error(), "-steps") || !strings.Contains(err.Error(), "-stages") {
		t.Fatalf("-steps and -stages differing: %v", err)
	}
	if _, err := parse([]string{"-steps", "10,x"}, new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), "-steps") {
		t.Fatalf("bad -steps: %v", err)
	}
}
