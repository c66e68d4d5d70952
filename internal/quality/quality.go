// Package quality is the decision-quality suite of the analysis presets
// (issues 8 and 18): synthetic, labelled canaries replayed through
// [rollback.Replay] with the default preset (and the other presets on
// request) and compared with an oracle, the limit.
//
// Each run is the plan 10 → 50 % in steps of 10 with one analysis a minute
// (Plan; every other setting at its default), at a total traffic of RPS
// requests per second split by the canary's weight, with Poisson request
// and error counts drawn from a seed, and with the stable version's
// history over the hour before each window as Observation.Baseline, with
// its counts per minute, which the rollout's own range query over
// Replay's provider brings to the analyzer as the Baseline's Buckets
// (Contender.Buckets; -quality.nobuckets gives the history as one
// count). The
// grid of issue 18 (Families) is 0.5, 5 and 50 requests/s × stable error
// rates 0.1, 0.5 and 1 % × five good canaries (noise only; per-minute
// bursts on both versions; a 3-minute incident on both; a 10-minute
// traffic gap; a canary better than stable) and four regressions (2×, 5×,
// +5 points, 5× bad from minute 4), judged on the error rate, 4 hours at
// most.
//
// The oracle (Oracle) knows both versions' true rates and runs one Wald
// SPRT over the whole rollout on the conditional binomial — which version
// each error came from — walking the plan as fast as it allows. For every
// cell the tables give right and wrong decisions, runs undecided at 4 h,
// median and 90th-percentile minutes to the right decision, the errors a
// bad canary served until its rollback (the harm), and the share of good
// canaries that paused for a person and when, each beside the oracle's:
//
//	go test ./internal/quality -run TestQualityTable -v -quality.full
//
// Informed is a second reference beside the oracle, selected with
// -quality.contenders default,informed: the oracle without the canary's
// true rate (a mixture over the rates at or above the tolerance
// boundary), what any rule that does not know the canary's rate can at
// best hope for on this plan; and oracle/reseeded (ReseededOracle), the
// oracle on other draws, measures the noise floor of the comparisons of
// medians with 100 runs a cell.
//
// The previous suite's tables (issue 8: an oracle that restarted its test
// at every change of the rates' ratio and was replayed through the
// stage-on-Pass machinery, and a grid with latency families) are kept as
// history behind -quality.history. The default go test run checks the
// oracle against Wald's theory and the targets on a smaller grid
// with fixed seeds. Nothing reads the clock: every instant is computed.
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

// The families of issue 18's grid come first (Grid); the last three are
// kept for the history tables of the previous oracle (HistoryFamilies).
const (
	GoodNoise Family = iota
	GoodBursts
	GoodIncident
	GoodGap
	GoodBetter
	Errors2x
	Errors5x
	ErrorsPlus5
	TurnsBad
	LatencyP99
	LatencyTail
	TurnsBadAt30
	Incident2x
	Incident5x
	numFamilies
)

// Families lists the families of issue 18's grid, in table order: five
// good canaries and four regressions, judged on the error rate.
func Families() []Family {
	return []Family{GoodNoise, GoodBursts, GoodIncident, GoodGap, GoodBetter, Errors2x, Errors5x, ErrorsPlus5, TurnsBad}
}

// ExtraFamilies lists families beyond issue 18's grid: regressions that
// coincide with the 3-minute incident on both versions.
func ExtraFamilies() []Family { return []Family{Incident2x, Incident5x} }

// HistoryFamilies lists the families of the previous suite (issue 8), in
// its table order, for the history tables of the previous oracle.
func HistoryFamilies() []Family {
	return []Family{GoodNoise, GoodBursts, GoodIncident, Errors2x, Errors5x, ErrorsPlus5, TurnsBadAt30, LatencyP99, LatencyTail}
}

var familyNames = [...]string{
	"good, noise",
	"good, bursts on both",
	"good, incident on both",
	"good, traffic gap",
	"good, better than stable",
	"errors 2×",
	"errors 5×",
	"errors +5 points",
	"turns 5× bad at minute 4",
	"latency +50 % (p99)",
	"latency tail only",
	"turns 5× bad at 30 %",
	"errors 2×, incident on both",
	"errors 5×, incident on both",
}

