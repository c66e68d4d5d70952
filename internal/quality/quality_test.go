package quality

import (
	"context"
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var (
	full    = flag.Bool("quality.full", false, "run the whole decision-quality grid and print its tables")
	history = flag.Bool("quality.history", false, "with -quality.full: print the previous suite's tables (issue 8's grid and oracle) instead, as history")
	extra   = flag.Bool("quality.extra", false, "with -quality.full: replay the families beyond issue 18's grid (regressions during an incident on both versions) instead")
	runs    = flag.Int("quality.runs", 100, "runs per cell with -quality.full")
	single  = flag.Bool("quality.nobuckets", false, "with -quality.full: the stable version's history reaches the presets as one count (as through a rollout's providers today), not per minute")
	// Narrower runs of TestQualityTable, to iterate on the cells that miss
	// without replaying the whole grid.
	rpsFlag     = flag.String("quality.rps", "", "with -quality.full: comma-separated requests/s to replay (default 0.5,5,50)")
	ratesFlag   = flag.String("quality.rates", "", "with -quality.full: comma-separated stable error rates (default 0.001,0.005,0.01)")
	familyFlag  = flag.String("quality.family", "", "with -quality.full: replay only the families whose name contains one of these comma-separated words")
	contendFlag = flag.String("quality.contenders", "", "with -quality.full: comma-separated contenders (default: default; the oracle is always run): presets, informed (the oracle without the canary's true rate), informed/<prior> for the other priors tried, informed/unconditional, oracle/reseeded (the noise floor), or all")
)

// floats parses a comma-separated list of numbers, def when s is empty.
func floats(t *testing.T, s string, def []float64) []float64 {
	t.Helper()
	if s == "" {
		return def
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			t.Fatalf("bad number %q: %v", f, err)
		}
		out = append(out, v)
	}
	return out
}

// narrowed applies -quality.family to scs and -quality.contenders (or
// only def when it is empty) to cs.
func narrowed(scs []Scenario, cs []Contender, def string) ([]Scenario, []Contender) {
	if *familyFlag != "" {
		var keep []Scenario
		for _, sc := range scs {
			for _, w := range strings.Split(*familyFlag, ",") {
				if w != "" && strings.Contains(sc.Family.String(), w) {
					keep = append(keep, sc)
					break
				}
			}
		}
		scs = keep
	}
	want := def
	if *contendFlag != "" {
		want = *contendFlag
	}
	if want != "all" {
		var keep []Contender
		for _, c := range cs {
			if c.Name == "oracle" || slices.Contains(strings.Split(want, ","), c.Name) {
				keep = append(keep, c)
			}
		}
		cs = keep
	}
	return scs, cs
}

// grid returns the scenarios of the given families, traffic and stable
// error rates.
func grid(fs []Family, rps, rates []float64) []Scenario {
	var out []Scenario
	for _, f := range fs {
		for _, r := range rps {
			for _, q := range rates {
				out = append(out, Scenario{Family: f, RPS: r, ErrorRate: q})
			}
		}
	}
	return out
}

func runGrid(t *testing.T, cs []Contender, scs []Scenario, runs int) []Cell {
	t.Helper()
	var cells []Cell
	for _, c := range cs {
		for _, sc := range scs {
			cell, err := RunCell(context.Background(), c, sc, runs)
			if err != nil {
				t.Fatal(err)
			}
			cells = append(cells, cell)
		}
	}
	return cells
}

