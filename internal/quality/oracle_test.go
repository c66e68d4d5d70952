package quality

import (
	"math"
	"math/rand/v2"
	"testing"
)

// binomialLogPMF is log P(X = x) for X ~ Binomial(k, p), computed from
// the log-gamma function: an independent route to conditionalLLR.
func binomialLogPMF(x, k, p float64) float64 {
	lk, _ := math.Lgamma(k + 1)
	lx, _ := math.Lgamma(x + 1)
	ly, _ := math.Lgamma(k - x + 1)
	return lk - lx - ly + x*math.Log(p) + (k-x)*math.Log(1-p)
}

// TestConditionalLLR checks the oracle's per-window statistic against the
// binomial likelihood ratio of "which version each error came from"
// computed independently, and that what multiplies both versions' rates
// does not change it.
func TestConditionalLLR(t *testing.T) {
	for _, c := range []struct{ x, y, n, m, theta float64 }{
		{3, 27, 300, 2700, 2}, {0, 5, 100, 900, 6}, {12, 3, 1500, 1500, 1.05}, {7, 0, 50, 50, 5}, {1, 1, 10, 90, 51},
	} {
		k := c.x + c.y
		p0, p1 := c.n/(c.n+c.m), c.n*c.theta/(c.n*c.theta+c.m)
		want := binomialLogPMF(c.x, k, p1) - binomialLogPMF(c.x, k, p0)
		if got := conditionalLLR(c.x, c.y, c.n, c.m, c.theta); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("conditionalLLR(%v) = %v, binomial likelihood ratio %v", c, got, want)
		}
	}
	if got := conditionalLLR(0, 0, 100, 900, 2); got != 0 {
		t.Errorf("no errors: %v, want 0 (no evidence)", got)
	}
	if got := conditionalLLR(3, 2, 0, 900, 2); got != 0 {
		t.Errorf("no canary requests: %v, want 0", got)
	}
}

// TestSPRTWald checks the test itself against Wald's theory on its
// simplest case, one error a step, canary and stable equally loaded, H0
// "canary = stable" (π = ½) against H1 "canary = 2 × stable" (π = ⅔), at
// α = 5 %, β = 1 % (unequal, so that a swap shows): the share of wrong
// decisions is within Wald's bounds α / (1 − β) and β / (1 − α), and the
// mean number of steps is at least Wald's approximation (which ignores
// the overshoot of the last step) and within 15 % above it.
func TestSPRTWald(t *testing.T) {
	const alpha, beta, runs = 0.05, 0.01, 4000
	r := rand.New(rand.NewPCG(18, 5))
	zc, zs := math.Log((2.0/3)/0.5), math.Log((1.0/3)/0.5)
	for _, h1 := range []bool{false, true} {
		pi := 0.5
		if h1 {
			pi = 2.0 / 3
		}
		wrong, steps := 0, 0
		for range runs {
			test := NewSPRT(alpha, beta)
			for d := 0; d == 0; {
				steps++
				if r.Float64() < pi {
					d = test.Add(conditionalLLR(1, 0, 1, 1, 2))
				} else {
					d = test.Add(conditionalLLR(0, 1, 1, 1, 2))
				}
				if d == 1 && !h1 || d == -1 && h1 {
					wrong++
				}
			}
		}
		a, b := math.Log((1-beta)/alpha), math.Log(beta/(1-alpha))
		drift := pi*zc + (1-pi)*zs
		asn := ((1-alpha)*b + alpha*a) / drift
		bound := alpha / (1 - beta)
		if h1 {
			asn = ((1-beta)*a + beta*b) / drift
			bound = beta / (1 - alpha)
		}
		mean := float64(steps) / runs
		t.Logf("H1 %v: wrong %d of %d (bound %.4f), mean steps %.1f, Wald's approximation %.1f", h1, wrong, runs, bound, mean, asn)
		// The bound holds for the probability; allow three standard
		// errors of the count at the bound.
		if lim := runs*bound + 3*math.Sqrt(runs*bound); float64(wrong) > lim {
			t.Errorf("H1 %v: %d wrong decisions of %d, want ≤ %.0f (Wald's bound %.4f)", h1, wrong, runs, lim, bound)
		}
		if mean < asn || mean > 1.15*asn {
			t.Errorf("H1 %v: mean steps %.1f, want within [1, 1.15] × Wald's %.1f", h1, mean, asn)
		}
	}
}

