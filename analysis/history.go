package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/stats"
)

// HistoryRate judges one rate metric (errors per request, or the share of
// slow requests) of a version that serves the traffic alone against the
// service's own history: the blue/green post-promotion analysis
// (rollback.Config.PostPromotionAnalyzer), when the old version serves no
// request and there is no short window of it to compare with. It
// accumulates evidence over the analyses, so that at low traffic (a few
// requests a minute) it decides on what the windows add up to, where a
// rule that judges each window alone has too few requests in every one.
//
// Meaning. The history is Observation.Baseline: the stable version's
// requests and bad events over the long window before the analysis (for
// a blue/green rollout, the service before the switch), read once, at
// the first analysis that has one, and kept. A regression is a rate at
// least Ratio × the history's rate AND at least Margin above it (defaults
// 2 × and 0.5 points, as [Rate]). With Alpha = α and Beta = β (1 % each by
// default), over every look of the analysis, if the history's rate is the
// service's rate and the version's bad events are independent:
//
//	P(Fail | the version's rate ≤ the history's rate) ≤ α
//	P(Pass | the version's rate is a regression)      ≤ β
//
// Fail means evidence that the version is worse than the history, tested
// against alternatives at the regression or beyond; Pass means evidence
// that it is not a regression; Inconclusive, neither yet — and always when
// there is no history or no request yet: a verdict is never better than
// its evidence.
//
// Method. The history's rate is itself an estimate from a finite number of
// requests, so half of each level pays for its uncertainty: the Fail test
// holds the version against an upper confidence bound q₀ of the history's
// rate at level α/2, and the Pass test against the regression at a lower
// confidence bound at level β/2 (Chernoff's bound for the binomial, the
// request count divided by the history's dispersion, below); each bound is
// off by at most that chance (a union bound), and the e-process judged
// against it gets the other half. The bounds are Chernoff's
// (Ann. Math. Statist. 23, 1952): P(p̂ ≤ observed) ≤ exp(−m·KL(p̂ ‖ q)),
// inverted as in Garivier and Cappé's KL-UCB (COLT 2011). Given the
// bound, Fail is a product over the windows of binomial likelihood ratios
// ([stats.BinomialLogLR]) of an alternative against q₀ — a mixture
// ([stats.LogMix]) of a predictable plug-in (a lower confidence bound of the
// version's rate from the earlier windows, never below the regression on
// the history's estimate; Robbins' method, weight ½) and of fixed
// alternatives 2, 4 and 8 × that (⅙ each) — and Pass the product of the
// likelihood ratios of a rate like the history's against the regression's
// lower bound. For q₁ > q₀ the binomial LR has expectation at most 1 under
// every rate ≤ q₀ (monotone likelihood ratio), so each product is a
// non-negative supermartingale under its null and, by Ville's
// inequality, crosses 1/(α/2) (1/(β/2)) with probability at most α/2
// (β/2) however often it is looked at (Wald 1945; Ramdas, Grünwald, Vovk
// and Shafer, "Game-theoretic statistics and safe anytime-valid
// inference", Statist. Sci. 2023). A crossing is kept (the test stops
// there, as Wald's SPRT does), and a later Fail still overrides a Pass.
//
// The verdict's detail gives the version's rate over the windows used
// (Value, Count), the history's (Baseline), and the Fail e-process's
// log E (Statistic, decided at log(2/α)) with 1/E as PValue; its
// Evidence the progress towards each decision and a rough count of the
// requests still needed (More), which a rollout weighs against its
// budget.
//
// Clustering. Bad events that come in clusters (bursts a minute long)
// make a binomial likelihood ratio overconfident. The history's dispersion
// over its buckets (Observation.Baseline.Buckets, when the provider gives
// them; [stats.Dispersion]) and the version's own over its earlier windows
// (Pearson residuals around its rate so far) are measured, and each
// window's log LR is divided by the larger (an e-value to a power 1/φ ≤ 1
// is an e-value); the history's confidence bounds count its requests
// divided by its dispersion. Until the history's buckets (three at least)
// and the version's windows show no clustering, no window may add more
// than half of what a decision needs (min(LR, C) of an e-value is an
// e-value), so no single burst decides; two windows can. This is an
// approximate defence, as in [Rates], not a guarantee.
//
// Traffic. At 0.5 requests/s (30 a minute) with an hour of history at 1 %
// errors (about 1,600 requests, 16 errors), a version with 5 % errors
// fails after about 14 minutes on average; the test that knows the
// service's rate needs about 4 (TestHistoryRateLowTraffic). The history's
// uncertainty is most of the difference: its upper bound is then about
// 2.1 %, so a longer history (Metric.Baseline's window in a
// rollback.Rollout) decides sooner. In the decision-quality suite's
// blue/green family (internal/quality, BENCHMARKS.md) every canary that
// turns 5 × bad at the switch and whose evidence fitted in its
// post-promotion window was switched back, at 0.5, 5 and 50 requests/s.
//
// Assumptions. The service's rate during the history is its rate now: a
// platform incident, or the time of day, moves both, and a one-sample test
// cannot tell them from the version (which a comparison with the stable
// version over the same window, [Rates], can). The metric's window must
// be the analysis interval, so that no request is counted twice. The
// evidence is kept in Verdict.Memory (a few numbers), which a
// rollback.Rollout hands back as Input.Memory and empties at the
// blue/green switch, so the post-promotion analysis judges the requests
// after the switch only (Observation.CanaryTotal, which a rollout keeps
// across the switch, is not read).
//
// Bad input. A window whose counts are negative, whose rate is NaN,
// infinite or outside [0, 1] (more bad events than requests), or that was
// not observed, is not used and the verdict says why; a history that
// cannot be a count is not taken. A memory that cannot be read starts
// afresh, and the reason says so. Every number in the verdict is finite.
//
// The zero HistoryRate has no metric and is refused.
type HistoryRate struct {
	Metric string `json:"metric"`
	// Ratio is the relative part of the regression: at least Ratio × the
	// history's rate. Zero means 2; otherwise it must be above 1 and at
	// most 1000.
	Ratio float64 `json:"ratio,omitempty"`
	// Margin is the absolute part: at least Margin above the history's
	// rate. Zero means 0.005 (0.5 points); otherwise it must be in (0, 1).
	Margin float64 `json:"margin,omitempty"`
	// Alpha bounds the chance of a Fail when the version is no worse than
	// the history, over every look. Zero means 0.01.
	Alpha float64 `json:"alpha,omitempty"`
	// Beta bounds the chance of a Pass when the version is a regression,
	// over every look. Zero means 0.01.
	Beta float64 `json:"beta,omitempty"`
}