func (f Family) String() string {
	if f < 0 || f >= numFamilies {
		return fmt.Sprintf("Family(%d)", int(f))
	}
	return familyNames[f]
}

// Good reports whether the family's canary is at least as good as stable.
func (f Family) Good() bool { return f <= GoodBetter }

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
	// gap: minutes [gapFrom, gapTo) no request reaches either version.
	gapFrom, gapTo = 3, 13
	// turnMinute: the TurnsBad canary is 5× bad from this minute on.
	turnMinute = 4
	// burstSigma is the log-normal shape of the per-minute shock that
	// multiplies both versions' rates in the bursts family.
	burstSigma = 0.8
	// tailShare is the share of the canary's requests that get +0.5 s in
	// the tail-only family.
	tailShare = 0.03
	// latencySigma is the log-normal shape of request latency.
	latencySigma = 0.5
	// historyMinutes is how much of stable's history Observation.Baseline
	// covers (the rollout asks for one hour).
	historyMinutes = 60
)

// p99Slow is the canary's share of requests slower than stable's p99 when
// every latency is 1.5 × stable's: P(Z > z99 − ln 1.5 / σ).
var p99Slow = 0.5 * math.Erfc((2.3263478740408408-math.Log(1.5)/latencySigma)/math.Sqrt2)

// Plan is the rollout every scenario is replayed with: stages 10, 20, 30,
// 40, 50 %, one analysis a minute, and every other setting at its default
// (so a rollout that asks a person does so as a user's would).
var Plan = rollback.Plan{StageWeight: 10, MaxWeight: 50, Interval: Interval}

// patient is a plan that never asks a person within the horizon: a
// progress deadline at the horizon and an evidence budget far beyond it.
// It replays a run that paused for a person, to measure how long the
// evidence alone takes.
func patient(p rollback.Plan) rollback.Plan {
	p.ProgressDeadline = Horizon
	p.MaxDuration = 1000 * Horizon
	return p
}

// incident reports whether both versions go through the incident.
func (s Scenario) incident() bool {
	return s.Family == GoodIncident || s.Family == Incident2x || s.Family == Incident5x
}

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
	case GoodBetter:
		canary[0] /= 2
	case Errors2x, Incident2x:
		canary[0] *= 2
	case Errors5x, Incident5x:
		canary[0] *= 5
	case ErrorsPlus5:
		canary[0] += 0.05
	case TurnsBad, TurnsBadAt30:
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

// window is what was generated for one analysis window: the true rates
// (error rate, slow share) of both versions and the counts drawn.
type window struct {
	end            int // minutes from the start to the window's end
	weight         int // the canary's weight during the window
	canary, stable [2]float64
	n, m           [2]float64 // requests of the canary and of stable
	x, y           [2]float64 // events of the canary and of stable
	alt            float64    // the canary's error rate under the oracle's H1
	turned         bool       // the canary has changed (TurnsBad)
	// errShock multiplies, and errAdd (the incident) adds to, both
	// versions' error rates in the window: a version whose error rate is
	// q outside them has min(1, q × errShock + errAdd) in it.
	errShock, errAdd float64
}

// truth is what the oracle knows of the run: every window generated so
// far, the last one last.
type truth struct {
	windows []window
}

func (t *truth) last() window { return t.windows[len(t.windows)-1] }

// Metrics are the metric names the suite measures: the error rate, and
// for the history grid the slow-request share too.
var Metrics = analysis.PresetMetrics{ErrorRate: "error-rate", Slow: "latency-slow"}

// ErrorMetrics are the metrics of issue 18's grid: the error rate only.
var ErrorMetrics = analysis.PresetMetrics{ErrorRate: Metrics.ErrorRate}

