package rollback_test

// The decision-quality suite (issue 3, item 9): every shipped analysis
// preset, and the plain fixed-threshold rule as the baseline, replayed with
// rollback.Replay over synthetic, labelled scenarios generated from a seed.
// Run the full suite and print the table with
//
//	go test -run TestDecisionQuality -v ./rollback/
//
// (-short runs a tenth of the scenarios and checks nothing but sanity).

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

// scenario describes one labelled kind of canary.
type scenario struct {
	name string
	bad  bool
	rps  float64 // requests per second over both versions
	// errMult and latMult multiply the canary's error rate and p99.
	errMult, latMult float64
	dip              bool // traffic falls to 20 % for minutes 3–6
	drift            bool // from minute 4 both versions: errors ×3, p99 ×1.4
}

var qualityScenarios = []scenario{
	{name: "good, noise", rps: 100, errMult: 1, latMult: 1},
	{name: "good, traffic dip", rps: 100, errMult: 1, latMult: 1, dip: true},
	{name: "good, drift on both", rps: 100, errMult: 1, latMult: 1, drift: true},
	{name: "good, low traffic", rps: 5, errMult: 1, latMult: 1},
	{name: "bad, 2× errors", bad: true, rps: 100, errMult: 2, latMult: 1},
	{name: "bad, 5× errors", bad: true, rps: 100, errMult: 5, latMult: 1},
	{name: "bad, +50 % p99", bad: true, rps: 100, errMult: 1, latMult: 1.5},
	{name: "bad, 5× errors, low traffic", bad: true, rps: 5, errMult: 5, latMult: 1},
}

const (
	baseErrorRate = 0.005 // the stable version's error rate
	baseP99       = 0.250 // seconds
	p99Sigma      = 0.5   // log-normal shape of request latency
)