// meanPathMinute is the minute at which the oracle's log-likelihood
// ratio, following its expected path (every count at its mean) while
// walking the plan one stage a minute, reaches a threshold: the closed
// form the median of the simulated decision minutes is held to when the
// drift dominates the noise. Computed here from the scenario's rates
// alone, without the oracle's code.
func meanPathMinute(sc Scenario, alpha, beta float64) (minute int, rollback bool) {
	p := sc.ErrorRate
	qc := p
	switch sc.Family {
	case Errors5x:
		qc = 5 * p
	case ErrorsPlus5:
		qc = p + 0.05
	}
	theta := math.Max(2, (p+0.005)/p)
	if qc > p {
		theta = qc / p
	}
	upper, lower := math.Log((1-beta)/alpha), math.Log(beta/(1-alpha))
	llr := 0.0
	for m := 1; m <= 240; m++ {
		w := 0.1 * float64(min(m, 5))
		n, s := sc.RPS*60*w, sc.RPS*60*(1-w)
		x, y := n*qc, s*p
		p0, p1 := n/(n+s), n*theta/(n*theta+s)
		llr += x*math.Log(p1/p0) + y*math.Log((1-p1)/(1-p0))
		switch {
		case llr >= upper:
			return m, true
		case llr <= lower:
			return max(m, 5), false
		}
	}
	return 0, false
}

// TestOracleMeanPath checks the oracle over the plan against the closed
// form on cells where the evidence comes fast enough for the mean path to
// predict the median: the same decision in every run but a few, and a
// median minute within one interval (or 10 %) of the prediction.
func TestOracleMeanPath(t *testing.T) {
	const runs = 200
	for _, sc := range []Scenario{
		{GoodNoise, 50, 0.01}, {GoodNoise, 50, 0.005}, {GoodNoise, 50, 0.001}, {GoodNoise, 5, 0.01},
		{Errors5x, 50, 0.01}, {Errors5x, 5, 0.01}, {ErrorsPlus5, 5, 0.005}, {ErrorsPlus5, 50, 0.001},
	} {
		want, back := meanPathMinute(sc, Alpha, Beta)
		var mins []float64
		wrong := 0
		for i := range runs {
			o := simulateOracle(sc, Seed(sc, i), Alpha, Beta)
			if o.Promoted && o.Minutes < 5 {
				t.Errorf("%v at %g req/s, %g, run %d: promoted at minute %v, before the plan's last stage held", sc.Family, sc.RPS, sc.ErrorRate, i, o.Minutes)
			}
			switch {
			case o.RolledBack == back && (o.RolledBack || o.Promoted):
				mins = append(mins, o.Minutes)
			case o.RolledBack || o.Promoted:
				wrong++
			}
		}
		got := Quantile(mins, runs, 0.5)
		t.Logf("%v at %g req/s, %g: mean path %d min (rollback %v); median %v, wrong %d of %d", sc.Family, sc.RPS, sc.ErrorRate, want, back, got, wrong, runs)
		if math.Abs(got-float64(want)) > max(1, 0.1*float64(want)) {
			t.Errorf("%v at %g req/s, %g: median minute %v, mean path %d", sc.Family, sc.RPS, sc.ErrorRate, got, want)
		}
		if wrong > runs/20 {
			t.Errorf("%v at %g req/s, %g: %d wrong decisions of %d", sc.Family, sc.RPS, sc.ErrorRate, wrong, runs)
		}
	}
}

// TestOracleErrors checks that the oracle's wrong decisions over the plan
// stay within Wald's bounds: a good canary (H0 exactly) rolled back at
// most α / (1 − β) of the time, and a canary exactly at its alternative
// (errors 2 × a stable rate of 1 %, the tolerance boundary) promoted at
// most β / (1 − α) of the time, counted over cells and seeds.
func TestOracleErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a few thousand rollouts")
	}
	const runs = 300
	back, good, prom, bad := 0, 0, 0, 0
	for _, rps := range []float64{5, 50} {
		for _, f := range []Family{GoodNoise, GoodBursts, GoodGap} {
			sc := Scenario{f, rps, 0.01}
			for i := range runs {
				if simulateOracle(sc, Seed(sc, i), Alpha, Beta).RolledBack {
					back++
				}
				good++
			}
		}
		sc := Scenario{Errors2x, rps, 0.01}
		for i := range 3 * runs {
			if simulateOracle(sc, Seed(sc, i), Alpha, Beta).Promoted {
				prom++
			}
			bad++
		}
	}
	t.Logf("good canaries rolled back %d of %d; regressions at the boundary promoted %d of %d", back, good, prom, bad)
	for _, c := range []struct {
		name  string
		n, of int
		bound float64
	}{{"good canaries rolled back", back, good, Alpha / (1 - Beta)}, {"boundary regressions promoted", prom, bad, Beta / (1 - Alpha)}} {
		if lim := float64(c.of)*c.bound + 3*math.Sqrt(float64(c.of)*c.bound); float64(c.n) > lim {
			t.Errorf("%s: %d of %d, want ≤ %.0f (Wald's bound %.4f)", c.name, c.n, c.of, lim, c.bound)
		}
	}
}

