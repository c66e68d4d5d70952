package httpsplit_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/traffic"
)

// clockedBackend answers after advancing the proxy's clock by a latency, so
// the proxy measures exactly that latency. Request i (from 0) takes
// latency(i) and fails with a 500 when fail(i).
func clockedBackend(clk *clock, latency func(i int) time.Duration, fail func(i int) bool) http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1) - 1)
		clk.Advance(latency(i))
		if fail(i) {
			w.WriteHeader(http.StatusInternalServerError)
		}
		io.WriteString(w, "ok\n")
	})
}

// metricsRig sends, in each second k of 0..9 after t0, 20 requests at a
// 50/50 split: 10 to stable (10 ms, never failing) and 10 to the canary
// (request i takes i%100+1 ms; every 10th fails). The proxy's clock is set
// before each request, so every request ends inside its second.
func metricsRig(t *testing.T, c httpsplit.Config) (*rig, *clock) {
	clk := newClock(t0)
	c.Now = clk.Now
	stable := clockedBackend(clk, func(int) time.Duration { return 10 * time.Millisecond }, func(int) bool { return false })
	canaryH := clockedBackend(clk, func(i int) time.Duration { return time.Duration(i%100+1) * time.Millisecond },
		func(i int) bool { return i%10 == 9 })
	r := newRig(t, c, stable, canaryH)
	if err := r.p.SetSplit(ctx(t), traffic.Weighted(50)); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 10; k++ {
		for j := 0; j < 20; j++ {
			clk.Set(t0.Add(time.Duration(k)*time.Second + time.Duration(j)*40*time.Millisecond))
			r.serve(t, http.MethodGet, "/", nil)
		}
	}
	return r, clk
}

