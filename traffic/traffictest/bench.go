package traffictest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/meshcanary/canary/traffic"
)

// BenchmarkWeightChange measures what a weight change through r costs
// against a plain read of the same object: each iteration times one
// SetSplit (alternating between two canary weights, from and to, so that
// every iteration writes) and one call of get (the back end's plain read
// of the object, made with the same client). It reports the medians as
// "set-median-µs" and "get-median-µs" and their ratio as "set/get", and
// returns the number of iterations, for callers that check request counts.
func BenchmarkWeightChange(b *testing.B, r *traffic.Router, from, to int, get func(context.Context) error) int {
	b.Helper()
	ctx := context.Background()
	var sets, gets []time.Duration
	for i := 0; b.Loop(); i++ {
		w := from
		if i%2 == 1 {
			w = to
		}
		t0 := time.Now()
		if err := r.SetSplit(ctx, traffic.Weighted(w)); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := get(ctx); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		sets, gets = append(sets, t1.Sub(t0)), append(gets, t2.Sub(t1))
	}
	b.StopTimer()
	ms, mg := median(sets), median(gets)
	b.ReportMetric(float64(ms.Microseconds()), "set-median-µs")
	b.ReportMetric(float64(mg.Microseconds()), "get-median-µs")
	if mg > 0 {
		b.ReportMetric(float64(ms)/float64(mg), "set/get")
	}
	return len(sets)
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
