package quality

import (
	"math"
)

// Informed is a reference contender between the oracle and any real
// rule: it knows everything the oracle knows EXCEPT the canary's true
// error rate. It reads the same conditional binomial per window (which
// version each error came from, so stable's rate and any shock or
// incident on both versions cancel), knows stable's true rate, every
// shock and incident, and the minute the canary changes (not to what),
// walks the plan as the oracle does (walkPlan: one stage per interval
// while it has not accepted "regression", rollback the interval it does,
// promotion once it has accepted "no regression" and the 50 % stage has
// held an interval) at the same α = β = 1 %, and never asks a person.
// Whatever it knows beyond a real rule only makes it a more generous
// reference: a target it misses, no rule that does not know the canary's
// rate can be expected to meet on this plan.
//
// Its H1 is composite, as a real rule's must be: "the canary's error rate
// is at or above the tolerance boundary", max(2 × stable, stable + 0.5
// points). Fail is Robbins' method of mixtures (Robbins, "Statistical
// methods related to the law of the iterated logarithm", Ann. Math.
// Statist. 41, 1970): the likelihood ratio of the conditional binomial
// averaged over a prior on the canary's rates at or above the boundary
// reaches log((1 − β)/α); under H0 (the canary no worse than stable) the
// mixture is a nonnegative supermartingale with mean 1, so by Ville's
// inequality a good canary is rolled back with probability at most
// α/(1 − β), the oracle's own bound, however often it looks. "No
// regression" is the oracle's test for a good canary: the likelihood
// ratio against the boundary falls to log(β/(1 − α)); for any canary at or
// above the boundary its inverse is a supermartingale (the binomial has a
// monotone likelihood ratio), so such a canary is promoted with
// probability at most β/(1 − α). A good canary is thus promoted in the
// same minute as by the oracle whenever neither rolls it back; what the
// contender pays for not knowing the canary's rate is in its rollbacks,
// the price of a composite alternative (Lai, "Nearly optimal sequential
// tests of composite hypotheses", Ann. Statist. 16, 1988).
//
// The prior is informedPrior, uniform on log q over [boundary, 4 ×
// boundary]; the other priors tried (priors) run side by side as
// "informed/<name>" (InformedVariants).
func Informed() Contender { return informedWith(informedPrior, false) }

// informedPrior is the prior Informed uses: of the priors tried, the one
// that meets the harm target in every cell and the rollback-speed target
// in as many as any other (within the noise of 100 and 400 runs a cell;
// BENCHMARKS.md).
var informedPrior = priors[0]

// A prior is a prior on the canary's error rate under H1, on a grid of
// rates from the tolerance boundary up.
type prior struct {
	name string
	// weights returns the grid of rates and their prior weights (summing
	// to 1) for a scenario whose tolerance boundary is b and whose
	// stable error rate is s.
	weights func(b, s float64) (rates, w []float64)
}

// gridPoints is the number of rates of a log-spaced grid.
const gridPoints = 64

// logGrid returns gridPoints rates spaced evenly on log q over [lo, hi]
// (only lo when hi ≤ lo).
func logGrid(lo, hi float64) []float64 {
	if hi <= lo {
		return []float64{lo}
	}
	out := make([]float64, gridPoints)
	for k := range out {
		out[k] = lo * math.Pow(hi/lo, float64(k)/float64(gridPoints-1))
	}
	return out
}

// top is the highest rate of the priors: 100 × stable, below 1.
func top(s float64) float64 { return math.Min(100*s, 1-1e-9) }

// uniform returns n equal weights.
func uniform(n int) []float64 {
	w := make([]float64, n)
	for k := range w {
		w[k] = 1 / float64(n)
	}
	return w
}

// priors are the priors tried for Informed, the one it uses first.
var priors = []prior{
	{"near-boundary", func(b, s float64) ([]float64, []float64) {
		// Uniform on log q over [boundary, 4 × boundary]: the mass near
		// the boundary, nothing beyond 4 × it (a canary worse than that
		// is still failed, by the likelihood ratio at 4 × the boundary,
		// which grows with the canary's rate).
		rates := logGrid(b, math.Min(4*b, top(s)))
		return rates, uniform(len(rates))
	}},
	{"log-uniform", func(b, s float64) ([]float64, []float64) {
		// Uniform on log q over [boundary, 100 × stable].
		rates := logGrid(b, top(s))
		return rates, uniform(len(rates))
	}},
	{"boundary-half", func(b, s float64) ([]float64, []float64) {
		// Half the mass on the boundary itself, half uniform on log q
		// over (boundary, 100 × stable].
		rates := logGrid(b, top(s))
		w := make([]float64, len(rates))
		if len(w) == 1 {
			return rates, []float64{1}
		}
		w[0] = 0.5
		for k := 1; k < len(w); k++ {
			w[k] = 0.5 / float64(len(w)-1)
		}
		return rates, w
	}},
	{"two-scale", func(b, s float64) ([]float64, []float64) {
		// Half the mass uniform on log q over [boundary, 4 × boundary],
		// half over [boundary, 100 × stable].
		near, wide := logGrid(b, math.Min(4*b, top(s))), logGrid(b, top(s))
		rates := append(near, wide...)
		w := make([]float64, len(rates))
		for k := range w {
			if k < len(near) {
				w[k] = 0.5 / float64(len(near))
			} else {
				w[k] = 0.5 / float64(len(wide))
			}
		}
		return rates, w
	}},
}

