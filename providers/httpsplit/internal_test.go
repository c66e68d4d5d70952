package httpsplit

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
	"unsafe"
)

func TestPick(t *testing.T) {
	for pct := 0; pct <= 100; pct++ {
		for start := uint64(0); start < 300; start += 7 {
			n := 0
			for i := start; i < start+100; i++ {
				if pick(i, pct) {
					n++
				}
			}
			if n != pct {
				t.Fatalf("pick at %d%%: %d of requests %d..%d", pct, n, start, start+99)
			}
		}
	}
	// The counter wrapping around is harmless: the sequence has period 100.
	if pick(math.MaxUint64, 50) != pick(math.MaxUint64%100, 50) {
		t.Error("pick is not periodic at the counter's end")
	}
}

// Every latency maps to a bin whose representative value is within 1/32
// of it (exact below 16 µs), and bins are ordered.
func TestHistogramBins(t *testing.T) {
	prev := -1
	check := func(us int64) {
		i := binOf(us)
		if i < prev {
			t.Fatalf("binOf(%d) = %d after %d: bins must not go down", us, i, prev)
		}
		prev = i
		if i < 0 || i >= numBins {
			t.Fatalf("binOf(%d) = %d out of range", us, i)
		}
		v := binValue(i)
		limit := float64(us) / 32
		if us >= 1<<(maxExp+1) {
			return // the overflow bin
		}
		if math.Abs(v-float64(us)) > limit {
			t.Fatalf("binValue(binOf(%d µs)) = %v, off by more than 1/32", us, v)
		}
	}
	for us := int64(0); us < 1<<16; us++ {
		check(us)
	}
	for us := int64(1 << 16); us < 1<<(maxExp+2); us += us/97 + 1 {
		check(us)
	}
	if binOf(-5) != 0 || binOf(math.MaxInt64) != numBins-1 {
		t.Error("out-of-range latencies are not clamped")
	}
}

// Percentiles from the histogram are within 1/32 of the exact nearest-rank
// percentile of the latencies recorded.
func TestPercentileAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		n := 1 + rng.IntN(5000)
		var hist [numBins]uint32
		vals := make([]int64, n)
		for i := range vals {
			vals[i] = int64(math.Exp(rng.NormFloat64()*1.5 + 8)) // log-normal around 3 ms
			hist[binOf(vals[i])]++
		}
		sort.Slice(vals, func(a, b int) bool { return vals[a] < vals[b] })
		for _, p := range []float64{0.5, 0.9, 0.95, 0.99, 0.999} {
			rank := int(math.Ceil(p * float64(n)))
			exact := float64(vals[rank-1])
			got := percentileOf(&hist, uint64(n), p)
			if math.Abs(got-exact) > exact/32 {
				t.Fatalf("trial %d: p%v of %d latencies = %v µs, exact %v µs", trial, p*100, n, got, exact)
			}
		}
	}
}

// Whatever the traffic, a series holds at most Retention+60 buckets and
// histograms and LatencySamples latencies.
func TestMemoryIsBounded(t *testing.T) {
	s := newSeries(60, 100)
	start := time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= 200_000; i++ { // ends at start+1000s
		at := start.Add(time.Duration(i) * 5 * time.Millisecond) // 200/s for 1000 s
		s.add(at, time.Duration(i%1000)*time.Microsecond, i%50 == 0)
	}
	buckets, hists, lats := s.memory()
	if buckets != 120 || hists > 120 || lats != 100 {
		t.Errorf("after 1000 s of traffic: %d buckets, %d histograms, %d latencies; want 120, ≤120, 100", buckets, hists, lats)
	}
	// The last minute is still exact.
	end := start.Add(1000 * time.Second).Unix()
	r, err := s.query(metric{name: "requests"}, end-60, end, 60)
	if err != nil || r.Value != 12000 {
		t.Errorf("last minute: %+v, %v; want 12000 requests", r, err)
	}
	r, err = s.query(metric{name: "latency_p50", percentile: 0.5}, end-60, end, 60)
	if err != nil || len(r.Samples) != 100 {
		t.Errorf("latency samples: %d, %v; want the 100 held", len(r.Samples), err)
	}
	// A request stamped before the ring's reach is dropped, not misfiled.
	s.add(start, time.Millisecond, false)
	if s.stale != 1 {
		t.Errorf("stale = %d, want 1", s.stale)
	}
}

// The sizes the package doc's memory bound is computed from.
func TestMemoryFigures(t *testing.T) {
	if got := unsafe.Sizeof(bucket{}); got != 40 {
		t.Errorf("bucket is %d bytes; the package doc says 40", got)
	}
	if got := unsafe.Sizeof([numBins]uint32{}); got != 1792 {
		t.Errorf("a histogram is %d bytes; the package doc says 1792", got)
	}
	if got := unsafe.Sizeof(latencySample{}); got != 16 {
		t.Errorf("a latency sample is %d bytes; the package doc says 16", got)
	}
	perVersion := (int(DefaultRetention/time.Second)+ringSlack)*(40+1792) + DefaultLatencySamples*16
	if total := 3 * perVersion; total < 3_700_000 || total > 3_900_000 {
		t.Errorf("default bound %d bytes; the package doc says ≈ 3.8 MB", total)
	}
}