// Validate reports the first bad field of h.
func (h HistoryRate) Validate() error {
	if h.Metric == "" {
		return canary.Invalid("HistoryRate.Metric", h.Metric, "must not be empty")
	}
	if err := validateTolerance("HistoryRate", h.Ratio, h.Margin); err != nil {
		return err
	}
	switch {
	case h.Alpha != 0 && !(h.Alpha > 0 && h.Alpha < 1):
		return canary.Invalid("HistoryRate.Alpha", h.Alpha, "must be between 0 and 1 (exclusive)")
	case h.Beta != 0 && !(h.Beta > 0 && h.Beta < 1):
		return canary.Invalid("HistoryRate.Beta", h.Beta, "must be between 0 and 1 (exclusive)")
	}
	return nil
}

func (h HistoryRate) settings() (ratio, margin, alpha, beta float64) {
	ratio, margin = Rate{Ratio: h.Ratio, Margin: h.Margin}.tolerance()
	alpha, beta = h.Alpha, h.Beta
	if alpha == 0 {
		alpha = 0.01
	}
	if beta == 0 {
		beta = 0.01
	}
	return ratio, margin, alpha, beta
}

// historyMemoryVersion is the format of HistoryRate's memory.
const historyMemoryVersion = 1

// historyGrid are the fixed Fail alternatives, as multiples of the
// regression on the history's estimate, mixed with the plug-in.
var historyGrid = [...]float64{2, 4, 8}

// historyPlugIn is the plug-in Fail alternative's weight in the mixture;
// the grid shares the rest.
const historyPlugIn = 0.5

// historyWeights are the Fail mixture's weights, in historyState.Fail's
// order: the plug-in, then the grid.
var historyWeights = func() [1 + len(historyGrid)]float64 {
	w := [1 + len(historyGrid)]float64{historyPlugIn}
	for i := range historyGrid {
		w[1+i] = (1 - historyPlugIn) / float64(len(historyGrid))
	}
	return w
}()

