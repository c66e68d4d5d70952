package advice

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

// Defaults of Input's zero fields.
const (
	// DefaultRuns is the number of simulated rollouts per canary.
	DefaultRuns = 100
	// DefaultHorizon is how long a simulated rollout lasts at most.
	DefaultHorizon = 4 * time.Hour
	// MaxRuns and MaxHorizon bound the work one call may ask for.
	MaxRuns    = 10000
	MaxHorizon = 7 * 24 * time.Hour
)

// metric is the name the simulated error rate goes by.
const metric = "error-rate"

// Input is what the advice is about. Its zero fields take the documented
// defaults; RPS, ErrorRate and Plan are required.
type Input struct {
	// RPS is the service's total traffic (both versions), requests per
	// second. Must be positive and finite.
	RPS float64
	// ErrorRate is the stable version's share of failed requests, in
	// [0, 1).
	ErrorRate float64
	// Plan is the rollout plan, as given to the rollout (its approval
	// gates are left out; see the package documentation).
	Plan rollback.Plan
	// Preset returns the analysis preset the rollout uses for the given
	// metric names; nil means [analysis.DefaultPreset]. The rollout's
	// policy is the preset's own ([rollback.PresetPolicy]).
	Preset func(analysis.PresetMetrics) analysis.Preset
	// Regression is the error rate of the clear regression to simulate;
	// zero means the smallest regression the default preset must roll
	// back, max(2 × ErrorRate, ErrorRate + 0.005). Must be in
	// (ErrorRate, 1].
	Regression float64
	// Runs is the number of simulated rollouts per canary; zero means
	// DefaultRuns. At most MaxRuns.
	Runs int
	// Horizon is how long a simulated rollout lasts at most; zero means
	// DefaultHorizon. At most MaxHorizon.
	Horizon time.Duration
	// Seed seeds the simulation; the same Input gives the same Advice.
	Seed uint64
}

// Outcome is what the simulated rollouts of one canary did.
type Outcome struct {
	// ErrorRate is the canary's error rate.
	ErrorRate float64
	// Runs is the number of simulated rollouts.
	Runs int
	// Right counts the right decisions within the horizon (a good canary
	// promoted, a regression rolled back), Wrong the wrong ones; the rest
	// were undecided at the horizon.
	Right, Wrong int
	// Median and P90 are the median and 90th percentile of the time to
	// the right decision over all runs; a run without one counts as later
	// than the horizon, and the figure is then Never.
	Median, P90 time.Duration
	// Paused counts the runs that paused for a person; PausedAt is the
	// median time at which they did (zero when none did).
	Paused   int
	PausedAt time.Duration
}

// Never is an Outcome's Median or P90 when fewer runs than that reached the
// right decision within the horizon.
const Never time.Duration = math.MaxInt64

// Advice is the answer.
type Advice struct {
	// Input is the input with its defaults filled in.
	Input Input
	// Preset is the name of the preset simulated.
	Preset string
	// Good is a canary as good as stable; Regression a clear regression.
	Good, Regression Outcome
}

// Advise simulates in.Runs rollouts of in.Plan with a good canary and as
// many with a clear regression, and returns what they did. Bad input is a
// *[canary.FieldError] naming the field ("Input.RPS", "Plan.Interval").
func Advise(ctx context.Context, in Input) (Advice, error) {
	in, preset, err := in.resolve()
	if err != nil {
		return Advice{}, err
	}
	a := Advice{Input: in, Preset: preset.Name}
	for i, rate := range []float64{in.ErrorRate, in.Regression} {
		o, err := simulate(ctx, in, preset, rate, i == 0)
		if err != nil {
			return Advice{}, err
		}
		if i == 0 {
			a.Good = o
		} else {
			a.Regression = o
		}
	}
	return a, nil
}