// recording returns the generator of one run and the truth it updates.
// With slow it measures the slow-request share as well as the error rate.
// Every observation carries the stable version's history over the hour
// before its window (Observation.Baseline), as a provider would return
// it: an hour of stable alone before the rollout, then stable's own
// requests during it. With buckets the history comes per minute as well
// (Observation.Baseline.Buckets), for Replay's provider to answer the
// rollout's range query with, as a provider that answers range queries
// with counts would; without, Replay's provider has no range to give and
// the history reaches the analyzer as one count.
func (s Scenario) recording(seed uint64, t0 time.Time, slow, buckets bool) (rollback.Recording, *truth) {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	h := rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))
	tr := &truth{}
	shock := func(r *rand.Rand) (float64, float64) {
		if s.Family != GoodBursts {
			return 1, 1
		}
		return math.Exp(burstSigma*r.NormFloat64() - burstSigma*burstSigma/2),
			math.Exp(burstSigma*r.NormFloat64() - burstSigma*burstSigma/2)
	}
	// hist holds stable's (requests, events) per minute and metric, the
	// last historyMinutes minutes.
	type minute struct{ m, y [2]float64 }
	var hist []minute
	for range historyMinutes {
		es, ss := shock(h)
		_, st := s.canaryRates(false, es, ss)
		m := poisson(h, s.RPS*60)
		var mn minute
		for i := range mn.m {
			mn.m[i], mn.y[i] = float64(m), float64(min(poisson(h, float64(m)*st[i]), m))
		}
		hist = append(hist, mn)
	}
	names := []string{Metrics.ErrorRate}
	if slow {
		names = append(names, Metrics.Slow)
	}
	var cached []analysis.Observation
	return func(now time.Time, split traffic.Split) []analysis.Observation {
		end := int(now.Sub(t0) / Interval)
		if len(tr.windows) > 0 && tr.last().end == end {
			return cached
		}
		from := end - 1 // the window covers minutes [from, end)
		errShock, slowShock := shock(r)
		turned := s.Family == TurnsBad && from >= turnMinute || s.Family == TurnsBadAt30 && split.Canary >= 30
		c, st := s.canaryRates(turned, errShock, slowShock)
		if s.incident() && from >= incidentFrom && from < incidentTo {
			for i, add := range [2]float64{0.10, 0.20} {
				c[i], st[i] = math.Min(1, c[i]+add), math.Min(1, st[i]+add)
			}
		}
		// H1's canary error rate for the oracle: the canary's true rate
		// when it is worse, else the tolerance boundary on the scenario's
		// own rates, max(2 × stable, stable + 0.5 points), under the same
		// shock and incident as both versions.
		errAdd := 0.0
		if s.incident() && from >= incidentFrom && from < incidentTo {
			errAdd = 0.10
		}
		alt := c[0]
		if c[0] <= st[0]*(1+1e-9) {
			alt = inWindow(s.boundary(), errShock, errAdd)
		}
		rps := s.RPS
		if s.Family == GoodGap && from >= gapFrom && from < gapTo {
			rps = 0
		}
		w := float64(split.Canary) / 100
		n := poisson(r, rps*60*w)
		m := poisson(r, rps*60*(1-w))
		win := window{end: end, weight: split.Canary, canary: c, stable: st, alt: alt, turned: turned, errShock: errShock, errAdd: errAdd}
		obs := make([]analysis.Observation, len(names))
		var cur minute
		for i, name := range names {
			x := min(poisson(r, float64(n)*c[i]), n)
			y := min(poisson(r, float64(m)*st[i]), m)
			win.n[i], win.m[i], win.x[i], win.y[i] = float64(n), float64(m), float64(x), float64(y)
			var bm, by float64
			var bs []analysis.Measurement
			if buckets {
				bs = make([]analysis.Measurement, 0, len(hist))
			}
			for _, hm := range hist {
				bm, by = bm+hm.m[i], by+hm.y[i]
				if buckets {
					bs = append(bs, measured(int64(hm.y[i]), int64(hm.m[i])))
				}
			}
			obs[i] = analysis.Observation{Metric: name, Canary: measured(x, n), Stable: measured(y, m),
				Baseline: measured(int64(by), int64(bm))}
			if obs[i].Baseline.Observed {
				obs[i].Baseline.Buckets = bs
			}
			cur.m[i], cur.y[i] = float64(m), float64(y)
		}
		hist = append(hist[1:], cur)
		tr.windows = append(tr.windows, win)
		cached = obs
		return obs
	}, tr
}