// historyState is HistoryRate's evidence between analyses.
type historyState struct {
	V      int    `json:"v"`
	Metric string `json:"metric"`
	// HM, HY: the history's requests and bad events, taken once; HS, HK
	// its Pearson statistic over its buckets and their number.
	HM float64 `json:"hm,omitempty"`
	HY float64 `json:"hy,omitempty"`
	HS float64 `json:"hs,omitempty"`
	HK float64 `json:"hk,omitempty"`
	// N, X: the version's requests and bad events over the windows used.
	N float64 `json:"n,omitempty"`
	X float64 `json:"x,omitempty"`
	// Fail (plug-in, then the grid) and Pass: log e-values.
	Fail [1 + len(historyGrid)]float64 `json:"fail"`
	Pass float64                       `json:"pass,omitempty"`
	// Failed, Passed latch the first crossing of each threshold.
	Failed bool `json:"failed,omitempty"`
	Passed bool `json:"passed,omitempty"`
	// S, SK, SR, SV: the version's own dispersion over its windows
	// (Pearson statistic, buckets, the open bucket's residual and
	// variance).
	S  float64 `json:"s,omitempty"`
	SK float64 `json:"sk,omitempty"`
	SR float64 `json:"sr,omitempty"`
	SV float64 `json:"sv,omitempty"`

	// bnd caches bounds for one analysis (the history does not change
	// once taken); it is not saved.
	bnd *historyBounds
}

// historyBounds is what bounds returns.
type historyBounds struct{ est, q0, bad float64 }

func (s *historyState) sane() bool {
	for _, v := range []float64{s.HM, s.HY, s.HS, s.HK, s.N, s.X, s.S, s.SK, s.SV} {
		if !finite(v) || v < 0 {
			return false
		}
	}
	for _, v := range append(s.Fail[:], s.Pass, s.SR) {
		if !finite(v) {
			return false
		}
	}
	return s.HY <= s.HM && s.X <= s.N
}

// Analyze judges in's window against the history, adding it to the
// evidence in in.Memory, and returns the verdict with the new memory.
func (h HistoryRate) Analyze(ctx context.Context, in Input) (Verdict, error) {
	if err := h.Validate(); err != nil {
		return Verdict{}, err
	}
	ratio, margin, alpha, beta := h.settings()
	failAt, passAt := math.Log(2/alpha), math.Log(2/beta)
	s, memWhy := decodeHistoryMemory(in.Memory, h.Metric)
	why := s.update(in, ratio, margin, alpha, beta, failAt, passAt)
	d, ev, leans := s.judge(ratio, margin, alpha, beta, failAt, passAt)
	if why != "" {
		d.Reason = why + "; " + d.Reason
	}
	v := Verdict{Details: []Detail{d}, Evidence: []Evidence{ev}}
	summarize(&v, "history checks")
	v.Reason = d.Reason
	if memWhy != "" {
		v.Reason = memWhy + "; " + v.Reason
	}
	v.Leaning = v.Outcome == Inconclusive && leans
	b, err := json.Marshal(s)
	if err != nil {
		return Verdict{}, fmt.Errorf("analysis: HistoryRate memory: %w", err)
	}
	v.Memory = b
	return v, nil
}

func decodeHistoryMemory(b json.RawMessage, metric string) (historyState, string) {
	fresh := historyState{V: historyMemoryVersion, Metric: metric}
	if len(b) == 0 || string(b) == "null" {
		return fresh, ""
	}
	var s historyState
	if err := json.Unmarshal(b, &s); err != nil || s.V != historyMemoryVersion {
		return fresh, "evidence memory unreadable, starting afresh"
	}
	if s.Metric != metric || !s.sane() {
		return fresh, "evidence memory does not fit this metric, starting afresh"
	}
	return s, ""
}

// klBernoulli is the Kullback–Leibler divergence of Bernoulli(q) from
// Bernoulli(p).
func klBernoulli(p, q float64) float64 {
	var k float64
	if p > 0 {
		k += p * math.Log(p/q)
	}
	if p < 1 {
		k += (1 - p) * math.Log((1-p)/(1-q))
	}
	return k
}

