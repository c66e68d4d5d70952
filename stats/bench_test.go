package stats_test

import (
	"math/rand/v2"
	"testing"

	"github.com/meshcanary/canary/stats"
)

// BenchmarkUTest10k runs the rank-sum test with its 98 % interval and
// Hodges–Lehmann estimate over two samples of 10,000 (target ≤ 5 ms).
func BenchmarkUTest10k(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x, y := make([]float64, 10000), make([]float64, 10000)
	for i := range x {
		x[i] = r.NormFloat64() + 0.02
		y[i] = r.NormFloat64()
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := stats.UTest(x, y, stats.UTestOptions{ConfLevel: 0.98}); err != nil {
			b.Fatal(err)
		}
	}
}