// TestInformedMixture checks Informed's Fail statistic against the
// mixture computed independently: the log of the prior-weighted mean,
// over the grid of canary rates, of the product of the windows' binomial
// likelihood ratios (log-gamma route), each window's ratio θ taken from
// the rates the window's shock and incident give both versions; and its
// "no regression" statistic against the same ratio at the boundary; and
// the unconditional variant's per-window statistic against the binomial
// likelihood ratio of the canary's own counts.
func TestInformedMixture(t *testing.T) {
	sc := Scenario{Errors2x, 5, 0.005}
	for _, p := range priors {
		test := newMixtureTest(sc, p, Alpha, Beta)
		rates, w := p.weights(sc.boundary(), sc.ErrorRate)
		if len(rates) != len(w) || rates[0] != sc.boundary() {
			t.Fatalf("%s: %d rates, %d weights, first rate %v; want as many, from the boundary %v", p.name, len(rates), len(w), rates[0], sc.boundary())
		}
		var sum float64
		for _, v := range w {
			sum += v
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("%s: prior weights sum to %v, want 1", p.name, sum)
		}
		wins := []window{
			{n: [2]float64{30}, m: [2]float64{270}, x: [2]float64{2}, y: [2]float64{1}, stable: [2]float64{0.005}, errShock: 1},
			{n: [2]float64{60}, m: [2]float64{240}, x: [2]float64{0}, y: [2]float64{3}, stable: [2]float64{0.005 * 2.5}, errShock: 2.5},
			{n: [2]float64{90}, m: [2]float64{210}, x: [2]float64{12}, y: [2]float64{25}, stable: [2]float64{0.105}, errShock: 1, errAdd: 0.1},
			{n: [2]float64{150}, m: [2]float64{150}, x: [2]float64{3}, y: [2]float64{0}, stable: [2]float64{0.005}, errShock: 1},
		}
		logLR := func(q float64) float64 {
			var l float64
			for _, win := range wins {
				st := win.stable[0]
				c := math.Min(q*win.errShock+win.errAdd, 1-1e-9)
				k := win.x[0] + win.y[0]
				p0, p1 := win.n[0]/(win.n[0]+win.m[0]), win.n[0]*c/(win.n[0]*c+win.m[0]*st)
				l += binomialLogPMF(win.x[0], k, p1) - binomialLogPMF(win.x[0], k, p0)
			}
			return l
		}
		for _, win := range wins {
			if d := test.add(win); d != 0 {
				t.Fatalf("%s: decided %d on a few windows", p.name, d)
			}
		}
		var mix float64
		for k, q := range rates {
			mix += w[k] * math.Exp(logLR(q))
		}
		if got, want := test.mixture(), math.Log(mix); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: log mixture %v, independently %v", p.name, got, want)
		}
		if got, want := test.pass, logLR(sc.boundary()); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: log-likelihood ratio at the boundary %v, independently %v", p.name, got, want)
		}
	}
	for _, c := range []struct{ x, n, c, s float64 }{{3, 300, 0.02, 0.01}, {0, 150, 0.06, 0.005}, {40, 1500, 0.011, 0.1}} {
		want := binomialLogPMF(c.x, c.n, c.c) - binomialLogPMF(c.x, c.n, c.s)
		if got := canaryLLR(c.x, c.n, c.c, c.s); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("canaryLLR(%v) = %v, binomial likelihood ratio %v", c, got, want)
		}
	}
}