// TestQualityTable prints issue 18's tables, the default preset against
// the oracle (the limit):
//
//	go test ./internal/quality -run TestQualityTable -v -quality.full
//
// with -quality.extra the same for the families beyond the grid
// (regressions during an incident on both versions), and with
// -quality.history the previous suite's tables (issue 8's grid,
// every preset, the previous oracle), kept as history.
func TestQualityTable(t *testing.T) {
	if !*full {
		t.Skip("the full grid takes minutes; run with -quality.full")
	}
	if *history {
		scs := grid(HistoryFamilies(), floats(t, *rpsFlag, []float64{0.5, 5, 50, 500}), floats(t, *ratesFlag, []float64{0.001, 0.005, 0.01, 0.02}))
		scs, cs := narrowed(scs, HistoryContenders(), "all")
		cells := runGrid(t, cs, scs, *runs)
		t.Logf("HISTORY (issue 8's suite and its oracle, which restarts on every change of the rates' ratio and is replayed through the stage-on-Pass machinery): plan StageWeight 10, MaxWeight 50, Interval 1m, progress deadline 4 h; α = β = 1 %%; %d runs per cell\n\n%s\n%s",
			*runs, Table(cells), HistoryCellTable(cells, "default"))
		return
	}
	fams := Families()
	if *extra {
		fams = ExtraFamilies()
	}
	scs := grid(fams, floats(t, *rpsFlag, []float64{0.5, 5, 50}), floats(t, *ratesFlag, []float64{0.001, 0.005, 0.01}))
	scs, cs := narrowed(scs, append(append(Contenders(), InformedVariants()...), ReseededOracle()), "default")
	for i := range cs {
		cs[i].Buckets = cs[i].Buckets && !*single
	}
	cells := runGrid(t, cs, scs, *runs)
	t.Logf("plan StageWeight 10, MaxWeight 50, Interval 1m, other settings default; oracle: one SPRT over the rollout on the conditional binomial, α = β = 1 %%; %d runs per cell\n\n%s", *runs, Table(cells))
	informed := slices.ContainsFunc(cs, func(c Contender) bool { return c.Name == "informed" })
	for _, c := range cs {
		if c.Name != "oracle" {
			t.Logf("\n%s\n%s", CellTable(cells, c.Name), Summarize(cells, c.Name))
		}
		if informed && !strings.HasPrefix(c.Name, "oracle") && !strings.HasPrefix(c.Name, "informed") {
			t.Logf("\n%s against informed (the oracle without the canary's true rate) in the oracle's place: %s", c.Name, SummarizeAgainst(cells, c.Name, "informed"))
		}
	}
}

// Summary counts, for one contender over a grid, the targets: the
// safety lines over all runs and the speed and harm lines over cells.
type Summary struct {
	GoodBack, GoodRuns   int // good canaries rolled back, of
	ClearProm, ClearRuns int // clear regressions promoted, of
	// Promotion cells: good cells where the oracle decides (promotes or
	// rolls back) in most runs — more than half — as the issue words it.
	PromCells, Prom15, Prom2 int
	// Clear-regression cells where the oracle rolls back in most runs:
	// median minutes ≤ the oracle's + 1 interval.
	BackCells, BackOK int
	// Clear-regression cells: median errors served ≤ 1.5 × the oracle's.
	HarmCells, Harm15 int
	// Good runs that the oracle (same seed) promotes within an hour, and
	// how many of them paused for a person.
	Oracle60, Paused60 int
	// Good runs paused for a person.
	Paused int
	// Misses lists the cells that miss a speed or harm target.
	Misses []string
}

// Summarize computes the Summary of contender name against the oracle.
func Summarize(cells []Cell, name string) Summary { return SummarizeAgainst(cells, name, "oracle") }

