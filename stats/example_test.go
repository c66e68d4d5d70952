package stats_test

import (
	"fmt"
	"math"

	"github.com/meshcanary/canary/stats"
)

func ExampleUTest() {
	// R: wilcox.test(canary, stable, conf.int = TRUE, conf.level = 0.98)
	// gives W = 70, p-value = 0.0003291, CI 20 52, estimate 39.5.
	canary := []float64{212, 230, 251, 244, 260, 238, 249, 255}
	stable := []float64{201, 199, 214, 208, 196, 210, 205, 203, 215}
	r, err := stats.UTest(canary, stable, stats.UTestOptions{ConfLevel: 0.98})
	if err != nil {
		panic(err)
	}
	fmt.Printf("W = %g, p = %.5f, exact = %v\n", r.W, r.PValue, r.Exact)
	fmt.Printf("shift %.1f, 98%% CI [%.0f, %.0f]\n", r.Estimate, r.Low, r.High)
	// Output:
	// W = 70, p = 0.00033, exact = true
	// shift 39.5, 98% CI [20, 52]
}

// An e-process on the conditional binomial: each window's likelihood
// ratio of "the canary's rate is 2 × stable's" against "no worse", given
// the window's bad events of both versions, multiplied over the windows.
// By Ville's inequality a canary no worse than stable makes it reach
// 1/α = 100 with probability at most 1 %, however often it is looked at.
func ExampleConditionalLogLR() {
	windows := []struct{ x, n, y, m float64 }{ // canary x of n, stable y of m
		{2, 100, 9, 900},
		{5, 100, 8, 900},
		{6, 100, 10, 900},
		{7, 100, 9, 900},
	}
	logE, detector := 0.0, 0.0
	for i, w := range windows {
		llr := stats.ConditionalLogLR(w.x, w.x+w.y, w.n, w.m, 2, 1)
		logE += llr
		detector = stats.CUSUM(detector, llr)
		fmt.Printf("window %d: E = %.1f, CUSUM %.2f, reject at α = 1 %%: %v\n",
			i+1, math.Exp(logE), detector, logE >= math.Log(100))
	}
	// Output:
	// window 1: E = 1.4, CUSUM 0.34, reject at α = 1 %: false
	// window 2: E = 13.0, CUSUM 2.56, reject at α = 1 %: false
	// window 3: E = 181.0, CUSUM 5.20, reject at α = 1 %: true
	// window 4: E = 5042.1, CUSUM 8.53, reject at α = 1 %: true
}

func ExampleMSPRT() {
	// 3 % errors on 2,000 canary requests against 1 % on 18,000 stable.
	lambda, excess, err := stats.MSPRT(0.03, 2000, 0.01, 18000, 0, 0, 0.01)
	if err != nil {
		panic(err)
	}
	fmt.Printf("excess %.3f, Λ = %.3g, fail at α = 5 %%: %v\n", excess, lambda, lambda >= 1/0.05)
	// Output: excess 0.020, Λ = 5.86e+11, fail at α = 5 %: true
}
