package stats

import (
	"math"
	"testing"
)

// TestQuantileMatchesR: values printed by R's quantile(x, p) (type 7).
func TestQuantileMatchesR(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		x    []float64
		p    float64
		want float64
	}{
		{ten, 0.25, 3.25}, {ten, 0.75, 7.75}, {ten, 0.5, 5.5}, {ten, 0, 1}, {ten, 1, 10},
		{[]float64{1, 2, 4}, 0.5, 2}, {[]float64{1, 2, 4}, 0.9, 3.6}, {[]float64{7}, 0.3, 7},
	} {
		if got := Quantile(c.x, c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Quantile(%v, %v) = %v, want %v", c.x, c.p, got, c.want)
		}
	}
	for _, p := range []float64{-0.1, 1.1, math.NaN()} {
		if got := Quantile(ten, p); !math.IsNaN(got) {
			t.Errorf("Quantile at p = %v = %v, want NaN", p, got)
		}
	}
	if got := Quantile(nil, 0.5); !math.IsNaN(got) {
		t.Errorf("Quantile of nothing = %v, want NaN", got)
	}
}
