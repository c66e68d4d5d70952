// Package quality is the decision-quality suite of the analysis presets
// (issue 8, item 9): synthetic, labelled canaries replayed through
// [rollback.Replay] with every preset, the fixed-threshold baseline and an
// oracle, Wald's sequential probability ratio test that knows the true
// rates — the physical limit for the same traffic schedule.
//
// Each run is a plan of StepWeight 10, MaxWeight 50, one analysis a minute,
// at a total traffic of RPS requests per second split by the canary's
// weight, with Poisson request and event counts drawn from a seed. Two rate
// metrics are measured per window for each version: "error-rate" (errors
// per request) and "latency-slow" (the share of requests slower than a
// latency bound set at the stable version's p99, so 1 % for stable; request
// latencies are log-normal with shape 0.5). The families are in Families.
//
// The tables are printed by
//
//	go test ./internal/quality -run TestQualityTable -v -quality.full
//
// and the default go test run checks the targets on a smaller grid with
// fixed seeds. Nothing reads the clock: every instant is computed.
package quality

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

// Family is a kind of canary.
type Family int

const (
	GoodNoise Family = iota
	GoodBursts
	GoodIncident
	Errors2x
	Errors5x
	ErrorsPlus5
	TurnsBad
	LatencyP99
	LatencyTail
	numFamilies
)

// Families lists every family in table order.
func Families() []Family {
	f := make([]Family, numFamilies)
	for i := range f {
		f[i] = Family(i)
	}
	return f
}

var familyNames = [...]string{
	"good, noise",
	"good, bursts on both",
	"good, incident on both",
	"errors 2×",
	"errors 5×",
	"errors +5 points",
	"turns 5× bad at 30 %",
	"latency +50 % (p99)",
	"latency tail only",
}

func (f Family) String() string { return familyNames[f] }

// Good reports whether the family's canary is as good as stable.
func (f Family) Good() bool { return f <= GoodIncident }

const (
	// StableSlow is the stable version's share of requests slower than
	// the latency bound (its p99).
	StableSlow = 0.01
	// Interval is the analysis interval and window.
	Interval = time.Minute
	// Horizon is how long a run lasts at most.
	Horizon = 4 * time.Hour
	// incident: minutes [incidentFrom, incidentTo) both versions fail 10 %
	// more requests and 20 % more are slow.
	incidentFrom, incidentTo = 3, 6
	// burstSigma is the log-normal shape of the per-minute shock that
	// multiplies both versions' rates in the bursts family.
	burstSigma = 0.8
	// tailShare is the share of the canary's requests that get +0.5 s in
	// the tail-only family.
	tailShare = 0.03
	// latencySigma is the log-normal shape of request latency.
	latencySigma = 0.5
)

// p99Slow is the canary's share of requests slower than stable's p99 when
// every latency is 1.5 × stable's: P(Z > z99 − ln 1.5 / σ).
var p99Slow = 0.5 * math.Erfc((2.3263478740408408-math.Log(1.5)/latencySigma)/math.Sqrt2)

// Plan is the rollout every scenario is replayed with.
var Plan = rollback.Plan{StageWeight: 10, MaxWeight: 50, Interval: Interval, ProgressDeadline: Horizon}

// Scenario is one cell of the grid.
type Scenario struct {
	Family Family
	// RPS is the total traffic (both versions), requests per second.
	RPS float64
	// ErrorRate is the stable version's error rate.
	ErrorRate float64
}

// Clear reports whether the scenario's canary is a clear regression (at
// least 2× stable's rate and at least 0.5 points above it on a metric)
// from the start or from its change.
func (s Scenario) Clear() bool {
	c, st := s.canaryRates(true, 1, 1)
	clear := func(c, s float64) bool { return c >= 2*s-1e-12 && c >= s+0.005-1e-12 }
	return clear(c[0], st[0]) || clear(c[1], st[1])
}