func TestMetricsOverWindows(t *testing.T) {
	r, _ := metricsRig(t, httpsplit.Config{})
	q := func(text string, window, end time.Duration) (metrics.Result, error) {
		return r.p.Query(ctx(t), metrics.Query{Text: text, Window: window, End: t0.Add(end)})
	}
	s := time.Second
	cases := []struct {
		text        string
		window, end time.Duration
		want, tol   float64
		count       int64
	}{
		{"requests canary", 10 * s, 10 * s, 100, 0, 100},
		{`requests{version="stable"}`, 10 * s, 10 * s, 100, 0, 100},
		{"request_rate canary", 10 * s, 10 * s, 10, 0, 100},
		{"request_rate canary", 20 * s, 10 * s, 5, 0, 100}, // half the window is empty
		{"error_rate canary", 10 * s, 10 * s, 0.1, 1e-12, 100},
		{"success_rate canary", 10 * s, 10 * s, 0.9, 1e-12, 100},
		{"error_rate stable", 10 * s, 10 * s, 0, 0, 100},
		{"latency_mean canary", 10 * s, 10 * s, 0.0505, 1e-12, 100},
		{"latency_p50 canary", 10 * s, 10 * s, 0.050, 0.050 / 32, 100},
		{"latency_p90 canary", 10 * s, 10 * s, 0.090, 0.090 / 32, 100},
		{"latency_p99 canary", 10 * s, 10 * s, 0.099, 0.099 / 32, 100},
		{"latency_p999 canary", 10 * s, 10 * s, 0.100, 0.100 / 32, 100},
		{"latency_p99 stable", 10 * s, 10 * s, 0.010, 0.010 / 32, 100},
		// (t0+5s, t0+10s]: seconds 5..9, canary requests 50..99.
		{"requests canary", 5 * s, 10 * s, 50, 0, 50},
		{"latency_p50 canary", 5 * s, 10 * s, 0.075, 0.075 / 32, 50},
		{"latency_mean canary", 5 * s, 10 * s, 0.0755, 1e-12, 50},
		// (t0, t0+1s]: only second 0.
		{"requests stable", s, s, 10, 0, 10},
		// A fractional End: the whole seconds up to it, (t0+4s, t0+9s]; the
		// second it falls in is left to the next window.
		{"requests canary", 5 * s, 9*s + 300*time.Millisecond, 50, 0, 50},
		{"latency_mean canary", 5 * s, 9*s + 300*time.Millisecond, 0.0655, 1e-12, 50},
		// A fractional Window: the whole seconds from ⌊End−Window⌋.
		{"requests canary", 4*s + time.Millisecond, 10 * s, 50, 0, 50},
		{"requests canary", 4*s + 999*time.Millisecond, 10*s + 998*time.Millisecond, 50, 0, 50},
		// Slow: the share of requests slower than a bound, in seconds.
		{"slow:0.065536 canary", 10 * s, 10 * s, 0.35, 0, 100},
		{`slow{version="canary",le="0.032768"}`, 10 * s, 10 * s, 0.68, 0, 100},
		{"slow:0.2 canary", 10 * s, 10 * s, 0, 0, 100},
		{"slow:0.0005 stable", 10 * s, 10 * s, 1, 0, 100},
		{"slow:0.0105 stable", 10 * s, 10 * s, 0, 0, 100},
	}
	for _, c := range cases {
		res, err := q(c.text, c.window, c.end)
		if err != nil {
			t.Errorf("%s over %v to t0+%v: %v", c.text, c.window, c.end, err)
			continue
		}
		for _, v := range append(res.Samples, res.Value) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("%s: non-finite value or sample in %+v", c.text, res)
			}
		}
		if math.Abs(res.Value-c.want) > c.tol || res.Count != c.count {
			t.Errorf("%s over %v to t0+%v = %v on %d requests, want %v ± %v on %d", c.text, c.window, c.end, res.Value, res.Count, c.want, c.tol, c.count)
		}
	}

	res, err := q("error_rate canary", 10*s, 10*s)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Samples) != 10 {
		t.Errorf("error_rate samples %v, want one per second", res.Samples)
	}
	for _, v := range res.Samples {
		if math.Abs(v-0.1) > 1e-12 {
			t.Errorf("error_rate samples %v, want 0.1 each second", res.Samples)
			break
		}
	}
	res, err = q("requests stable", 12*s, 12*s)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 0, 0}; !equal(res.Samples, want) {
		t.Errorf("requests samples %v, want %v", res.Samples, want)
	}
	res, err = q("latency_p99 canary", 3*s, 10*s)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Samples) != 30 || math.Abs(res.Samples[0]-0.071) > 1e-12 || math.Abs(res.Samples[29]-0.100) > 1e-12 {
		t.Errorf("latency samples %v, want the 30 latencies 0.071..0.100 s oldest first", res.Samples)
	}

	// No request in the window: no data, for every metric.
	for _, text := range []string{"requests canary", "request_rate canary", "error_rate canary", "success_rate canary", "latency_mean canary", "latency_p99 canary", "slow:0.1 canary", "error_rate mirror"} {
		if res, err := q(text, 5*s, 30*s); !errors.Is(err, metrics.ErrNoData) {
			t.Errorf("%s over an empty window = %+v, %v; want metrics.ErrNoData", text, res, err)
		}
	}
	// (t0-5s, t0]: the requests of second 0 ended after t0, outside.
	if _, err := q("requests stable", 5*s, 0); !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("window before the first request: %v, want ErrNoData", err)
	}
}

// nextSecond is the end of the current wall-clock second: a window ending
// there holds every request already served.
func nextSecond() time.Time { return time.Now().Truncate(time.Second).Add(time.Second) }

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Queries rendered by a metrics.Template in the PromQL dialect, with the
// version as a validated variable, are understood.
func TestTemplateRenderedQuery(t *testing.T) {
	r, _ := metricsRig(t, httpsplit.Config{})
	tmpl, err := metrics.Parse(metrics.PromQL, "errors", `error_rate{version="{{version}}"}`)
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]float64{"canary": 0.1, "stable": 0} {
		text, err := tmpl.Render(metrics.Vars{Version: v})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.p.Query(ctx(t), metrics.Query{Text: text, Window: 10 * time.Second, End: t0.Add(10 * time.Second)})
		if err != nil || math.Abs(res.Value-want) > 1e-12 {
			t.Errorf("%s = %+v, %v; want %v", text, res, err, want)
		}
	}
}