// SummarizeAgainst computes the Summary of contender name with contender
// ref in the oracle's place (Informed, for the targets as they would read
// against the best rule that does not know the canary's rate).
func SummarizeAgainst(cells []Cell, name, ref string) Summary {
	oracle := cellsOf(cells, ref)
	var s Summary
	for _, c := range cells {
		if c.Contender != name {
			continue
		}
		o, ok := oracle[keyOf(c)]
		where := fmt.Sprintf("%v at %g req/s, stable %g %%", c.Family, c.RPS, 100*c.ErrorRate)
		switch {
		case c.Family.Good():
			s.GoodBack += c.RolledBack
			s.GoodRuns += c.Runs
			n, _ := c.Paused()
			s.Paused += n
			if !ok {
				break
			}
			for i, oo := range o.Outcomes {
				if oo.Promoted && oo.Minutes <= 60 && i < len(c.Outcomes) {
					s.Oracle60++
					if c.Outcomes[i].Paused {
						s.Paused60++
					}
				}
			}
			// The cells: those where the oracle decides (promotes
			// or rolls back) in most runs, more than half. Where it
			// decides in most but promotes in at most half, its median is
			// "> 4 h" and any median is within 1.5 × it.
			if 2*(o.Promoted+o.RolledBack) <= o.Runs {
				break
			}
			late := func(v float64) float64 {
				if math.IsNaN(v) {
					return math.Inf(1) // no run promoted: later than 4 h
				}
				return v
			}
			om, m := late(Quantile(o.PromoteMin, o.Runs, 0.5)), late(Quantile(c.PromoteMin, c.Runs, 0.5))
			s.PromCells++
			if m <= 1.5*om {
				s.Prom15++
			} else {
				s.Misses = append(s.Misses, fmt.Sprintf("%s: median minutes to promote %s, oracle %s", where, fmtMin(m), fmtMin(om)))
			}
			if m <= 2*om {
				s.Prom2++
			}
		case c.Clear():
			s.ClearProm += c.Promoted
			s.ClearRuns += c.Runs
			if !ok {
				break
			}
			s.HarmCells++
			if oh, h := median(o.Harms()), median(c.Harms()); h <= 1.5*oh {
				s.Harm15++
			} else {
				s.Misses = append(s.Misses, fmt.Sprintf("%s: median errors served %.0f, oracle %.0f", where, h, oh))
			}
			om, m := Quantile(o.BackMin, o.Runs, 0.5), Quantile(c.BackMin, c.Runs, 0.5)
			if math.IsNaN(om) || math.IsInf(om, 1) {
				break
			}
			s.BackCells++
			if m <= om+Interval.Minutes() {
				s.BackOK++
			} else {
				s.Misses = append(s.Misses, fmt.Sprintf("%s: median minutes to roll back %s, oracle %s", where, fmtMin(m), fmtMin(om)))
			}
		}
	}
	return s
}

func (s Summary) String() string {
	return fmt.Sprintf("good canaries rolled back %d of %d (%s); clear regressions promoted %d of %d (%s); "+
		"cells with median minutes to promote ≤ 1.5 × the oracle's: %d of %d (≤ 2 ×: %d); "+
		"with median errors served by a clear regression ≤ 1.5 × the oracle's: %d of %d; "+
		"with median minutes to roll back ≤ the oracle's + 1 interval: %d of %d; "+
		"good canaries paused for a person: %d of %d, of which %d of the %d the oracle promotes within an hour\nmisses:\n  %s",
		s.GoodBack, s.GoodRuns, pct(s.GoodBack, s.GoodRuns), s.ClearProm, s.ClearRuns, pct(s.ClearProm, s.ClearRuns),
		s.Prom15, s.PromCells, s.Prom2, s.Harm15, s.HarmCells, s.BackOK, s.BackCells,
		s.Paused, s.GoodRuns, s.Paused60, s.Oracle60, strings.Join(s.Misses, "\n  "))
}

// TestTargets replays the default preset and simulates the oracle on a
// bounded grid with fixed seeds — every family at 5 and 50 requests/s and
// stable error rates 0.1, 0.5 and 1 %, 12 runs a cell; no clock: every
// instant is computed — and asserts issue 18's targets that hold there as
// the issue states them (≤ 1 % of good canaries rolled back; ≤ 1 % of
// clear regressions promoted, the canary turning bad at minute 4
// included; promotion speed) and, as a ratchet, the promotion-speed cells
// reached beyond the 90 %, and the harm, rollback-speed
// and pause figures reached so far (the cells that miss are logged;
// BENCHMARKS.md has the whole grid).
func TestTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("replays about a thousand rollouts")
	}
	scs := grid(Families(), []float64{5, 50}, []float64{0.001, 0.005, 0.01})
	cells := runGrid(t, []Contender{FromPresetNamed("default"), Oracle()}, scs, 12)
	s := Summarize(cells, "default")
	t.Logf("\n%s\n%s", CellTable(cells, "default"), s)
	if lim := 0.01 * float64(s.GoodRuns); float64(s.GoodBack) > lim {
		t.Errorf("%d of %d good canaries rolled back, want ≤ 1 %%", s.GoodBack, s.GoodRuns)
	}
	if lim := 0.01 * float64(s.ClearRuns); float64(s.ClearProm) > lim {
		t.Errorf("%d of %d clear regressions promoted, want ≤ 1 %%", s.ClearProm, s.ClearRuns)
	}
	// The targets that hold on this grid, asserted as the issue
	// states them: promotion ≤ 1.5 × the oracle's in at least 90 % of the
	// cells where the oracle promotes in most runs and ≤ 2 × in every
	// one.
	if s.PromCells == 0 || 10*s.Prom15 < 9*s.PromCells {
		t.Errorf("cells with median minutes to promote ≤ 1.5 × the oracle's: %d of %d, want ≥ 90 %%", s.Prom15, s.PromCells)
	}
	if s.Prom15 < ratchetProm15 {
		t.Errorf("cells with median minutes to promote ≤ 1.5 × the oracle's: %d of %d, want ≥ %d (the ratchet)", s.Prom15, s.PromCells, ratchetProm15)
	}
	if s.Prom2 != s.PromCells {
		t.Errorf("cells with median minutes to promote ≤ 2 × the oracle's: %d of %d, want all", s.Prom2, s.PromCells)
	}
	// The ratchet: what holds today of the targets not yet met (raise it
	// when the figures improve).
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"clear-regression cells with median errors served ≤ 1.5 × the oracle's (issue: every cell)", s.Harm15, ratchetHarm15},
		{"clear-regression cells with median minutes to roll back ≤ the oracle's + 1 interval (issue: ≥ 80 %)", s.BackOK, ratchetBack},
	} {
		if c.got < c.want {
			t.Errorf("%s: %d, want ≥ %d", c.what, c.got, c.want)
		}
	}
	if s.Paused60 > ratchetPaused60 {
		t.Errorf("good canaries the oracle promotes within an hour that paused for a person: %d of %d, want ≤ %d (issue: none)", s.Paused60, s.Oracle60, ratchetPaused60)
	}
}