// canaryRates returns the canary's and stable's (error rate, slow share)
// in a minute, with bad telling whether a turning canary has turned, and
// shock multipliers for both versions' rates.
func (s Scenario) canaryRates(bad bool, errShock, slowShock float64) (canary, stable [2]float64) {
	stable = [2]float64{s.ErrorRate * errShock, StableSlow * slowShock}
	canary = stable
	switch s.Family {
	case Errors2x:
		canary[0] *= 2
	case Errors5x:
		canary[0] *= 5
	case ErrorsPlus5:
		canary[0] += 0.05
	case TurnsBad:
		if bad {
			canary[0] *= 5
		}
	case LatencyP99:
		canary[1] = p99Slow * slowShock
	case LatencyTail:
		canary[1] = stable[1] + tailShare*(1-stable[1])
	}
	for i := range canary {
		canary[i] = math.Min(1, canary[i])
		stable[i] = math.Min(1, stable[i])
	}
	return canary, stable
}

// truth is what the oracle knows of the window just generated.
type truth struct {
	canary, stable [2]float64
	n, m           [2]float64
	x, y           [2]float64
}

// Metrics are the metric names the suite measures.
var Metrics = analysis.PresetMetrics{ErrorRate: "error-rate", Slow: "latency-slow"}

// recording returns the generator of one run and the truth it updates.
func (s Scenario) recording(seed uint64, t0 time.Time) (rollback.Recording, *truth) {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	tr := &truth{}
	return func(now time.Time, split traffic.Split) []analysis.Observation {
		minute := int(now.Sub(t0) / Interval)
		errShock, slowShock := 1.0, 1.0
		if s.Family == GoodBursts {
			errShock = math.Exp(burstSigma*r.NormFloat64() - burstSigma*burstSigma/2)
			slowShock = math.Exp(burstSigma*r.NormFloat64() - burstSigma*burstSigma/2)
		}
		c, st := s.canaryRates(split.Canary >= 30, errShock, slowShock)
		if s.Family == GoodIncident && minute >= incidentFrom && minute < incidentTo {
			for i, add := range [2]float64{0.10, 0.20} {
				c[i], st[i] = math.Min(1, c[i]+add), math.Min(1, st[i]+add)
			}
		}
		w := float64(split.Canary) / 100
		n := poisson(r, s.RPS*60*w)
		m := poisson(r, s.RPS*60*(1-w))
		tr.canary, tr.stable = c, st
		obs := make([]analysis.Observation, 2)
		for i, name := range []string{Metrics.ErrorRate, Metrics.Slow} {
			x := min(poisson(r, float64(n)*c[i]), n)
			y := min(poisson(r, float64(m)*st[i]), m)
			tr.n[i], tr.m[i], tr.x[i], tr.y[i] = float64(n), float64(m), float64(x), float64(y)
			obs[i] = analysis.Observation{Metric: name, Canary: measured(x, n), Stable: measured(y, m)}
		}
		return obs
	}, tr
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

// oracle is Wald's SPRT for each metric knowing the true rates of every
// window: H0 "canary rate = stable rate" against H1 "canary rate = its
// true rate" when the canary is worse, else "= the tolerance boundary
// max(2 × stable, stable + 0.005)"; log(1/α) fails, −log(1/β) passes (and
// stays passed while the truth does not change; a change restarts the
// test, which only the oracle can know). It fails when a metric fails and
// passes when every metric passed.
func oracle(tr *truth, alpha, beta float64) analysis.Analyzer {
	var llr [2]float64
	var passed [2]bool
	var last [2]float64
	return analysis.AnalyzerFunc(func(_ context.Context, in analysis.Input) (analysis.Verdict, error) {
		v := analysis.Verdict{}
		fail, all := false, true
		for i := range llr {
			qs, qc := tr.stable[i], tr.canary[i]
			ratio := qc / math.Max(qs, 1e-12)
			if ratio != last[i] {
				// A new truth (the canary turned, or a shock moved the
				// rates): the oracle keeps its evidence only while the
				// canary's ratio to stable is unchanged.
				if math.Abs(ratio-last[i]) > 1e-9*math.Max(1, ratio) && last[i] != 0 {
					llr[i], passed[i] = 0, false
				}
				last[i] = ratio
			}
			alt := math.Max(2*qs, qs+0.005)
			if qc > qs*(1+1e-9) {
				alt = qc
			}
			alt = math.Min(alt, 1-1e-9)
			if qs > 0 && !passed[i] {
				llr[i] += tr.x[i]*math.Log(alt/qs) - tr.n[i]*(alt-qs)
			}
			switch {
			case llr[i] >= math.Log(1/alpha):
				fail = true
			case llr[i] <= -math.Log(1/beta):
				passed[i] = true
			}
			all = all && passed[i]
		}
		switch {
		case fail:
			v.Outcome, v.Reason = analysis.Fail, "oracle: worse"
		case all:
			v.Outcome, v.Reason = analysis.Pass, "oracle: no regression"
		default:
			v.Reason = "oracle: undecided"
		}
		return v, nil
	})
}

// Contender is a row of the tables: a preset, the baseline or the oracle.
type Contender struct {
	Name   string
	Policy rollback.Policy
	// Analyzer returns the analyzer for one run (the oracle reads the
	// run's truth).
	analyzer func(*truth) analysis.Analyzer
}

// Contenders returns every preset (the baseline last) and then the oracle,
// at α = β = 1 %.
func Contenders() []Contender {
	var out []Contender
	for _, p := range analysis.Presets(Metrics) {
		out = append(out, FromPreset(p))
	}
	return append(out, Oracle())
}

// FromPreset is the contender of preset p with its tuned policy.
func FromPreset(p analysis.Preset) Contender {
	return Contender{Name: p.Name, Policy: rollback.PresetPolicy(p), analyzer: func(*truth) analysis.Analyzer { return p.Analyzer }}
}

// Oracle is the SPRT that knows the true rates.
func Oracle() Contender {
	return Contender{Name: "oracle", Policy: rollback.Policy{FailureLimit: 1},
		analyzer: func(tr *truth) analysis.Analyzer { return oracle(tr, 0.01, 0.01) }}
}

// Outcome is one run's result.
type Outcome struct {
	RolledBack, Promoted bool
	// Minutes to the decision (0 when undecided).
	Minutes float64
}

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// Run replays one run of sc with contender c from seed.
func Run(ctx context.Context, c Contender, sc Scenario, seed uint64) (Outcome, error) {
	rec, tr := sc.recording(seed, t0)
	cfg := rollback.Config{Name: "quality", Plan: Plan, Policy: c.Policy, Analyzer: c.analyzer(tr)}
	res, err := rollback.Replay(ctx, cfg, t0, t0.Add(Horizon), rec)
	if err != nil {
		return Outcome{}, err
	}
	var o Outcome
	switch res.Final.Phase {
	case rollback.RolledBack, rollback.RollingBack:
		o.RolledBack = true
	case rollback.Succeeded, rollback.Promoting:
		o.Promoted = true
	default:
		return o, nil
	}
	o.Minutes = res.Decided.Sub(t0).Minutes()
	return o, nil
}

// Cell is the aggregate of a contender over runs of one scenario.
type Cell struct {
	Contender string
	Scenario
	Runs                 int
	RolledBack, Promoted int
	BackMin, PromoteMin  []float64
}

// Undecided is the number of runs still undecided at the horizon.
func (c Cell) Undecided() int { return c.Runs - c.RolledBack - c.Promoted }

// Seed is the seed of run i of sc: the same for every contender, so they
// are compared on the same draws.
func Seed(sc Scenario, i int) uint64 {
	return uint64(sc.Family)<<48 ^ uint64(sc.RPS*1000)<<24 ^ uint64(sc.ErrorRate*1e6)<<8 ^ uint64(i)*0x9e3779b97f4a7c15
}

// RunCell replays runs runs of sc with c.
func RunCell(ctx context.Context, c Contender, sc Scenario, runs int) (Cell, error) {
	cell := Cell{Contender: c.Name, Scenario: sc, Runs: runs}
	for i := 0; i < runs; i++ {
		o, err := Run(ctx, c, sc, Seed(sc, i))
		if err != nil {
			return cell, fmt.Errorf("%s, %v, %g rps, %g: run %d: %w", c.Name, sc.Family, sc.RPS, sc.ErrorRate, i, err)
		}
		switch {
		case o.RolledBack:
			cell.RolledBack++
			cell.BackMin = append(cell.BackMin, o.Minutes)
		case o.Promoted:
			cell.Promoted++
			cell.PromoteMin = append(cell.PromoteMin, o.Minutes)
		}
	}
	return cell, nil
}

// Quantile returns the q-quantile of the decision times of runs runs,
// counting undecided runs as later than any decision (+Inf), so a median
// exists only when at least half the runs decided that way. NaN when v is
// empty.
func Quantile(v []float64, runs int, q float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	k := int(math.Ceil(q*float64(runs))) - 1
	if k < 0 {
		k = 0
	}
	if k >= len(s) {
		return math.Inf(1)
	}
	return s[k]
}

func fmtMin(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case math.IsInf(v, 1):
		return "> 4 h"
	}
	return fmt.Sprintf("%.0f", v)
}

