package httpsplit

import (
	"errors"
	"math/rand/v2"
	"net/url"
	"sort"
	"testing"
	"time"

	"github.com/meshcanary/canary/metrics"
)

// TestConsecutiveWindowsCountEachRequestOnce replays, in time order,
// requests ending at random instants and analyses at random instants (some
// less than a second apart, none on a whole second), each analysis querying
// the window since the previous one, as a rollout does. Every request must
// be counted in exactly one window. Before the fix the window ended at
// ⌈End⌉: the requests that ended between an analysis and the next whole
// second were in a second already read, and the next window skipped it.
func TestConsecutiveWindowsCountEachRequestOnce(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	p, err := New(Config{Stable: u, Canary: u})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	rng := rand.New(rand.NewPCG(9, 2026))
	t0 := time.Date(2026, 10, 25, 0, 59, 0, 0, time.UTC)
	var analyses []time.Time
	at := t0.Add(123 * time.Millisecond)
	for range 300 {
		analyses = append(analyses, at)
		at = at.Add(time.Duration(rng.Int64N(int64(5 * time.Second))))
	}
	var requests []time.Time
	for range 20000 {
		requests = append(requests, t0.Add(time.Duration(rng.Int64N(int64(at.Sub(t0))))))
	}
	sort.Slice(requests, func(i, j int) bool { return requests[i].Before(requests[j]) })

	s := p.series[canaryVersion]
	next, counted, errs := 0, int64(0), 0
	for i, end := range analyses {
		// What has ended by the analysis instant is recorded before it.
		for next < len(requests) && !requests[next].After(end) {
			s.add(requests[next], time.Millisecond, next%7 == 0)
			next++
		}
		if i == 0 {
			continue
		}
		window := end.Sub(analyses[i-1])
		if window <= 0 {
			continue
		}
		res, err := p.Query(t.Context(), metrics.Query{Text: "error_rate canary", Window: window, End: end})
		switch {
		case errors.Is(err, metrics.ErrNoData):
		case err != nil:
			t.Fatalf("analysis %d: %v", i, err)
		default:
			counted += res.Count
			errs += int(res.Value*float64(res.Count) + 0.5)
		}
	}
	// The requests the windows cover: those that ended in the whole
	// seconds (⌊first analysis⌋, ⌊last analysis⌋].
	from, to := analyses[0].Truncate(time.Second), analyses[len(analyses)-1].Truncate(time.Second)
	var want int64
	wantErrs := 0
	for i, r := range requests {
		if r.After(from) && !r.After(to) {
			want++
			if i%7 == 0 {
				wantErrs++
			}
		}
	}
	if counted != want || errs != wantErrs {
		t.Errorf("%d requests (%d errors) counted over consecutive windows, want %d (%d): %d lost or counted twice",
			counted, errs, want, wantErrs, want-counted)
	}
}

// A query's whole seconds are (⌊End−Window⌋, ⌊End⌋], so a window shorter
// than a second inside one second has none.
func TestWindowWithinOneSecond(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	p, err := New(Config{Stable: u, Canary: u})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	t0 := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	p.series[stable].add(t0.Add(300*time.Millisecond), time.Millisecond, false)
	_, err = p.Query(t.Context(), metrics.Query{Text: "requests stable", Window: 500 * time.Millisecond, End: t0.Add(900 * time.Millisecond)})
	if !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("window inside one second: %v, want ErrNoData", err)
	}
	res, err := p.Query(t.Context(), metrics.Query{Text: "requests stable", Window: 500 * time.Millisecond, End: t0.Add(1100 * time.Millisecond)})
	if err != nil || res.Count != 1 {
		t.Errorf("window over the second's end: %+v, %v; want the request", res, err)
	}
}

// TestSlowBoundResolution: slow counts a request when the midpoint of its
// latency's histogram bin is above the bound, so the share is exact for a
// bound on a bin edge and otherwise off by at most the requests within
// 1/32 of the bound.
func TestSlowBoundResolution(t *testing.T) {
	for _, bound := range []float64{0.000005, 0.0001, 0.001, 0.25, 0.3, 1, 2.5, 60} {
		from := slowFromBin(bound)
		if from == 0 || from >= numBins {
			t.Fatalf("bound %v: first slow bin %d", bound, from)
		}
		us := bound * 1e6
		if lo, hi := binValue(from-1), binValue(from); lo > us || hi <= us {
			t.Errorf("bound %v µs: bins %v and %v µs straddle it the wrong way", us, lo, hi)
		}
		// Every latency counted slow is above bound·(1 − 1/32), every one
		// not counted is at most bound·(1 + 1/32).
		for _, lat := range []float64{us * 0.96, us * 0.98, us * 1.02, us * 1.04} {
			slow := binOf(int64(lat)) >= from
			if (slow && lat < us*(1-1.0/32)-1) || (!slow && lat > us*(1+1.0/32)+1) {
				t.Errorf("bound %v µs: latency %v µs counted slow=%v", us, lat, slow)
			}
		}
	}
}

func TestUpstreamTimeoutOnByDefault(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	c, err := Config{Stable: u, Canary: u}.normalize()
	if err != nil || c.UpstreamTimeout != DefaultUpstreamTimeout || DefaultUpstreamTimeout != 15*time.Second {
		t.Errorf("default upstream timeout %v, %v; want 15 s", c.UpstreamTimeout, err)
	}
	c, err = Config{Stable: u, Canary: u, UpstreamTimeout: -1}.normalize()
	if err != nil || c.UpstreamTimeout >= 0 {
		t.Errorf("negative upstream timeout became %v, %v; want kept (no timeout)", c.UpstreamTimeout, err)
	}
}

// A request's end is stamped while the series' lock is held, so no query
// (which reads under that lock) can run between the stamp and the count.
// Before, the proxy stamped the end first and counted it after: a query in
// between missed a request stamped inside its window.
func TestEndStampedUnderTheLock(t *testing.T) {
	s := newSeries(60, 100)
	start := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	locked := false
	s.record(func() time.Time {
		if s.mu.TryLock() {
			s.mu.Unlock()
		} else {
			locked = true
		}
		return start.Add(time.Millisecond)
	}, start, false)
	if !locked {
		t.Fatal("the end of a request was stamped without the series' lock held")
	}
}