// boundary is the tolerance boundary on the error rate: the lowest
// canary error rate that is a clear regression of the scenario's stable
// rate, max(2 × stable, stable + 0.5 points).
func (s Scenario) boundary() float64 { return math.Max(2*s.ErrorRate, s.ErrorRate+0.005) }

// inWindow is the error rate in a window of a version whose rate is q
// outside shocks and incidents, under the window's shock (× errShock)
// and incident (+ errAdd), kept below 1.
func inWindow(q, errShock, errAdd float64) float64 {
	return math.Min(q*errShock+errAdd, 1-1e-9)
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

// Alpha and Beta are the oracle's error bounds, the default preset's: a
// good canary rolled back with probability at most about Alpha, a
// regression promoted with probability at most about Beta.
const Alpha, Beta = 0.01, 0.01

// alternative is the canary's error rate under the oracle's H1 in window
// w, as a multiple θ of stable's true rate: the canary's true rate when it
// is worse than stable, else the tolerance boundary — max(2 × stable,
// stable + 0.5 points) on the scenario's own rates, under the same shock
// or incident as both versions (the regression the default preset must
// not promote, as it would look in that window). Zero when stable's rate
// is zero (the window then carries no evidence).
func alternative(w window) float64 {
	if w.stable[0] <= 0 {
		return 0
	}
	return w.alt / w.stable[0]
}

// conditionalLLR is the log-likelihood ratio of one window on the
// conditional binomial: given the x + y errors of the window, which
// version each came from. With n canary and m stable requests, an error
// is the canary's with probability π = nθ / (nθ + m) when the canary's
// rate is θ × stable's; H1 is θ = theta, H0 is θ = 1. Stable's own rate,
// and any shock that multiplies both versions' rates, cancel.
func conditionalLLR(x, y, n, m, theta float64) float64 {
	if n <= 0 || m <= 0 || theta <= 0 || x+y == 0 {
		return 0
	}
	p0, p1 := n/(n+m), n*theta/(n*theta+m)
	return x*math.Log(p1/p0) + y*math.Log((1-p1)/(1-p0))
}

// SPRT is Wald's sequential probability ratio test: it accepts H1 when the
// log-likelihood ratio reaches log((1 − β) / α) and H0 when it falls to
// log(β / (1 − α)), so that P(accept H1 | H0) ≤ α / (1 − β) and P(accept
// H0 | H1) ≤ β / (1 − α) (Wald, "Sequential tests of statistical
// hypotheses", 1945).
type SPRT struct {
	Upper, Lower float64
	LLR          float64
}

// NewSPRT returns the test with error bounds alpha and beta.
func NewSPRT(alpha, beta float64) SPRT {
	return SPRT{Upper: math.Log((1 - beta) / alpha), Lower: math.Log(beta / (1 - alpha))}
}

// Add adds a log-likelihood ratio and returns +1 when the test accepts
// H1, −1 when it accepts H0, 0 while it goes on.
func (t *SPRT) Add(llr float64) int {
	t.LLR += llr
	switch {
	case t.LLR >= t.Upper:
		return 1
	case t.LLR <= t.Lower:
		return -1
	}
	return 0
}

// Oracle is the limit: the best test that knows the truth. It knows both
// versions' true error rates in every window (shocks, incidents and the
// canary's turn included) and runs ONE Wald SPRT over the whole rollout
// on the conditional binomial (conditionalLLR) of the error rate, H0
// "canary = stable" against H1 "canary = its true rate" when worse, else
// "= the tolerance boundary", at the default preset's α = β = 1 %. It
// walks the plan as fast as it allows: one stage per interval while the
// test has not accepted "regression"; rollback the interval the test
// accepts "regression"; promotion when the test has accepted "no
// regression" and the last stage has held one interval (so never before
// minute 5). A shock or an incident on both versions changes nothing: its
// evidence is kept. The one restart is at the canary's own change (the
// canary turning bad at minute 4), which only the oracle can know: the
// evidence gathered about the canary before it turned is about another
// canary, and an acceptance of "no regression" not yet acted on by then
// is withdrawn. The oracle is simulated directly over the same seeded
// traffic, not replayed through the rollout's stage machinery, and never
// asks a person.
func Oracle() Contender {
	return Contender{Name: "oracle", sim: func(sc Scenario, seed uint64) Outcome { return simulateOracle(sc, seed, Alpha, Beta) }}
}

// ReseededOracle is the oracle on other draws: every run's seed is
// changed, so its cells are independent of the oracle's with the same
// law. Set beside the oracle (-quality.contenders oracle/reseeded) it
// measures how far the cells' medians move by chance alone, the noise
// floor of the targets that compare a median with the oracle's.
func ReseededOracle() Contender {
	return Contender{Name: "oracle/reseeded", sim: func(sc Scenario, seed uint64) Outcome {
		return simulateOracle(sc, seed^0x5bd1e995deadbeef, Alpha, Beta)
	}}
}

// simulateOracle runs Oracle's rule over one seeded run of sc.
func simulateOracle(sc Scenario, seed uint64, alpha, beta float64) Outcome {
	return walkPlan(sc, seed, &sprtWalk{SPRT: NewSPRT(alpha, beta)})
}

// walkTest is a sequential test that walkPlan walks over the plan: add
// takes one window and returns +1 when the test accepts "regression", −1
// when it accepts "no regression", 0 while it goes on; restart forgets
// the evidence gathered so far (at the canary's own change).
type walkTest interface {
	add(w window) int
	restart()
}

// sprtWalk is the oracle's test: one SPRT on the conditional binomial
// with H1 the canary's true rate when it is worse, else the tolerance
// boundary (alternative).
type sprtWalk struct{ SPRT }

func (t *sprtWalk) add(w window) int {
	return t.Add(conditionalLLR(w.x[0], w.y[0], w.n[0], w.m[0], alternative(w)))
}

func (t *sprtWalk) restart() { t.LLR = 0 }

// walkPlan simulates one seeded run of sc driven by test the way the
// oracle walks the plan: one stage per interval while the test has not
// accepted "regression"; rollback the interval it does; promotion once
// it has accepted "no regression" and the last stage has held one
// interval. At the canary's own change (TurnsBad) the test restarts and
// an acceptance of "no regression" not yet acted on is withdrawn. After
// an acceptance the test is given no more windows.
func walkPlan(sc Scenario, seed uint64, test walkTest) Outcome {
	rec, tr := sc.recording(seed, t0, false, false)
	stages, _ := Plan.Expand()
	accepted, turned := false, false
	st := 0
	var o Outcome
	for end := 1; end <= int(Horizon/Interval); end++ {
		w := stages[st].Weight
		rec(t0.Add(time.Duration(end)*Interval), traffic.Split{Stable: 100 - w, Canary: w})
		win := tr.last()
		if win.turned && !turned {
			turned, accepted = true, false
			test.restart()
		}
		if !accepted {
			switch test.add(win) {
			case 1:
				o.RolledBack, o.Minutes = true, float64(end)
			case -1:
				accepted = true
			}
		}
		if o.RolledBack {
			break
		}
		if accepted && st == len(stages)-1 {
			o.Promoted, o.Minutes = true, float64(end)
			break
		}
		if st < len(stages)-1 {
			st++
		}
	}
	o.Harm = harm(tr, o, sc)
	return o
}

// harm is the number of errors the canary served until it was rolled back
// (or, never rolled back, until the horizon; a promoted canary serves
// every request from its promotion on, counted at its long-run rate).
func harm(tr *truth, o Outcome, sc Scenario) float64 {
	var h float64
	for _, w := range tr.windows {
		if (o.RolledBack || o.Promoted) && float64(w.end) > o.Minutes {
			break
		}
		h += w.x[0]
	}
	if o.Promoted {
		c, _ := sc.canaryRates(true, 1, 1)
		h += c[0] * sc.RPS * 60 * (Horizon.Minutes() - o.Minutes)
	}
	return h
}

// previousOracle is the oracle of the previous suite, kept for its history
// tables only: Wald's SPRT for each metric knowing the true rates of every
// window, H0 "canary rate = stable rate" against H1 "canary rate = its
// true rate" when the canary is worse, else "= the tolerance boundary
// max(2 × stable, stable + 0.005)" on the canary's counts alone; log(1/α)
// fails, −log(1/β) passes (and stays passed while the truth does not
// change). It restarts its test whenever the ratio of the true rates
// changes, so every burst or incident on both versions throws its evidence
// away, and it is an analyzer driven through the rollout's stage-on-Pass
// machinery: both make it slower than the limit.
func previousOracle(tr *truth, alpha, beta float64) analysis.Analyzer {
	var llr [2]float64
	var passed [2]bool
	var last [2]float64
	return analysis.AnalyzerFunc(func(_ context.Context, in analysis.Input) (analysis.Verdict, error) {
		v := analysis.Verdict{}
		fail, all := false, true
		win := tr.last()
		for i := range llr {
			qs, qc := win.stable[i], win.canary[i]
			ratio := qc / math.Max(qs, 1e-12)
			if ratio != last[i] {
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
				llr[i] += win.x[i]*math.Log(alt/qs) - win.n[i]*(alt-qs)
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

// Contender is a row of the tables: a preset, the baseline or an oracle.
type Contender struct {
	Name   string
	Policy rollback.Policy
	// Plan is the plan its runs are replayed with.
	Plan rollback.Plan
	// analyzer returns the analyzer for one run (the previous oracle
	// reads the run's truth).
	analyzer func(*truth) analysis.Analyzer
	// slow: the runs measure the slow-request share too.
	slow bool
	// sim, when set, simulates a run directly instead of replaying it
	// (the oracle).
	sim func(Scenario, uint64) Outcome
	// Buckets: the recording gives the stable version's history per
	// minute, and the rollout's own range query over Replay's provider
	// brings it to the analyzer (Observation.Baseline.Buckets), as a
	// provider that answers range queries with counts does; without it
	// the history is one count, as from a provider without range queries.
	Buckets bool
}

// Contenders returns every preset (the baseline last), judging the error
// rate, then the oracle, then Informed (the oracle without the canary's
// true rate): the rows of issue 18's tables.
func Contenders() []Contender {
	var out []Contender
	for _, p := range analysis.Presets(ErrorMetrics) {
		out = append(out, FromPreset(p))
	}
	return append(out, Oracle(), Informed())
}

// FromPreset is the contender of preset p with its tuned policy and the
// default settings of every other field (Plan).
func FromPreset(p analysis.Preset) Contender {
	return Contender{Name: p.Name, Policy: rollback.PresetPolicy(p), Plan: Plan, Buckets: true,
		analyzer: func(*truth) analysis.Analyzer { return p.Analyzer }}
}

// FromPresetNamed is the contender of the shipped preset called name.
func FromPresetNamed(name string) Contender {
	for _, c := range Contenders() {
		if c.Name == name {
			return c
		}
	}
	panic("no preset " + name)
}

// HistoryContenders returns the previous suite's rows (issue 8): every
// preset judging the error rate and the slow share, replayed with a
// progress deadline at the horizon, and the previous oracle, named
// "oracle" so that its tables read as they did.
func HistoryContenders() []Contender {
	var out []Contender
	for _, p := range analysis.Presets(Metrics) {
		c := FromPreset(p)
		c.Plan, c.slow, c.Buckets = patient(Plan), true, false
		out = append(out, c)
	}
	return append(out, Contender{Name: "oracle", Policy: rollback.Policy{FailureLimit: 1}, Plan: patient(Plan), slow: true,
		analyzer: func(tr *truth) analysis.Analyzer { return previousOracle(tr, Alpha, Beta) }})
}

// Outcome is one run's result.
type Outcome struct {
	RolledBack, Promoted bool
	// Minutes to the decision (0 when undecided).
	Minutes float64
	// Harm is the number of errors the canary served until it was rolled
	// back (or until the horizon; see harm).
	Harm float64
	// Paused: with the default settings the rollout paused for a person,
	// first at minute PausedAt. The decision and its minutes are then
	// those of the same run replayed with a progress deadline at the
	// horizon (what the evidence alone would have decided).
	Paused   bool
	PausedAt float64
}

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// Run replays (or, for the oracle, simulates) one run of sc with
// contender c from seed.
func Run(ctx context.Context, c Contender, sc Scenario, seed uint64) (Outcome, error) {
	if c.sim != nil {
		return c.sim(sc, seed), nil
	}
	o, err := replay(ctx, c, c.Plan, sc, seed)
	if err != nil || !o.Paused {
		return o, err
	}
	p, err := replay(ctx, c, patient(c.Plan), sc, seed)
	p.Paused, p.PausedAt = true, o.PausedAt
	return p, err
}

func replay(ctx context.Context, c Contender, plan rollback.Plan, sc Scenario, seed uint64) (Outcome, error) {
	rec, tr := sc.recording(seed, t0, c.slow, c.Buckets)
	ms := []rollback.Metric{{Name: Metrics.ErrorRate}}
	if c.slow {
		ms = append(ms, rollback.Metric{Name: Metrics.Slow})
	}
	a := c.analyzer(tr)
	cfg := rollback.Config{Name: "quality", Plan: plan, Policy: c.Policy, Analyzer: a, Metrics: ms}
	res, err := rollback.Replay(ctx, cfg, t0, t0.Add(Horizon), rec)
	if err != nil {
		return Outcome{}, err
	}
	var o Outcome
	for _, e := range res.Events {
		if e.Kind == rollback.KindTransition && e.To == rollback.Paused {
			o.Paused, o.PausedAt = true, e.Time.Sub(t0).Minutes()
			break
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
	o.Harm = harm(tr, o, sc)
	return o, nil
}

// Cell is the aggregate of a contender over runs of one scenario.
type Cell struct {
	Contender string
	Scenario
	Runs                 int
	RolledBack, Promoted int
	BackMin, PromoteMin  []float64
	// Outcomes are the runs in seed order (run i from Seed(sc, i)).
	Outcomes []Outcome
}

// Undecided is the number of runs still undecided at the horizon.
func (c Cell) Undecided() int { return c.Runs - c.RolledBack - c.Promoted }

// Right is the number of right decisions: promotions of a good canary,
// rollbacks of a worse one.
func (c Cell) Right() int {
	if c.Family.Good() {
		return c.Promoted
	}
	return c.RolledBack
}

// Wrong is the number of wrong decisions.
func (c Cell) Wrong() int { return c.Runs - c.Undecided() - c.Right() }

// RightMin are the minutes to the right decisions.
func (c Cell) RightMin() []float64 {
	if c.Family.Good() {
		return c.PromoteMin
	}
	return c.BackMin
}

// Harms are every run's canary errors served (see Outcome.Harm).
func (c Cell) Harms() []float64 {
	h := make([]float64, len(c.Outcomes))
	for i, o := range c.Outcomes {
		h[i] = o.Harm
	}
	return h
}

// Paused returns how many runs paused for a person and the minutes they
// did.
func (c Cell) Paused() (int, []float64) {
	var at []float64
	for _, o := range c.Outcomes {
		if o.Paused {
			at = append(at, o.PausedAt)
		}
	}
	return len(at), at
}

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
		cell.Outcomes = append(cell.Outcomes, o)
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

// cellKey identifies a scenario across contenders.
type cellKey struct {
	f      Family
	rps, q float64
}

func keyOf(c Cell) cellKey { return cellKey{c.Family, c.RPS, c.ErrorRate} }

// oracleCells indexes the cells of the contender called "oracle".
func oracleCells(cells []Cell) map[cellKey]Cell { return cellsOf(cells, "oracle") }

// cellsOf indexes the cells of the contender called name.
func cellsOf(cells []Cell, name string) map[cellKey]Cell {
	o := map[cellKey]Cell{}
	for _, c := range cells {
		if c.Contender == name {
			o[keyOf(c)] = c
		}
	}
	return o
}

// Table renders, for each contender and family, the cells summed over the
// grid: rolled back / promoted / undecided at 4 h and the median and 90th
// percentile minutes to each decision (over the runs that reached it).
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

// median returns the median of v (NaN when empty).
func median(v []float64) float64 { return Quantile(v, len(v), 0.5) }

// CellTable renders issue 18's table: one line per scenario, contender
// name's figures with the oracle's in parentheses — right and wrong
// decisions and undecided at 4 h (% of runs); median and 90th percentile
// minutes to the right decision over all runs (a run without it counting
// as later than 4 h); for a worse canary the median errors it served
// until rollback (the harm); for a good canary the share paused for a
// person with the default settings, and the median minute it paused (the
// oracle never pauses).
func CellTable(cells []Cell, name string) string {
	oracle := oracleCells(cells)
	var b strings.Builder
	fmt.Fprintf(&b, "%s (oracle in parentheses)\n\n", name)
	b.WriteString("| family | req/s | stable errors | right % | wrong % | undecided at 4 h % | min to right, median | p90 | canary errors served, median | paused for a person % (median minute) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cells {
		if c.Contender != name {
			continue
		}
		o := oracle[keyOf(c)]
		p2 := func(a, b Cell, f func(Cell) int) string {
			return fmt.Sprintf("%s (%s)", pctN(f(a), a.Runs), pctN(f(b), b.Runs))
		}
		q := func(c Cell, p float64) string { return fmtMin(Quantile(c.RightMin(), c.Runs, p)) }
		harmCol, pauseCol := "", ""
		if c.Family.Good() {
			n, at := c.Paused()
			pauseCol = pctN(n, c.Runs)
			if n > 0 {
				pauseCol += fmt.Sprintf(" (%s)", fmtMin(median(at)))
			}
		} else {
			harmCol = fmt.Sprintf("%s (%s)", fmtCount(median(c.Harms())), fmtCount(median(o.Harms())))
		}
		clear := ""
		if !c.Family.Good() && !c.Clear() {
			clear = " (not clear)"
		}
		fmt.Fprintf(&b, "| %v%s | %g | %g %% | %s | %s | %s | %s (%s) | %s (%s) | %s | %s |\n", c.Family, clear, c.RPS, 100*c.ErrorRate,
			p2(c, o, Cell.Right), p2(c, o, Cell.Wrong), p2(c, o, Cell.Undecided),
			q(c, 0.5), q(o, 0.5), q(c, 0.9), q(o, 0.9), harmCol, pauseCol)
	}
	return b.String()
}

func pctN(a, b int) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", 100*float64(a)/float64(b))
}

func fmtCount(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}

// HistoryCellTable renders the previous suite's per-cell table (issue 8):
// rolled back / promoted / undecided and median minutes, name against the
// previous oracle.
func HistoryCellTable(cells []Cell, name string) string {
	oracle := oracleCells(cells)
	var b strings.Builder
	fmt.Fprintf(&b, "| family | req/s | stable errors | %s back / promoted / undecided | oracle back / promoted / undecided | %s median min (back, promote) | oracle median min (back, promote) |\n", name, name)
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cells {
		if c.Contender != name {
			continue
		}
		o := oracle[keyOf(c)]
		fmt.Fprintf(&b, "| %v | %g | %g %% | %d / %d / %d | %d / %d / %d | %s, %s | %s, %s |\n", c.Family, c.RPS, 100*c.ErrorRate,
			c.RolledBack, c.Promoted, c.Undecided(), o.RolledBack, o.Promoted, o.Undecided(),
			fmtMin(Quantile(c.BackMin, c.Runs, 0.5)), fmtMin(Quantile(c.PromoteMin, c.Runs, 0.5)),
			fmtMin(Quantile(o.BackMin, o.Runs, 0.5)), fmtMin(Quantile(o.PromoteMin, o.Runs, 0.5)))
	}
	return b.String()
}