func pct(a, b int) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(a)/float64(b))
}

// Table renders, for each contender and family, the cells summed over the
// grid: rolled back / promoted / undecided at 4 h and the median and 90th
// percentile minutes to each decision (over all runs, undecided counting as
// later than 4 h).
func Table(cells []Cell) string {
	type key struct {
		c string
		f Family
	}
	agg := map[key]*Cell{}
	var order []key
	for _, c := range cells {
		k := key{c.Contender, c.Family}
		a := agg[k]
		if a == nil {
			a = &Cell{Contender: c.Contender, Scenario: Scenario{Family: c.Family}}
			agg[k] = a
			order = append(order, k)
		}
		a.Runs += c.Runs
		a.RolledBack += c.RolledBack
		a.Promoted += c.Promoted
		a.BackMin = append(a.BackMin, c.BackMin...)
		a.PromoteMin = append(a.PromoteMin, c.PromoteMin...)
	}
	var b strings.Builder
	b.WriteString("| contender | family | runs | rolled back | promoted | undecided at 4 h | rollback min median / p90 | promote min median / p90 |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range order {
		a := agg[k]
		fmt.Fprintf(&b, "| %s | %v | %d | %s | %s | %s | %s / %s | %s / %s |\n", a.Contender, a.Family, a.Runs,
			pct(a.RolledBack, a.Runs), pct(a.Promoted, a.Runs), pct(a.Undecided(), a.Runs),
			fmtMin(Quantile(a.BackMin, len(a.BackMin), 0.5)), fmtMin(Quantile(a.BackMin, len(a.BackMin), 0.9)),
			fmtMin(Quantile(a.PromoteMin, len(a.PromoteMin), 0.5)), fmtMin(Quantile(a.PromoteMin, len(a.PromoteMin), 0.9)))
	}
	return b.String()
}