// The ratchet of TestTargets: the figures reached on its grid (30
// promotion cells, 18 cells each for harm and rollback, 320 runs the
// oracle promotes within an hour for pauses), with h18core's advance on
// leaning evidence merged (at c7d1b8c; before it they were 13, 8 and 197
// for harm, rollback and pauses), and promotion 28 → 29 of 30 once an
// incident on both versions no longer set the scale of Rates'
// alternatives nor took the absolute Pass test from a stage (h18speed).
// The promotion target the issue states (≥ 90 % of the cells) is asserted
// above; this holds what was reached beyond it. Harm 13 → 17 and rollback
// 11 → 12 of 18 once the stable version's history came per minute
// (Observation.Baseline.Buckets) and, showing no clustering, let one
// window's Fail evidence decide from the first window (h18b).
const (
	ratchetProm15   = 29
	ratchetHarm15   = 17
	ratchetBack     = 12
	ratchetPaused60 = 0
)

// TestSummarizeCountsCellsWhereTheOracleDecidesInMostRuns: the promotion
// targets count the good cells where the oracle decides in most runs —
// more than half, as the issue words it: a cell where it decides in
// exactly half is not one (it was, when the suite counted every cell with
// a median minute), one where it decides in 51 of 100 is, and there a
// contender that promotes no run by 4 h misses against an oracle whose
// median is 200 minutes.
func TestSummarizeCountsCellsWhereTheOracleDecidesInMostRuns(t *testing.T) {
	cell := func(name string, promoted int, at float64) Cell {
		c := Cell{Contender: name, Scenario: Scenario{Family: GoodNoise, RPS: 0.5, ErrorRate: 0.01}, Runs: 100, Promoted: promoted}
		for i := 0; i < 100; i++ {
			o := Outcome{}
			if i < promoted {
				o.Promoted, o.Minutes = true, at
				c.PromoteMin = append(c.PromoteMin, at)
			}
			c.Outcomes = append(c.Outcomes, o)
		}
		return c
	}
	for _, c := range []struct {
		oracle, preset int
		cells, met     int
	}{
		{50, 0, 0, 0},
		{51, 0, 1, 0},
		{51, 51, 1, 1},
		{51, 40, 1, 0},
	} {
		s := Summarize([]Cell{cell("default", c.preset, 200), cell("oracle", c.oracle, 200)}, "default")
		if s.PromCells != c.cells || s.Prom15 != c.met || s.Prom2 != c.met {
			t.Errorf("oracle promotes %d of 100, preset %d: cells %d, ≤ 1.5 × %d, ≤ 2 × %d; want %d, %d, %d",
				c.oracle, c.preset, s.PromCells, s.Prom15, s.Prom2, c.cells, c.met, c.met)
		}
	}
}