func poisson(r *rand.Rand, mean float64) int64 {
	if mean <= 0 {
		return 0
	}
	if mean < 50 {
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

// p99Estimate is the p99 measured over n log-normal requests: the true p99
// with the sampling noise of an empirical quantile, sd = √(p(1−p)/n)/f(q).
func p99Estimate(r *rand.Rand, p99 float64, n int64) float64 {
	const z99 = 2.3263478740408408
	dens := math.Exp(-z99*z99/2) / math.Sqrt(2*math.Pi) // φ(z99)
	rel := math.Sqrt(0.99*0.01/float64(n)) * p99Sigma / dens
	return p99 * math.Max(0.2, 1+rel*r.NormFloat64())
}

// recording generates one run of sc from seed: what each analysis would
// have measured given the split in force.
func recording(sc scenario, seed uint64, t0 time.Time) rollback.Recording {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	return func(now time.Time, split traffic.Split) []analysis.Observation {
		min := now.Sub(t0).Minutes()
		rps, errRate, p99 := sc.rps, baseErrorRate, baseP99
		if sc.dip && min >= 3 && min < 6 {
			rps *= 0.2
		}
		if sc.drift && min >= 4 {
			errRate *= 3
			p99 *= 1.4
		}
		w := float64(split.Canary) / 100
		nc := poisson(r, rps*60*w)
		ns := poisson(r, rps*60*(1-w))
		measure := func(n int64, rate, p99 float64) (analysis.Measurement, analysis.Measurement) {
			if n == 0 {
				return analysis.Measurement{}, analysis.Measurement{}
			}
			e := min64(poisson(r, float64(n)*rate), n)
			return analysis.Observed(float64(e)/float64(n), n), analysis.Observed(p99Estimate(r, p99, n), n)
		}
		ce, cl := measure(nc, errRate*sc.errMult, p99*sc.latMult)
		se, sl := measure(ns, errRate, p99)
		return []analysis.Observation{
			{Metric: "error-rate", Canary: ce, Stable: se},
			{Metric: "latency-p99", Canary: cl, Stable: sl},
		}
	}
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

// qualityPlan is the rollout every scenario is replayed with: steps of
// 10, 20, 30 and 50 % held 2 minutes each, one analysis a minute.
var qualityPlan = rollback.Plan{Stages: rollback.Weights(10, 20, 30, 50), Interval: time.Minute, Hold: 2 * time.Minute, ProgressDeadline: 30 * time.Minute}

type qualityRow struct {
	preset, scenario string
	bad              bool
	runs, rolledBack int
	within2          int // rolled back at the first or second analysis
	looks            []int
}

func (q qualityRow) median() string {
	if len(q.looks) == 0 {
		return "–"
	}
	s := slices.Clone(q.looks)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return fmt.Sprint(s[n/2])
	}
	return fmt.Sprint(float64(s[n/2-1]+s[n/2]) / 2)
}

func runQuality(t *testing.T, runs int) []qualityRow {
	t.Helper()
	metrics := analysis.PresetMetrics{ErrorRate: "error-rate", Latency: "latency-p99"}
	var rows []qualityRow
	for _, p := range analysis.Presets(metrics) {
		for si, sc := range qualityScenarios {
			row := qualityRow{preset: p.Name, scenario: sc.name, bad: sc.bad, runs: runs}
			for i := 0; i < runs; i++ {
				pol := rollback.PresetPolicy(p)
				pol.OnInconclusive = rollback.RollBackInconclusive // as the presets were tuned
				cfg := rollback.Config{Name: "quality", Plan: qualityPlan, Policy: pol, Analyzer: p.Analyzer,
					Metrics: []rollback.Metric{{Name: "error-rate"}, {Name: "latency-p99"}}} // Replay keeps the names only
				res, err := rollback.Replay(ctx, cfg, t0, t0.Add(2*time.Hour), recording(sc, uint64(si*1_000_000+i), t0))
				if err != nil {
					t.Fatalf("%s/%s run %d: %v", p.Name, sc.name, i, err)
				}
				switch res.Final.Phase {
				case rollback.RolledBack:
					row.rolledBack++
					row.looks = append(row.looks, res.Looks)
					if res.Looks <= 2 {
						row.within2++
					}
				case rollback.Succeeded:
				default:
					t.Fatalf("%s/%s run %d ended in %v", p.Name, sc.name, i, res.Final.Phase)
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}

func pct(a, b int) float64 { return 100 * float64(a) / float64(b) }

func qualityTable(rows []qualityRow) string {
	var b strings.Builder
	b.WriteString("| preset | scenario | runs | rolled back | within 2 intervals | median intervals to rollback |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %.1f %% | %.1f %% | %s |\n", r.preset, r.scenario, r.runs, pct(r.rolledBack, r.runs), pct(r.within2, r.runs), r.median())
	}
	b.WriteString("\n| preset | detection rate (bad rolled back) | false-rollback rate (good rolled back) | median intervals to rollback (bad) |\n|---|---:|---:|---:|\n")
	byPreset := map[string]*qualityRow{}
	var order []string
	good := map[string][2]int{}
	for _, r := range rows {
		if byPreset[r.preset] == nil {
			byPreset[r.preset] = &qualityRow{preset: r.preset}
			order = append(order, r.preset)
		}
		if r.bad {
			a := byPreset[r.preset]
			a.runs += r.runs
			a.rolledBack += r.rolledBack
			a.looks = append(a.looks, r.looks...)
		} else {
			g := good[r.preset]
			good[r.preset] = [2]int{g[0] + r.rolledBack, g[1] + r.runs}
		}
	}
	for _, p := range order {
		a, g := byPreset[p], good[p]
		fmt.Fprintf(&b, "| %s | %.1f %% | %.2f %% | %s |\n", p, pct(a.rolledBack, a.runs), pct(g[0], g[1]), a.median())
	}
	return b.String()
}

func TestDecisionQuality(t *testing.T) {
	runs := 1000
	if testing.Short() {
		runs = 100
	}
	rows := runQuality(t, runs)
	t.Logf("plan: steps 10/20/30/50 %%, 2 min hold, 1 min analysis interval; stable error rate %.1f %%, p99 %v ms; %d runs per scenario\n\n%s",
		100*baseErrorRate, 1000*baseP99, runs, qualityTable(rows))
	// The targets of the default preset (issue 3): at least 99 % of 5× bad
	// canaries rolled back within 2 intervals of the fault, at most 1 % of
	// good canaries rolled back.
	goodRB, goodRuns := 0, 0
	for _, r := range rows {
		if r.preset != "default" {
			continue
		}
		if r.scenario == "bad, 5× errors" && pct(r.within2, r.runs) < 99 {
			t.Errorf("default preset: %.1f %% of 5× bad canaries rolled back within 2 intervals, want ≥ 99 %%", pct(r.within2, r.runs))
		}
		if !r.bad {
			goodRB += r.rolledBack
			goodRuns += r.runs
		}
	}
	if pct(goodRB, goodRuns) > 1 {
		t.Errorf("default preset rolled back %.2f %% of good canaries, want ≤ 1 %%", pct(goodRB, goodRuns))
	}
}