// CellTable renders one line per scenario comparing contender a with the
// oracle: medians over all runs (undecided counting as later than 4 h).
func CellTable(cells []Cell, name string) string {
	type key struct {
		f      Family
		rps, q float64
	}
	oracle := map[key]Cell{}
	for _, c := range cells {
		if c.Contender == "oracle" {
			oracle[key{c.Family, c.RPS, c.ErrorRate}] = c
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| family | req/s | stable errors | %s back / promoted / undecided | oracle back / promoted / undecided | %s median min (back, promote) | oracle median min (back, promote) |\n", name, name)
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cells {
		if c.Contender != name {
			continue
		}
		o := oracle[key{c.Family, c.RPS, c.ErrorRate}]
		fmt.Fprintf(&b, "| %v | %g | %g %% | %d / %d / %d | %d / %d / %d | %s, %s | %s, %s |\n", c.Family, c.RPS, 100*c.ErrorRate,
			c.RolledBack, c.Promoted, c.Undecided(), o.RolledBack, o.Promoted, o.Undecided(),
			fmtMin(Quantile(c.BackMin, c.Runs, 0.5)), fmtMin(Quantile(c.PromoteMin, c.Runs, 0.5)),
			fmtMin(Quantile(o.BackMin, o.Runs, 0.5)), fmtMin(Quantile(o.PromoteMin, o.Runs, 0.5)))
	}
	return b.String()
}
