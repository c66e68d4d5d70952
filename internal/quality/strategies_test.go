package quality

// Decision quality of the release strategies (issue 20): an A/B family
// and a blue/green family, replayed through the rollout's own machinery
// (rollback.Replay) over the same seeded traffic as issue 18's grid.
//
//	go test ./internal/quality -run 'TestABTestFamily|TestBlueGreenFamily' -v [-quality.full]
//
// A/B: the cohort is 10 % of the requests (a header match), the rest go
// to stable; 10 analyses at least (Flagger's iterations), then a Pass
// promotes and a Fail rolls back. Blue/green: 10 % of production is
// mirrored to the new version for 10 minutes at least before the switch
// (its responses discarded, so its errors reach no user), then every
// request switches to it for a 30-minute post-promotion analysis; a
// failure switches back. The family "turns 5× bad at 30 %" is the new
// version that is bad only once it takes the traffic: it can only be
// caught after the switch (at a stable error rate of 0.1 % it is not a
// clear regression: 5 × 0.1 % is less than 0.5 points above stable).

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

// cohortShare is the A/B cohort's share of the requests.
const cohortShare = 10

// abPlan is the A/B family's plan.
var abPlan = rollback.Plan{Interval: Interval, Strategy: rollback.StrategyABTest,
	ABTest: &rollback.ABTest{Cohort: []traffic.Match{{Header: "x-beta", Value: "yes"}}, Iterations: 10}}

// bgPlan is the blue/green family's plan.
var bgPlan = rollback.Plan{Interval: Interval, Strategy: rollback.StrategyBlueGreen,
	BlueGreen: &rollback.BlueGreen{Mirror: 10, PrePromotion: 10 * time.Minute, PostPromotion: 30 * time.Minute, ScaleDownDelay: 30 * time.Minute}}

// shapeRec maps the split a shape writes to the traffic the canary gets
// (the recording knows only weights): an A/B cohort is cohortShare % of
// the requests, a mirror its percentage (copies). mirrored records the
// window ends whose canary requests were copies.
func shapeRec(rec rollback.Recording, mirrored map[int]bool) rollback.Recording {
	return func(now time.Time, s traffic.Split) []analysis.Observation {
		switch {
		case !s.Cohort.IsZero() && s.Canary == 0:
			s = traffic.Weighted(cohortShare)
		case s.Mirror > 0 && s.Canary == 0:
			mirrored[int(now.Sub(t0)/Interval)] = true
			s = traffic.Weighted(s.Mirror)
		}
		return rec(now, s)
	}
}

// postAnalyzer is blue/green's analyzer after the switch
// (Config.PostPromotionAnalyzer), when stable's short window is empty: a
// DualWindow on the error rate against the service's history (the hour
// before, Observation.Baseline) and a bound, max(2 × stable's rate,
// stable's + 0.5 points) — the regression the preset is tuned to, as an
// operator would set it from the service's normal error rate. Before the
// switch the default preset judges the mirrored requests against stable.
func postAnalyzer(sc Scenario) analysis.Analyzer {
	return analysis.DualWindow{Metric: ErrorMetrics.ErrorRate, Bound: math.Max(2*sc.ErrorRate, sc.ErrorRate+0.005), Tolerance: 1, MinCount: 100}
}

// shapeOutcome is one run of a shape.
type shapeOutcome struct {
	Outcome
	// Switched: blue/green switched to the new version; SwitchedBack: a
	// failure after the switch switched back.
	Switched, SwitchedBack bool
	// AfterSwitch is the minutes from the switch to the switch back.
	AfterSwitch float64
}