func (in Input) resolve() (Input, analysis.Preset, error) {
	switch {
	case !(in.RPS > 0) || math.IsInf(in.RPS, 0):
		return in, analysis.Preset{}, canary.Invalid("Input.RPS", in.RPS, "must be a positive number of requests per second")
	case !(in.ErrorRate >= 0 && in.ErrorRate < 1):
		return in, analysis.Preset{}, canary.Invalid("Input.ErrorRate", in.ErrorRate, "must be a share in [0, 1)")
	case in.Runs < 0 || in.Runs > MaxRuns:
		return in, analysis.Preset{}, canary.Invalid("Input.Runs", in.Runs, "must be between 0 (default %d) and %d", DefaultRuns, MaxRuns)
	case in.Horizon < 0 || in.Horizon > MaxHorizon:
		return in, analysis.Preset{}, canary.Invalid("Input.Horizon", in.Horizon, "must be between 0 (default %v) and %v", DefaultHorizon, MaxHorizon)
	}
	if err := in.Plan.Validate(); err != nil {
		return in, analysis.Preset{}, err
	}
	if in.Regression == 0 {
		in.Regression = math.Min(1, math.Max(2*in.ErrorRate, in.ErrorRate+0.005))
	}
	if !(in.Regression > in.ErrorRate && in.Regression <= 1) {
		return in, analysis.Preset{}, canary.Invalid("Input.Regression", in.Regression, "must be above ErrorRate (%v) and at most 1", in.ErrorRate)
	}
	if in.Runs == 0 {
		in.Runs = DefaultRuns
	}
	if in.Horizon == 0 {
		in.Horizon = DefaultHorizon
	}
	if in.Horizon < in.Plan.Interval {
		return in, analysis.Preset{}, canary.Invalid("Input.Horizon", in.Horizon, "must be at least the plan's interval %v", in.Plan.Interval)
	}
	mk := in.Preset
	if mk == nil {
		mk = analysis.DefaultPreset
	}
	p := mk(analysis.PresetMetrics{ErrorRate: metric})
	if p.Analyzer == nil {
		return in, analysis.Preset{}, canary.Invalid("Input.Preset", p.Name, "returned a preset without an analyzer")
	}
	if err := rollback.PresetPolicy(p).Validate(); err != nil {
		return in, analysis.Preset{}, fmt.Errorf("advice: Input.Preset: %w", err)
	}
	return in, p, nil
}

// run is one simulated rollout's result.
type run struct {
	promoted, rolledBack bool
	decided              time.Duration
	paused               bool
	pausedAt             time.Duration
}

var start = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func simulate(ctx context.Context, in Input, p analysis.Preset, rate float64, good bool) (Outcome, error) {
	o := Outcome{ErrorRate: rate, Runs: in.Runs}
	var right, paused []time.Duration
	kind := uint64(1)
	if good {
		kind = 0
	}
	for i := range in.Runs {
		seed := in.Seed ^ kind<<62 ^ uint64(i)*0x9e3779b97f4a7c15
		plan := in.Plan
		plan.ApproveIncrease, plan.ApprovePromotion = false, false
		r, err := replay(ctx, in, p, plan, rate, seed)
		if err != nil {
			return o, err
		}
		if r.paused {
			// The same run without a person: a progress deadline at
			// the horizon and a budget far beyond it.
			plan.ProgressDeadline, plan.MaxDuration = in.Horizon, 1000*in.Horizon
			again, err := replay(ctx, in, p, plan, rate, seed)
			if err != nil {
				return o, err
			}
			again.paused, again.pausedAt = true, r.pausedAt
			r = again
		}
		if r.paused {
			o.Paused++
			paused = append(paused, r.pausedAt)
		}
		switch {
		case r.promoted == good && (r.promoted || r.rolledBack):
			o.Right++
			right = append(right, r.decided)
		case r.promoted || r.rolledBack:
			o.Wrong++
		}
	}
	o.Median, o.P90 = quantile(right, in.Runs, 0.5), quantile(right, in.Runs, 0.9)
	if len(paused) > 0 {
		o.PausedAt = quantile(paused, len(paused), 0.5)
	}
	return o, nil
}

// quantile is the q-quantile of v among runs values, the missing ones
// counting as Never.
func quantile(v []time.Duration, runs int, q float64) time.Duration {
	s := slices.Clone(v)
	slices.Sort(s)
	k := max(0, int(math.Ceil(q*float64(runs)))-1)
	if k >= len(s) {
		return Never
	}
	return s[k]
}

func replay(ctx context.Context, in Input, p analysis.Preset, plan rollback.Plan, rate float64, seed uint64) (run, error) {
	cfg := rollback.Config{Name: "advice", Plan: plan, Policy: rollback.PresetPolicy(p), Analyzer: p.Analyzer,
		Metrics: []rollback.Metric{{Name: metric}}}
	res, err := rollback.Replay(ctx, cfg, start, start.Add(in.Horizon), recording(in, rate, seed))
	if err != nil {
		return run{}, err
	}
	var r run
	for _, e := range res.Events {
		if e.Kind == rollback.KindTransition && e.To == rollback.Paused {
			r.paused, r.pausedAt = true, e.Time.Sub(start)
			break
		}
	}
	switch res.Final.Phase {
	case rollback.Succeeded, rollback.Promoting:
		r.promoted = true
	case rollback.RolledBack, rollback.RollingBack:
		r.rolledBack = true
	}
	if r.promoted || r.rolledBack {
		r.decided = res.Decided.Sub(start)
	}
	return r, nil
}

