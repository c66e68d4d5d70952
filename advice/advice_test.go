package advice

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
)

var plan = rollback.Plan{StageWeight: 10, MaxWeight: 50, Interval: time.Minute}

func TestAdviseBadInput(t *testing.T) {
	noAnalyzer := func(analysis.PresetMetrics) analysis.Preset { return analysis.Preset{Name: "empty"} }
	for _, c := range []struct {
		name  string
		in    Input
		field string
	}{
		{"no traffic", Input{RPS: 0, ErrorRate: 0.01, Plan: plan}, "Input.RPS"},
		{"negative traffic", Input{RPS: -5, ErrorRate: 0.01, Plan: plan}, "Input.RPS"},
		{"NaN traffic", Input{RPS: math.NaN(), ErrorRate: 0.01, Plan: plan}, "Input.RPS"},
		{"infinite traffic", Input{RPS: math.Inf(1), ErrorRate: 0.01, Plan: plan}, "Input.RPS"},
		{"negative error rate", Input{RPS: 5, ErrorRate: -0.01, Plan: plan}, "Input.ErrorRate"},
		{"error rate 1", Input{RPS: 5, ErrorRate: 1, Plan: plan}, "Input.ErrorRate"},
		{"NaN error rate", Input{RPS: 5, ErrorRate: math.NaN(), Plan: plan}, "Input.ErrorRate"},
		{"negative runs", Input{RPS: 5, ErrorRate: 0.01, Plan: plan, Runs: -1}, "Input.Runs"},
		{"too many runs", Input{RPS: 5, ErrorRate: 0.01, Plan: plan, Runs: MaxRuns + 1}, "Input.Runs"},
		{"negative horizon", Input{RPS: 5, ErrorRate: 0.01, Plan: plan, Horizon: -time.Minute}, "Input.Horizon"},
		{"horizon too long", Input{RPS: 5, ErrorRate: 0.01, Plan: plan, Horizon: MaxHorizon + 1}, "Input.Horizon"},
		{"horizon below the interval", Input{RPS: 5, ErrorRate: 0.01, Plan: plan, Horizon: time.Second}, "Input.Horizon"},
		{"regression not worse", Input{RPS: 5, ErrorRate: 0.01, Plan: plan, Regression: 0.01}, "Input.Regression"},
		{"regression above 1", Input{RPS: 5, ErrorRate: 0.01, Plan: plan, Regression: 1.5}, "Input.Regression"},
		{"no interval", Input{RPS: 5, ErrorRate: 0.01, Plan: rollback.Plan{StageWeight: 10, MaxWeight: 50}}, "Plan.Interval"},
		{"no stages", Input{RPS: 5, ErrorRate: 0.01, Plan: rollback.Plan{Interval: time.Minute}}, "Plan.Stages"},
		{"preset without analyzer", Input{RPS: 5, ErrorRate: 0.01, Plan: plan, Preset: noAnalyzer}, "Input.Preset"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Advise(context.Background(), c.in)
			var fe *canary.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a *canary.FieldError", err)
			}
			if fe.Field != c.field {
				t.Errorf("field %q, want %q (%v)", fe.Field, c.field, err)
			}
		})
	}
}