// replayShape replays one seeded run of sc with plan, the default preset
// (blue/green: postAnalyzer after the switch) and the preset's policy
// (blue/green: three failures in a row, since DualWindow judges each
// minute alone).
func replayShape(ctx context.Context, plan rollback.Plan, sc Scenario, seed uint64) (shapeOutcome, error) {
	rec, tr := sc.recording(seed, t0, false, false)
	mirrored := map[int]bool{}
	p := analysis.DefaultPreset(ErrorMetrics)
	cfg := rollback.Config{Name: "quality", Plan: plan, Policy: rollback.PresetPolicy(p), Analyzer: p.Analyzer,
		Metrics: []rollback.Metric{{Name: Metrics.ErrorRate}}}
	if plan.Strategy == rollback.StrategyBlueGreen {
		cfg.PostPromotionAnalyzer = postAnalyzer(sc)
		cfg.Policy = rollback.Policy{FailureLimit: 3, Counting: rollback.Consecutive}
	}
	res, err := rollback.Replay(ctx, cfg, t0, t0.Add(Horizon), shapeRec(rec, mirrored))
	if err != nil {
		return shapeOutcome{}, err
	}
	var o shapeOutcome
	var switchedAt time.Time
	for _, e := range res.Events {
		switch {
		case e.Kind == rollback.KindTransition && e.To == rollback.Paused && !o.Paused:
			o.Paused, o.PausedAt = true, e.Time.Sub(t0).Minutes()
		case e.Kind == rollback.KindAction && e.Split != nil && strings.HasPrefix(e.Reason, "switch:"):
			o.Switched, switchedAt = true, e.Time
		case e.Kind == rollback.KindAction && e.Split != nil && strings.HasPrefix(e.Reason, "switch back"):
			o.SwitchedBack, o.AfterSwitch = true, e.Time.Sub(switchedAt).Minutes()
		}
	}
	switch res.Final.Phase {
	case rollback.RolledBack, rollback.RollingBack:
		o.RolledBack = true
	case rollback.Succeeded, rollback.Promoting:
		o.Promoted = true
	}
	if o.RolledBack || o.Promoted {
		o.Minutes = res.Decided.Sub(t0).Minutes()
	}
	o.Harm = harm(tr, o.Outcome, sc)
	if len(mirrored) > 0 {
		// A mirrored request's response reaches no user: the errors of
		// those windows harmed nobody.
		for _, w := range tr.windows {
			if mirrored[w.end] && (!(o.RolledBack || o.Promoted) || float64(w.end) <= o.Minutes) {
				o.Harm -= w.x[0]
			}
		}
	}
	return o, nil
}

// shapeCell is a cell of a shape's grid.
type shapeCell struct {
	Cell
	switched, switchedBack int
	afterSwitch            []float64 // minutes from the switch to the switch back
}

func runShape(t *testing.T, name string, plan rollback.Plan, scs []Scenario, runs int) []shapeCell {
	t.Helper()
	var cells []shapeCell
	for _, sc := range scs {
		c := shapeCell{Cell: Cell{Contender: name, Scenario: sc, Runs: runs}}
		for i := 0; i < runs; i++ {
			o, err := replayShape(context.Background(), plan, sc, Seed(sc, i))
			if err != nil {
				t.Fatalf("%s, %v, %g rps: run %d: %v", name, sc.Family, sc.RPS, i, err)
			}
			c.Outcomes = append(c.Outcomes, o.Outcome)
			switch {
			case o.RolledBack:
				c.RolledBack++
				c.BackMin = append(c.BackMin, o.Minutes)
			case o.Promoted:
				c.Promoted++
				c.PromoteMin = append(c.PromoteMin, o.Minutes)
			}
			if o.Switched {
				c.switched++
			}
			if o.SwitchedBack {
				c.switchedBack++
				c.afterSwitch = append(c.afterSwitch, o.AfterSwitch)
			}
		}
		cells = append(cells, c)
	}
	return cells
}