// recording generates one run's traffic: Poisson requests split by the
// canary's weight (plus any mirrored share), Poisson errors at the
// versions' rates, and stable's history over the hour before each window.
func recording(in Input, canaryRate float64, seed uint64) rollback.Recording {
	r := rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))
	perWindow := in.RPS * in.Plan.Interval.Seconds()
	const history = time.Hour
	histN := poisson(r, in.RPS*history.Seconds())
	histY := min(poisson(r, float64(histN)*in.ErrorRate), histN)
	var last time.Time
	var cached []analysis.Observation
	return func(now time.Time, split traffic.Split) []analysis.Observation {
		if now.Equal(last) && cached != nil {
			return cached
		}
		n := poisson(r, perWindow*float64(split.Canary+split.Mirror)/100)
		m := poisson(r, perWindow*float64(split.Stable)/100)
		x := min(poisson(r, float64(n)*canaryRate), n)
		y := min(poisson(r, float64(m)*in.ErrorRate), m)
		last = now
		cached = []analysis.Observation{{Metric: metric, Canary: measured(x, n), Stable: measured(y, m), Baseline: measured(histY, histN)}}
		return cached
	}
}

func measured(x, n int64) analysis.Measurement {
	if n == 0 {
		return analysis.Measurement{}
	}
	return analysis.Observed(float64(x)/float64(n), n)
}

func poisson(r *rand.Rand, mean float64) int64 {
	switch {
	case mean <= 0:
		return 0
	case mean < 30:
		l, k, p := math.Exp(-mean), int64(0), 1.0
		for {
			p *= r.Float64()
			if p <= l {
				return k
			}
			k++
		}
	}
	return max(0, int64(math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
}

// String writes the advice for people, numbers in UK format.
func (a Advice) String() string {
	in := a.Input
	var b strings.Builder
	stages, _ := in.Plan.Expand()
	ws := make([]string, len(stages))
	for i, s := range stages {
		ws[i] = fmt.Sprint(s.Weight)
	}
	fmt.Fprintf(&b, "At %s requests/s with stable failing %s of requests, plan %s %% (interval %s), preset %q, %s simulated rollouts each:\n",
		display.FormatNumber(in.RPS, 3), display.FormatPercent(in.ErrorRate), strings.Join(ws, " → "), duration(in.Plan.Interval), a.Preset,
		display.FormatNumber(float64(in.Runs), 0))
	a.Good.write(&b, "good canary", "promoted", in.Horizon)
	a.Regression.write(&b, fmt.Sprintf("clear regression (canary failing %s)", display.FormatPercent(a.Regression.ErrorRate)), "rolled back", in.Horizon)
	return b.String()
}

func (o Outcome) write(b *strings.Builder, what, verb string, horizon time.Duration) {
	share := func(n int) string { return display.FormatPercent(float64(n) / float64(o.Runs)) }
	fmt.Fprintf(b, "  %s: %s in %s of the runs within %s (median %s, 90th percentile %s); wrong decision in %s; ",
		what, verb, share(o.Right), minutes(horizon, horizon), minutes(o.Median, horizon), minutes(o.P90, horizon), share(o.Wrong))
	if o.Paused == 0 {
		b.WriteString("never paused for a person\n")
		return
	}
	fmt.Fprintf(b, "paused for a person in %s (median at %s)\n", share(o.Paused), minutes(o.PausedAt, horizon))
}

// minutes writes d as whole minutes in UK format, Never as "over" the
// horizon.
func minutes(d, horizon time.Duration) string {
	if d == Never {
		return "over " + minutes(horizon, horizon)
	}
	return display.FormatNumber(math.Round(d.Minutes()), 0) + " min"
}

// duration writes d for people: "1 min", "90 s", "1.5 h".
func duration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%(6*time.Minute) == 0:
		return display.FormatNumber(d.Hours(), 1) + " h"
	case d >= time.Minute && d%time.Second == 0 && d%time.Minute == 0:
		return display.FormatNumber(d.Minutes(), 0) + " min"
	}
	return display.FormatNumber(d.Seconds(), 3) + " s"
}