// informedWith is the Informed contender with prior p, named "informed"
// for informedPrior and "informed/<name>" for the others; with
// unconditional (see InformedVariants) it is named
// "informed/unconditional".
func informedWith(p prior, unconditional bool) Contender {
	name := "informed"
	switch {
	case unconditional:
		name += "/unconditional"
	case p.name != informedPrior.name:
		name += "/" + p.name
	}
	return Contender{Name: name, sim: func(sc Scenario, seed uint64) Outcome {
		t := newMixtureTest(sc, p, Alpha, Beta)
		t.unconditional = unconditional
		return walkPlan(sc, seed, t)
	}}
}

// InformedVariants returns Informed with every prior tried but its own,
// named "informed/<prior>", and "informed/unconditional": Informed's
// prior on the canary's own counts instead of the conditional binomial —
// the likelihood ratio of the canary's x errors in n requests, rate c
// against stable's true rate in the window, which a rule that knew
// stable's rate exactly could use. It knows more than the oracle uses
// (the oracle's conditional test pays for stable's noise too), so it
// shows what exact knowledge of stable's rate would be worth, not a
// limit.
func InformedVariants() []Contender {
	var out []Contender
	for _, p := range priors {
		if p.name != informedPrior.name {
			out = append(out, informedWith(p, false))
		}
	}
	return append(out, informedWith(informedPrior, true))
}

// mixtureTest is Informed's test (see Informed).
type mixtureTest struct {
	boundary float64   // the tolerance boundary on the scenario's rates
	rates    []float64 // the prior's grid of canary error rates
	logW     []float64 // log prior weights
	llr      []float64 // the log-likelihood ratio at each rate of the grid
	pass     float64   // the log-likelihood ratio at the boundary
	upper    float64   // log((1 − β)/α): Fail
	lower    float64   // log(β/(1 − α)): no regression
	// unconditional: the likelihood ratios are of the canary's own
	// counts against stable's true rate (canaryLLR), not of the
	// conditional binomial.
	unconditional bool
}

func newMixtureTest(sc Scenario, p prior, alpha, beta float64) *mixtureTest {
	b := sc.boundary()
	rates, w := p.weights(b, sc.ErrorRate)
	t := &mixtureTest{boundary: b, rates: rates, logW: make([]float64, len(w)), llr: make([]float64, len(w)),
		upper: math.Log((1 - beta) / alpha), lower: math.Log(beta / (1 - alpha))}
	for k := range w {
		t.logW[k] = math.Log(w[k])
	}
	return t
}

// theta is the ratio of a canary whose rate is q outside shocks to
// stable's true rate in window w.
func theta(w window, q float64) float64 {
	return inWindow(q, w.errShock, w.errAdd) / w.stable[0]
}

func (t *mixtureTest) add(w window) int {
	if w.stable[0] <= 0 || w.n[0] <= 0 || !t.unconditional && (w.m[0] <= 0 || w.x[0]+w.y[0] == 0) {
		return 0 // no evidence either way (every ratio is 1)
	}
	llr := func(q float64) float64 {
		if t.unconditional {
			return canaryLLR(w.x[0], w.n[0], inWindow(q, w.errShock, w.errAdd), w.stable[0])
		}
		return conditionalLLR(w.x[0], w.y[0], w.n[0], w.m[0], theta(w, q))
	}
	for k, q := range t.rates {
		t.llr[k] += llr(q)
	}
	t.pass += llr(t.boundary)
	switch {
	case t.mixture() >= t.upper:
		return 1
	case t.pass <= t.lower:
		return -1
	}
	return 0
}

// canaryLLR is the log-likelihood ratio of the canary's x errors in n
// requests, binomial, with rate c against rate s.
func canaryLLR(x, n, c, s float64) float64 {
	return x*math.Log(c/s) + (n-x)*math.Log((1-c)/(1-s))
}

// mixture is the log of the prior-weighted mean of the likelihood ratios.
func (t *mixtureTest) mixture() float64 {
	hi := math.Inf(-1)
	for k := range t.llr {
		hi = math.Max(hi, t.logW[k]+t.llr[k])
	}
	var sum float64
	for k := range t.llr {
		sum += math.Exp(t.logW[k] + t.llr[k] - hi)
	}
	return hi + math.Log(sum)
}

func (t *mixtureTest) restart() {
	clear(t.llr)
	t.pass = 0
}