// shapeTable renders a shape's cells: right, wrong and undecided at 4 h,
// minutes to the right decision (median, p90), for a worse canary the
// median errors it served to users, and for blue/green the switches and
// switches back.
func shapeTable(cells []shapeCell, bg bool) string {
	var b strings.Builder
	b.WriteString("| family | req/s | stable errors | right % | wrong % | undecided at 4 h % | min to right, median | p90 | canary errors served, median | paused for a person % |")
	if bg {
		b.WriteString(" switched % | switched back % | min from switch to switch back, median |")
	}
	b.WriteString("\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	if bg {
		b.WriteString("---:|---:|---:|")
	}
	b.WriteString("\n")
	for _, c := range cells {
		harmCol := ""
		if !c.Family.Good() {
			harmCol = fmtCount(median(c.Harms()))
		}
		n, _ := c.Paused()
		fmt.Fprintf(&b, "| %v | %g | %g %% | %s | %s | %s | %s | %s | %s | %s |", c.Family, c.RPS, 100*c.ErrorRate,
			pctN(c.Right(), c.Runs), pctN(c.Wrong(), c.Runs), pctN(c.Undecided(), c.Runs),
			fmtMin(Quantile(c.RightMin(), c.Runs, 0.5)), fmtMin(Quantile(c.RightMin(), c.Runs, 0.9)), harmCol, pctN(n, c.Runs))
		if bg {
			fmt.Fprintf(&b, " %s | %s | %s |", pctN(c.switched, c.Runs), pctN(c.switchedBack, c.Runs), fmtMin(median(c.afterSwitch)))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// shapeGrid is the grid of the shapes' families: with -quality.full
// issue 18's (0.5, 5 and 50 req/s; 0.1, 0.5 and 1 %), otherwise 5 and
// 50 req/s at 0.5 % (every instant computed, no clock).
func shapeGrid(t *testing.T, fams []Family) ([]Scenario, int) {
	if *full {
		scs, _ := narrowed(grid(fams, floats(t, *rpsFlag, []float64{0.5, 5, 50}), floats(t, *ratesFlag, []float64{0.001, 0.005, 0.01})), nil, "all")
		return scs, *runs
	}
	return grid(fams, []float64{5, 50}, []float64{0.005}), 12
}

// assertSafe checks issue 18's safety lines over cells: at most 1 % of
// the clear regressions' runs promoted, at most 1 % of the good
// canaries' runs rolled back.
func assertSafe(t *testing.T, cells []shapeCell) (clearProm, clearRuns, goodBack, goodRuns int) {
	t.Helper()
	for _, c := range cells {
		switch {
		case c.Family.Good():
			goodBack += c.RolledBack
			goodRuns += c.Runs
		case c.Clear():
			clearProm += c.Promoted
			clearRuns += c.Runs
		}
	}
	if clearRuns == 0 {
		t.Fatal("no clear regression in the grid")
	}
	if float64(clearProm) > 0.01*float64(clearRuns) {
		t.Errorf("%d of %d clear regressions promoted, want ≤ 1 %%", clearProm, clearRuns)
	}
	if float64(goodBack) > 0.01*float64(goodRuns) {
		t.Errorf("%d of %d good canaries rolled back, want ≤ 1 %%", goodBack, goodRuns)
	}
	return
}

func TestABTestFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a few hundred rollouts")
	}
	scs, n := shapeGrid(t, Families())
	cells := runShape(t, "default", abPlan, scs, n)
	cp, cr, gb, gr := assertSafe(t, cells)
	t.Logf("A/B test: cohort %d %% of the requests, at least %d analyses, default preset and policy; %d runs per cell\n\n%s\nclear regressions promoted %d of %d (%s); good canaries rolled back %d of %d (%s)",
		cohortShare, abPlan.ABTest.Iterations, n, shapeTable(cells, false), cp, cr, pct(cp, cr), gb, gr, pct(gb, gr))
	// Nothing is promoted before the test's iterations.
	for _, c := range cells {
		for _, m := range c.PromoteMin {
			if m < float64(abPlan.ABTest.Iterations) {
				t.Errorf("%v at %g req/s: promoted at minute %g, before %d analyses", c.Family, c.RPS, m, abPlan.ABTest.Iterations)
			}
		}
	}
}

func TestBlueGreenFamily(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a few hundred rollouts")
	}
	fams := append(Families(), TurnsBadAt30)
	scs, n := shapeGrid(t, fams)
	cells := runShape(t, "default", bgPlan, scs, n)
	cp, cr, gb, gr := assertSafe(t, cells)
	t.Logf("blue/green: %d %% mirrored for %v at least before the switch, post-promotion %v; default preset before the switch, DualWindow after; %d runs per cell\n\n%s\nclear regressions promoted %d of %d (%s); good canaries rolled back %d of %d (%s)",
		bgPlan.BlueGreen.Mirror, bgPlan.BlueGreen.PrePromotion, bgPlan.BlueGreen.PostPromotion, n, shapeTable(cells, true), cp, cr, pct(cp, cr), gb, gr, pct(gb, gr))
	// Bad from the start (a clear regression): caught before the switch,
	// on mirrored requests, so no user is served its errors — but for the
	// preset's β (1 %): at most 1 % of those runs switch.
	early, earlyRuns := 0, 0
	for _, c := range cells {
		switch {
		case c.Family == TurnsBadAt30 && c.Clear():
			// Bad only once switched: every run that switched is caught
			// after the switch, within the post-promotion window, and
			// switched back in one write.
			if c.switchedBack != c.switched || c.Promoted > 0 {
				t.Errorf("%v at %g req/s, stable %g %%: %d runs switched, %d switched back, %d promoted", c.Family, c.RPS, 100*c.ErrorRate, c.switched, c.switchedBack, c.Promoted)
			}
			for _, m := range c.afterSwitch {
				if m > bgPlan.BlueGreen.PostPromotion.Minutes() {
					t.Errorf("%v at %g req/s, stable %g %%: switched back %g minutes after the switch, beyond the post-promotion window", c.Family, c.RPS, 100*c.ErrorRate, m)
				}
			}
		case !c.Family.Good() && c.Clear():
			early += c.switched
			earlyRuns += c.Runs
		}
	}
	if float64(early) > 0.01*float64(earlyRuns) {
		t.Errorf("%d of %d runs of a canary bad from the start switched to it, want ≤ 1 %%", early, earlyRuns)
	}
	t.Logf("canaries bad from the start switched to: %d of %d runs", early, earlyRuns)
}