// TestInformedVille checks Informed's test on the simplest case, one
// error a step, canary and stable equally loaded, at α = 5 %, β = 1 %
// (unequal, so that a swap shows), with the boundary at θ = 2: a canary
// like stable (π = ½) fails at most α/(1 − β) of the time (Ville's
// inequality for the mixture), and canaries at the boundary (θ = 2, π =
// ⅔) and beyond it (θ = 5) pass at most β/(1 − α) of the time; for
// Informed's prior, and with -quality.full for every prior tried. The
// maximum of the likelihood ratios over the grid in place of their
// mixture, which is no test, fails a good canary 7–9 % of the time here
// (measured: 148 of 2,000 runs with Informed's prior, 168–177 with the
// others), so this test fails on it.
func TestInformedVille(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates tens of thousands of steps of 64 likelihood ratios")
	}
	const alpha, beta, runs = 0.05, 0.01, 2000
	sc := Scenario{GoodNoise, 5, 0.01} // boundary 2 %, θ = 2
	r := rand.New(rand.NewPCG(18, 6))
	ps := []prior{informedPrior}
	if *full {
		ps = priors
	}
	for _, p := range ps {
		for _, th := range []float64{1, 2, 5} {
			pi := th / (th + 1)
			wrong := 0
			for range runs {
				test := newMixtureTest(sc, p, alpha, beta)
				for d := 0; d == 0; {
					win := window{n: [2]float64{1}, m: [2]float64{1}, stable: [2]float64{sc.ErrorRate}, errShock: 1}
					if r.Float64() < pi {
						win.x[0] = 1
					} else {
						win.y[0] = 1
					}
					d = test.add(win)
					if d == 1 && th == 1 || d == -1 && th > 1 {
						wrong++
					}
				}
			}
			bound := alpha / (1 - beta)
			if th > 1 {
				bound = beta / (1 - alpha)
			}
			t.Logf("%s, θ = %g: wrong %d of %d (bound %.4f)", p.name, th, wrong, runs, bound)
			if lim := runs*bound + 3*math.Sqrt(runs*bound); float64(wrong) > lim {
				t.Errorf("%s, θ = %g: %d wrong decisions of %d, want ≤ %.0f (bound %.4f)", p.name, th, wrong, runs, lim, bound)
			}
		}
	}
}

// TestInformedErrors checks Informed over the plan as TestOracleErrors
// checks the oracle, and its unconditional variant the same way: good
// canaries (noise, bursts on both, incident on both, a traffic gap)
// rolled back at most α/(1 − β) of the time, and regressions at the
// boundary (errors 2 × a stable rate of 1 %) and beyond it (5 ×, +5
// points) promoted at most β/(1 − α) of the time, counted over cells and
// seeds; and that Informed promotes a good canary in the same minute as
// the oracle whenever neither rolls it back (its "no regression" side is
// the oracle's test for a good canary).
func TestInformedErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a few thousand rollouts")
	}
	const runs = 200
	var unconditional Contender
	for _, c := range InformedVariants() {
		if c.Name == "informed/unconditional" {
			unconditional = c
		}
	}
	for _, inf := range []Contender{Informed(), unconditional} {
		back, good, prom, bad, differ := 0, 0, 0, 0, 0
		for _, rps := range []float64{5, 50} {
			for _, f := range []Family{GoodNoise, GoodBursts, GoodIncident, GoodGap} {
				sc := Scenario{f, rps, 0.01}
				for i := range runs {
					o := inf.sim(sc, Seed(sc, i))
					if o.RolledBack {
						back++
					} else if or := simulateOracle(sc, Seed(sc, i), Alpha, Beta); !or.RolledBack && (or.Promoted != o.Promoted || or.Minutes != o.Minutes) {
						differ++
					}
					good++
				}
			}
			for _, f := range []Family{Errors2x, Errors5x, ErrorsPlus5} {
				sc := Scenario{f, rps, 0.01}
				for i := range 2 * runs {
					if inf.sim(sc, Seed(sc, i)).Promoted {
						prom++
					}
					bad++
				}
			}
		}
		t.Logf("%s: good canaries rolled back %d of %d (promoted otherwise than by the oracle: %d); regressions at or beyond the boundary promoted %d of %d", inf.Name, back, good, differ, prom, bad)
		if inf.Name == "informed" && differ != 0 {
			t.Errorf("%s: %d good canaries not rolled back were promoted otherwise than by the oracle", inf.Name, differ)
		}
		for _, c := range []struct {
			name  string
			n, of int
			bound float64
		}{{"good canaries rolled back", back, good, Alpha / (1 - Beta)}, {"regressions promoted", prom, bad, Beta / (1 - Alpha)}} {
			if lim := float64(c.of)*c.bound + 3*math.Sqrt(float64(c.of)*c.bound); float64(c.n) > lim {
				t.Errorf("%s: %s: %d of %d, want ≤ %.0f (bound %.4f)", inf.Name, c.name, c.n, c.of, lim, c.bound)
			}
		}
	}
}