// chernoffBound returns the Chernoff confidence bound at level delta of
// a binomial rate from y bad events in m requests: the largest q ≥ y/m
// (upper) or the smallest q ≤ y/m (lower) with m·KL(y/m ‖ q) ≤
// log(1/delta). P(the rate is beyond it) ≤ delta (Chernoff 1952).
func chernoffBound(y, m, delta float64, upper bool) float64 {
	if m <= 0 {
		if upper {
			return 1
		}
		return 0
	}
	p := math.Min(1, math.Max(0, y/m))
	lim := math.Log(1/delta) / m
	lo, hi := p, 1.0
	if !upper {
		lo, hi = 0, p
	}
	for range 100 {
		mid := (lo + hi) / 2
		inside := klBernoulli(p, mid) <= lim
		if inside == upper {
			lo = mid
		} else {
			hi = mid
		}
	}
	if upper {
		return lo
	}
	return hi
}

// historyPhi is the history's dispersion over its buckets (1 without
// them).
func (s *historyState) historyPhi() float64 { return stats.Dispersion(s.HS, s.HK) }

// bounds returns the history's estimate, the upper bound q₀ the Fail test
// holds the version against, and the regression's lower bound the Pass
// test holds it against.
func (s *historyState) bounds(ratio, margin, alpha, beta float64) (est, q0, bad float64) {
	if b := s.bnd; b != nil {
		return b.est, b.q0, b.bad
	}
	phi := s.historyPhi()
	est = s.HY / s.HM
	q0 = chernoffBound(s.HY/phi, s.HM/phi, alpha/2, true)
	lcb := chernoffBound(s.HY/phi, s.HM/phi, beta/2, false)
	bad = math.Min(0.999, math.Max(ratio*lcb, lcb+margin))
	s.bnd = &historyBounds{est, q0, bad}
	return est, q0, bad
}

// phi is the dispersion each window's log LR is tempered by: the larger
// of the history's and the version's own.
func (s *historyState) phi() float64 {
	return math.Max(s.historyPhi(), stats.Dispersion(s.S, s.SK))
}

// unclustered reports whether the history (three buckets at least) and
// the version's own windows show no clustering: then one window may
// decide.
func (s *historyState) unclustered() bool {
	return s.HK >= unclusteredBuckets && within(s.HS, s.HK) && within(s.S, s.SK)
}

// update adds in's window; it returns why it was not used ("" when it
// was).
func (s *historyState) update(in Input, ratio, margin, alpha, beta, failAt, passAt float64) string {
	o, ok := in.Observation(s.Metric)
	if !ok {
		return "no observation this window"
	}
	if s.HM == 0 {
		bm, by, why := countsOf(o.Baseline)
		switch {
		case why != "":
			return "history: " + why + ", window not used"
		case bm <= 0:
			return "history: no request, window not used"
		}
		s.HM, s.HY = bm, by
		s.HS, s.HK = historyDispersion(o.Baseline.Buckets)
	}
	n, x, why := countsOf(o.Canary)
	if why != "" {
		return "canary: " + why + ", window not used"
	}
	if n == 0 {
		return ""
	}
	est, q0, bad := s.bounds(ratio, margin, alpha, beta)
	phi := s.phi()
	free := s.unclustered()
	capAt := func(at, w float64) float64 {
		if free {
			return math.Inf(1)
		}
		return (at+math.Log(1/w))/2 + 0.25
	}
	// Fail: alternatives above q₀, from the regression on the history's
	// estimate up.
	base := math.Min(0.999, math.Max(math.Max(ratio*est, est+margin), 1.1*q0))
	if q0 < 0.999 {
		plug := base
		if s.X >= 1 {
			lcb := s.X/s.N - 1.5*math.Sqrt(s.X)/s.N
			plug = math.Min(0.999, math.Max(base, lcb))
		}
		s.Fail[0] += math.Min(stats.BinomialLogLR(x, n, plug, q0)/phi, capAt(failAt, historyWeights[0]))
		for i, g := range historyGrid {
			q1 := math.Min(0.999, math.Max(g*base, base))
			if q1 > q0 {
				s.Fail[1+i] += math.Min(stats.BinomialLogLR(x, n, q1, q0)/phi, capAt(failAt, historyWeights[1+i]))
			}
		}
	}
	// Pass: a rate like the history's against the regression's lower
	// bound.
	s.Pass += math.Min(stats.BinomialLogLR(x, n, s.passAlt(est, bad), bad)/phi, passAt/2+0.25)
	// The version's own dispersion: the window's residual around its rate
	// over the earlier windows (with that estimate's own variance).
	if s.X >= 5 {
		r := s.X / s.N
		pool(&s.S, &s.SK, &s.SR, &s.SV, x-n*r, n*r*(1-r)*(1+n/s.N))
	}
	s.N += n
	s.X += x
	return ""
}

