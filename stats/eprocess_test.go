package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestConditionalLogLRIsTheBinomials: the conditional identity's log LR is
// that of Binomial(t, nρ/(nρ + m)) at ρ = a against ρ = b.
func TestConditionalLogLRIsTheBinomials(t *testing.T) {
	for _, c := range []struct{ x, t, n, m, a, b float64 }{
		{3, 10, 100, 900, 2, 1}, {0, 5, 50, 5000, 3, 1}, {7, 7, 10, 10, 1, 2}, {12, 40, 1000, 1000, 1.5, 1.2},
	} {
		p1, p0 := c.n*c.a/(c.n*c.a+c.m), c.n*c.b/(c.n*c.b+c.m)
		want := c.x*math.Log(p1/p0) + (c.t-c.x)*math.Log((1-p1)/(1-p0))
		if got := ConditionalLogLR(c.x, c.t, c.n, c.m, c.a, c.b); !near(got, want) {
			t.Errorf("ConditionalLogLR%v = %v, want %v", c, got, want)
		}
		// BinomialLogLR is the same likelihood ratio written on the rates.
		if got := BinomialLogLR(c.x, c.t, p1, p0); !near(got, want) {
			t.Errorf("BinomialLogLR(%v, %v, %v, %v) = %v, want %v", c.x, c.t, p1, p0, got, want)
		}
	}
}

func TestLogMixAndLogAdd(t *testing.T) {
	v, w := []float64{1, -2, 700, math.Inf(-1)}, []float64{0.5, 0.25, 0, 0.25}
	want := math.Log(0.5*math.E + 0.25*math.Exp(-2))
	if got := LogMix(v, w); !near(got, want) {
		t.Errorf("LogMix = %v, want %v (a zero weight is skipped)", got, want)
	}
	if got := LogMix([]float64{math.Inf(-1)}, []float64{1}); !math.IsInf(got, -1) {
		t.Errorf("LogMix of nothing = %v, want −∞", got)
	}
	if got := LogAdd(800, 800); !near(got, 800+math.Ln2) {
		t.Errorf("LogAdd(800, 800) = %v, want 800 + log 2 (no overflow)", got)
	}
	if got := LogAdd(math.Inf(-1), -3); got != -3 {
		t.Errorf("LogAdd(−∞, −3) = %v", got)
	}
}

// TestCUSUMIsTheLargestRecentSum: Page's recursion equals the largest sum
// over any run of latest windows (or 0).
func TestCUSUMIsTheLargestRecentSum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var llr []float64
	w := 0.0
	for k := 0; k < 200; k++ {
		llr = append(llr, r.NormFloat64()-0.2)
		w = CUSUM(w, llr[k])
		best, sum := 0.0, 0.0
		for j := k; j >= 0; j-- {
			sum += llr[j]
			best = math.Max(best, sum)
		}
		if !near(w, best) {
			t.Fatalf("window %d: CUSUM %v, largest recent sum %v", k, w, best)
		}
	}
}

// TestEDetectorIsTheMixtureOverStarts: the recursion equals
// Σ_j w_j Π_{i ≥ j} LR_i with w_j = 1/((j+1)(j+2)).
func TestEDetectorIsTheMixtureOverStarts(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var llr []float64
	logM := math.Inf(-1)
	for k := 0; k < 60; k++ {
		llr = append(llr, r.NormFloat64()*0.5)
		logM = EDetector(logM, llr[k], -math.Log(float64((k+1)*(k+2))))
		want := 0.0
		for j := 0; j <= k; j++ {
			s := 0.0
			for i := j; i <= k; i++ {
				s += llr[i]
			}
			want += math.Exp(s) / float64((j+1)*(j+2))
		}
		if !near(logM, math.Log(want)) {
			t.Fatalf("window %d: EDetector %v, mixture %v", k, logM, math.Log(want))
		}
	}
}

// TestEProcessKeepsVillesBound: under the null (the canary's rate equal
// to stable's), the product of the conditional binomial's LR(2 : 1) over
// 40 windows, looked at after every window, reaches 1/α in at most about
// α of the rollouts; against a canary at 3 × stable's rate it reaches it
// in most. Deterministic by seed.
func TestEProcessKeepsVillesBound(t *testing.T) {
	const runs, windows, alpha = 2000, 40, 0.05
	r := rand.New(rand.NewPCG(7, 8))
	poisson := func(mean float64) float64 { // Knuth's, means are small
		l, k, p := math.Exp(-mean), 0.0, 1.0
		for {
			p *= r.Float64()
			if p <= l {
				return k
			}
			k++
		}
	}
	crossed := func(rho float64) int {
		c := 0
		for range runs {
			e := 0.0
			for range windows {
				n, m := 100.0, 900.0
				x, y := poisson(0.01*rho*n), poisson(0.01*m)
				if e += ConditionalLogLR(x, x+y, n, m, 2, 1); e >= math.Log(1/alpha) {
					c++
					break
				}
			}
		}
		return c
	}
	if c := crossed(1); float64(c)/runs > alpha {
		t.Errorf("null: %d of %d crossed 1/α, more than α = %v allows", c, runs, alpha)
	}
	if c := crossed(3); float64(c)/runs < 0.8 {
		t.Errorf("3 × stable: only %d of %d crossed 1/α", c, runs)
	}
}

func TestDispersion(t *testing.T) {
	for _, c := range []struct{ sum, k, want float64 }{
		{0, 0, 1}, {10, 10, 1}, {22.4, 10, 1}, {40, 10, 4}, {1e6, 10, 100},
	} {
		if got := Dispersion(c.sum, c.k); !near(got, c.want) {
			t.Errorf("Dispersion(%v, %v) = %v, want %v", c.sum, c.k, got, c.want)
		}
	}
}