// TestAdvise checks the advice on fixed seeds against what the plan and
// the traffic imply: never faster than the plan allows (five stages of
// one interval, or of their hold), faster with more traffic, every run
// asked about when the evidence cannot come before the progress deadline,
// and none when the deadline is the horizon.
func TestAdvise(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a few hundred rollouts")
	}
	ctx := context.Background()
	advise := func(in Input) Advice {
		t.Helper()
		if in.Plan.Interval == 0 {
			in.Plan = plan
		}
		if in.Runs == 0 {
			in.Runs = 20
		}
		in.Seed = 18
		a, err := Advise(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	fast := advise(Input{RPS: 500, ErrorRate: 0.01})
	mid := advise(Input{RPS: 50, ErrorRate: 0.01})
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"500 req/s: every good canary promoted", fast.Good.Right == fast.Good.Runs && fast.Good.Wrong == 0},
		{"500 req/s: not before the plan's five stages", fast.Good.Median >= 5*time.Minute},
		{"500 req/s: median promotion within 10 min", fast.Good.Median <= 10*time.Minute},
		{"500 req/s: every regression rolled back within 3 min (median)", fast.Regression.Right == fast.Regression.Runs && fast.Regression.Median <= 3*time.Minute},
		{"500 req/s: nobody asked", fast.Good.Paused == 0 && fast.Regression.Paused == 0},
		{"50 req/s: slower than 500", mid.Good.Median >= fast.Good.Median && mid.Good.P90 >= fast.Good.P90},
		{"50 req/s: the regression is 2 × stable", mid.Regression.ErrorRate == 0.02},
		{"p90 at least the median", mid.Good.P90 >= mid.Good.Median && mid.Regression.P90 >= mid.Regression.Median},
	} {
		if !c.ok {
			t.Errorf("%s: no\n%s\n%s", c.name, fast, mid)
		}
	}

	// Little traffic: the evidence comes slowly (much later than at 500
	// req/s); the runs whose evidence cannot come within the rollout's
	// budget ask a person before the horizon.
	slow := advise(Input{RPS: 0.5, ErrorRate: 0.001})
	if slow.Good.Paused == 0 || slow.Good.PausedAt >= 4*time.Hour || slow.Good.Median <= 10*fast.Good.Median {
		t.Errorf("0.5 req/s, 0.1 %%: paused %d of %d at %v, median %v; want some runs paused before 4 h, a median over 10 × 500 req/s's\n%s",
			slow.Good.Paused, slow.Good.Runs, slow.Good.PausedAt, slow.Good.Median, slow)
	}
	patient := plan
	patient.ProgressDeadline = 4 * time.Hour
	if a := advise(Input{RPS: 5, ErrorRate: 0.01, Plan: patient}); a.Good.Paused != 0 {
		t.Errorf("progress deadline at the horizon: %d runs paused\n%s", a.Good.Paused, a)
	}
	// Five-minute holds: five stages take 25 minutes at least.
	held := plan
	held.Hold = 5 * time.Minute
	if a := advise(Input{RPS: 500, ErrorRate: 0.01, Plan: held}); a.Good.Median < 25*time.Minute || a.Good.Right != a.Good.Runs {
		t.Errorf("5-minute holds: median %v, promoted %d of %d; want ≥ 25 min, all\n%s", a.Good.Median, a.Good.Right, a.Good.Runs, a)
	}
	// The same input gives the same advice.
	if again := advise(Input{RPS: 50, ErrorRate: 0.01}); !reflect.DeepEqual(again.Good, mid.Good) || !reflect.DeepEqual(again.Regression, mid.Regression) {
		t.Errorf("same input, different advice:\n%s\n%s", mid, again)
	}
}

func TestAdviceString(t *testing.T) {
	a := Advice{Input: Input{RPS: 1500, ErrorRate: 0.005, Plan: plan, Runs: 1000, Horizon: 4 * time.Hour}, Preset: "default",
		Good:       Outcome{ErrorRate: 0.005, Runs: 1000, Right: 998, Wrong: 1, Median: 7 * time.Minute, P90: 1234 * time.Minute, Paused: 0},
		Regression: Outcome{ErrorRate: 0.01, Runs: 1000, Right: 400, Median: Never, P90: Never, Paused: 1000, PausedAt: 11 * time.Minute}}
	got := a.String()
	for _, want := range []string{
		"At 1,500 requests/s with stable failing 0.5 % of requests, plan 10 → 20 → 30 → 40 → 50 % (interval 1 min), preset \"default\", 1,000 simulated rollouts each:",
		"good canary: promoted in 99.8 % of the runs within 240 min (median 7 min, 90th percentile 1,234 min); wrong decision in 0.1 %; never paused for a person",
		"clear regression (canary failing 1 %): rolled back in 40 % of the runs within 240 min (median over 240 min, 90th percentile over 240 min); wrong decision in 0 %; paused for a person in 100 % (median at 11 min)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("advice text lacks\n%s\ngot\n%s", want, got)
		}
	}
}