// passAlt is the Pass test's alternative: a rate like the history's
// (its estimate est), kept between bad/20 and bad/1.25 below the
// regression's lower bound bad.
func (s *historyState) passAlt(est, bad float64) float64 {
	return math.Min(bad/1.25, math.Max(bad/20, est))
}

// passDrift is what a version at the history's rate adds to the Pass
// e-process per request, on average (0 when nothing).
func (s *historyState) passDrift(est, bad float64) float64 {
	qa := s.passAlt(est, bad)
	d := (est*math.Log(qa/bad) + (1-est)*(math.Log1p(-qa)-math.Log1p(-bad))) / s.phi()
	if !(d > 0) || math.IsInf(d, 1) {
		return 0
	}
	return d
}

// logFail is the Fail e-process: the plug-in and the grid, mixed.
func (s *historyState) logFail() float64 {
	return stats.LogMix(s.Fail[:], historyWeights[:])
}

// judge turns the state into a detail and its evidence, and says whether
// it leans towards "no regression".
func (s *historyState) judge(ratio, margin, alpha, beta, failAt, passAt float64) (Detail, Evidence, bool) {
	d := Detail{Metric: s.Metric, Count: int64(s.N)}
	ev := Evidence{Metric: s.Metric, Requests: int64(s.N), More: -1}
	if s.HM == 0 {
		d.Class = "nodata"
		d.Reason = "no history of the service (Observation.Baseline) yet"
		return d, ev, false
	}
	est, q0, bad := s.bounds(ratio, margin, alpha, beta)
	d.Baseline = ptr(est)
	d.Bound = fmt.Sprintf("regression: ≥ %s × history and ≥ history + %s", fmtg(ratio), fmtg(margin))
	if s.N == 0 {
		d.Class = "nodata"
		d.Reason = fmt.Sprintf("no request yet (history %s over %s requests)", fmtg(est), fmtg(s.HM))
		return d, ev, false
	}
	d.Value = ptr(s.X / s.N)
	lf, lp := s.logFail(), s.Pass
	s.Failed = s.Failed || lf >= failAt
	s.Passed = s.Passed || lp >= passAt
	stat := math.Max(-1e6, math.Min(1e6, lf))
	d.Statistic = ptr(stat)
	d.PValue = ptr(math.Min(1, math.Exp(-math.Max(0, stat))))
	ev.Fail, ev.Pass = clamp01(lf/failAt), clamp01(lp/passAt)
	switch {
	case s.Failed:
		d.Outcome, d.Class, ev.Fail, ev.More = Fail, "high", 1, 0
		d.Reason = fmt.Sprintf("worse than the history: %s over %s requests against %s (upper bound %s; log e = %.3g ≥ %.3g)",
			fmtg(s.X/s.N), fmtg(s.N), fmtg(est), fmtg(q0), math.Max(lf, failAt), failAt)
	case s.Passed:
		d.Outcome, d.Class, ev.Pass, ev.More = Pass, "pass", 1, 0
		d.Reason = fmt.Sprintf("no regression: %s over %s requests, a regression being ≥ %s (log e = %.3g ≥ %.3g)",
			fmtg(s.X/s.N), fmtg(s.N), fmtg(bad), math.Max(lp, passAt), passAt)
	default:
		d.Class = "nodata"
		best := math.Inf(1)
		if lf > 0 {
			best = (failAt - lf) / (lf / s.N)
		}
		// The Pass side at the faster of the drift seen so far and what a
		// version like the history adds (the drift seen swings with a few
		// errors either way).
		if drift := math.Max(s.passDrift(est, bad), lp/s.N); drift > 0 {
			best = math.Min(best, (passAt-lp)/drift)
		}
		if best >= 0 && best < 1e15 {
			ev.More = int64(math.Ceil(best))
		}
		d.Reason = fmt.Sprintf("not yet decided: %s over %s requests against the history's %s: fail %.0f %%, pass %.0f %%",
			fmtg(s.X/s.N), fmtg(s.N), fmtg(est), 100*ev.Fail, 100*ev.Pass)
		return d, ev, lf < 0 || lp >= 0
	}
	return d, ev, d.Outcome == Pass
}