func TestQueryRefusesBadText(t *testing.T) {
	r, _ := metricsRig(t, httpsplit.Config{Retention: time.Minute})
	for _, text := range []string{
		"error_rate",                            // no version
		"error_rate canary extra",               // too many words
		"errors canary",                         // unknown metric
		"error_rate baseline",                   // unknown version
		`error_rate{version="baseline"}`,        // unknown version
		`error_rate{job="canary"}`,              // unknown label
		`error_rate{version="canary"`,           // unclosed
		"ERROR_RATE canary",                     // names are lower case
		"latency_p42 canary",                    // unsupported percentile
		"sum(rate(errors[1m])) / 2 canary",      // not the language
		"slow canary",                           // slow needs a bound
		"slow:0 canary",                         // bound not positive
		"slow:-1 canary",                        // bound not positive
		"slow:NaN canary",                       // bound not a number
		"slow:1e9 canary",                       // beyond the histogram
		"slow:abc canary",                       // bound not a number
		`slow{version="canary",le="x"}`,         // bound not a number
		`slow:0.1{version="canary",le="0.2"}`,   // bound twice
		"requests:0.1 canary",                   // only slow takes a bound
		`error_rate{version="canary",le="0.1"}`, // only slow takes a bound
	} {
		_, err := r.p.Query(ctx(t), metrics.Query{Text: text, Window: time.Minute, End: t0.Add(time.Minute)})
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != "Query.Text" {
			t.Errorf("Query(%q) = %v, want a *canary.FieldError for Query.Text", text, err)
		}
	}
}

func TestQueryRetention(t *testing.T) {
	r, clk := metricsRig(t, httpsplit.Config{Retention: time.Minute})
	q := func(window, end time.Duration) error {
		_, err := r.p.Query(ctx(t), metrics.Query{Text: "requests stable", Window: window, End: t0.Add(end)})
		return err
	}
	var fe *canary.FieldError
	if err := q(61*time.Second, 61*time.Second); !errors.As(err, &fe) || fe.Field != "Query.Window" {
		t.Errorf("a window longer than the retention: %v, want a FieldError for Query.Window", err)
	}
	if err := q(math.MaxInt64, time.Minute); !errors.As(err, &fe) || fe.Field != "Query.Window" {
		t.Errorf("the longest Duration as a window: %v, want a FieldError for Query.Window", err)
	}
	if err := q(time.Minute, time.Minute); err != nil {
		t.Errorf("a window of the whole retention: %v", err)
	}
	// Two minutes later a request reuses the ring slot of second 1: the
	// window over seconds 0..9 is no longer held and is refused, not
	// answered from partial data.
	clk.Set(t0.Add(120*time.Second + 500*time.Millisecond))
	r.serve(t, http.MethodGet, "/", nil)
	if err := q(time.Minute, time.Minute); !errors.As(err, &fe) || fe.Field != "Query.End" {
		t.Errorf("a window past the history held: %v, want a FieldError for Query.End", err)
	}
	if res, err := r.p.Query(ctx(t), metrics.Query{Text: "requests", Window: time.Minute, End: t0.Add(121 * time.Second)}); err == nil {
		t.Errorf("no version: %+v", res)
	}
	res, err := r.p.Query(ctx(t), metrics.Query{Text: "requests stable", Window: time.Minute, End: t0.Add(121 * time.Second)})
	if err != nil || res.Value != 1 {
		t.Errorf("the latest minute: %+v, %v; want 1 request", res, err)
	}
}

// TestRange: Proxy.Range answers a window ending at each step as Query
// does, leaves out the steps with no request, and the mirror view answers
// range queries too.
func TestRange(t *testing.T) {
	r, _ := metricsRig(t, httpsplit.Config{})
	q := metrics.RangeQuery{Text: "requests canary", Window: time.Second, Start: t0.Add(time.Second), End: t0.Add(12 * time.Second), Step: time.Second}
	pts, err := r.p.Range(ctx(t), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 10 {
		t.Fatalf("Range = %v, want 10 points (the seconds after t0+10s have no request)", pts)
	}
	for i, pt := range pts {
		if want := t0.Add(time.Duration(i+1) * time.Second); !pt.Time.Equal(want) || pt.Value != 10 || pt.Count != 10 {
			t.Errorf("point %d = %+v, want 10 requests at %v", i, pt, want)
		}
	}
	ranger, ok := r.p.MirrorView().(interface {
		Range(context.Context, metrics.RangeQuery) ([]metrics.Point, error)
	})
	if !ok {
		t.Fatal("MirrorView has no Range")
	}
	q.Text = "error_rate canary"
	if pts, err := ranger.Range(ctx(t), q); err != nil || len(pts) != 10 || pts[0].Value != 0.1 {
		t.Errorf("MirrorView Range = (%v, %v), want 10 points of 0.1", pts, err)
	}
	q.Start, q.End = t0.Add(time.Hour), t0.Add(time.Hour+time.Minute)
	if _, err := r.p.Range(ctx(t), q); !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("Range with no request = %v, want ErrNoData", err)
	}
}
