package prometheus_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/meshcanary/canary/internal/promtest"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/metrics/metricstest"
	"github.com/meshcanary/canary/providers/prometheus"
)

// slowMarker makes the delaying proxy hold a query until its client gives
// up. Prometheus ignores it: it is a PromQL comment.
const slowMarker = "# promtest:slow"

// delayingProxy forwards to the real server, except that it holds any
// query containing slowMarker until the client goes away (30s at most).
// It exists because a genuinely slow PromQL query on a small test database
// would need enough work to load the shared machine.
func delayingProxy(t *testing.T, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil && strings.Contains(r.Form.Get("query"), slowMarker) {
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
			http.Error(w, "too late", http.StatusServiceUnavailable)
			return
		}
		// ParseForm consumed the body; forward the parsed form instead.
		body := r.Form.Encode()
		r.Body = http.NoBody
		if r.Method == http.MethodPost {
			r.Body = readCloser{strings.NewReader(body)}
			r.ContentLength = int64(len(body))
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// TestServer runs everything that needs the real Prometheus under one
// server, started once. The data it queries is the exporter's history,
// loaded into Prometheus's storage before it starts on an exact one-second
// grid (promtest.StartWith), so no answer depends on when scrapes ran on a
// loaded machine.
func TestServer(t *testing.T) {
	srv := promtest.Start(t)
	const window = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	end := srv.WaitForData(ctx, t, window)
	workloads := srv.Exporter.Workloads
	v1w, v2w := workloads[0], workloads[1]

	vars := func(version string) metrics.Vars {
		return metrics.Vars{Namespace: "shop", Workload: "cart", Version: version, Window: window}
	}
	query := func(t *testing.T, tmpl metrics.Template, version string) metrics.Query {
		t.Helper()
		text, err := tmpl.Render(vars(version))
		if err != nil {
			t.Fatal(err)
		}
		return metrics.Query{Text: text, Window: window, End: end}
	}
	newProvider := func(t *testing.T, cfg prometheus.Config) *prometheus.Provider {
		t.Helper()
		p, err := prometheus.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	istio, err := prometheus.IstioQueries(prometheus.IstioLabels{})
	if err != nil {
		t.Fatal(err)
	}
	envoy, err := prometheus.EnvoyQueries(prometheus.EnvoyLabels{})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("Conformance", func(t *testing.T) {
		// All requests go through delayingProxy, which forwards them
		// unchanged to the real server except the Slow query.
		proxy := delayingProxy(t, srv.URL)
		at := func(text string) metrics.Query { return metrics.Query{Text: text, Window: window, End: end} }
		metricstest.Run(t, func(_ context.Context, t *testing.T) metricstest.Fixture {
			value := query(t, istio.SuccessRate, "v1")
			return metricstest.Fixture{
				Source: newProvider(t, prometheus.Config{Address: proxy}).Source(),
				Value:  value, Want: v1w.SuccessRate(), Tolerance: 0.0005,
				Empty:   at(`sum(rate(istio_requests_total{destination_workload="no-such-workload"}[10s]))`),
				NaN:     at(`0/0`),
				Several: at(`sum by (destination_version) (rate(istio_requests_total{destination_workload="cart"}[10s]))`),
				Failing: at(`sum(rate(istio_requests_total[10s])`), Target: new(*v1.Error),
				Slow: at("vector(1) " + slowMarker),
				// Five 10s windows, the earliest (End-50s, End-40s], all
				// inside the minute of loaded history.
				Range: metrics.RangeQuery{Text: value.Text, Window: window, Start: end.Add(-4 * window), End: end, Step: window},
			}
		})
	})

	// The templates against the exporter's known truth. The samples lie on
	// an exact grid ending at End, so the only departures from the truth
	// are whole-number counters (±1 request in 4 000 to 10 000 per window)
	// and rate()'s extrapolation to the window's edges (none on a full
	// grid). Stated tolerances: rates ±2 %; ratios ±0.0005 absolute;
	// quantiles ±1 %. Observed (-v logs them): exact to 6 digits.
	type check struct {
		name string
		tmpl metrics.Template
		want float64
		tol  float64
	}
	for _, src := range []struct {
		name string
		q    prometheus.Queries
	}{{"Istio", istio}, {"Envoy", envoy}} {
		t.Run(src.name, func(t *testing.T) {
			p := newProvider(t, prometheus.Config{Address: srv.URL})
			for _, w := range []promtest.Workload{v1w, v2w} {
				for _, c := range []check{
					{"RequestRate", src.q.RequestRate, w.RPS, 0.02 * w.RPS},
					{"SuccessRate", src.q.SuccessRate, w.SuccessRate(), 0.0005},
					{"ErrorRate", src.q.ErrorRate, w.ErrorRate(), 0.0005},
					// The exporter's histograms are in milliseconds, as
					// Istio's and Envoy's; the templates answer in seconds.
					{"LatencyP50", src.q.LatencyP50, w.Latency.Quantile(0.5) / 1000, 0.01 * w.Latency.Quantile(0.5) / 1000},
					{"LatencyP95", src.q.LatencyP95, w.Latency.Quantile(0.95) / 1000, 0.01 * w.Latency.Quantile(0.95) / 1000},
					{"LatencyP99", src.q.LatencyP99, w.Latency.Quantile(0.99) / 1000, 0.01 * w.Latency.Quantile(0.99) / 1000},
				} {
					q := query(t, c.tmpl, w.Version)
					r, err := p.Query(ctx, q)
					if err != nil {
						t.Errorf("%s %s: %v", w.Version, c.name, err)
						continue
					}
					t.Logf("%s %s = %.6g (known %.6g ± %.3g)", w.Version, c.name, r.Value, c.want, c.tol)
					if math.Abs(r.Value-c.want) > c.tol {
						t.Errorf("%s %s = %v, want %v ± %v\nquery: %s", w.Version, c.name, r.Value, c.want, c.tol, q.Text)
					}
				}
			}
			// v3 has series but no requests: ratios and quantiles are 0/0.
			for _, tmpl := range []metrics.Template{src.q.SuccessRate, src.q.ErrorRate, src.q.LatencyP99} {
				if r, err := p.Query(ctx, query(t, tmpl, "v3")); !errors.Is(err, metrics.ErrNoData) {
					t.Errorf("idle v3 %s = (%+v, %v), want ErrNoData", tmpl.Name(), r, err)
				}
			}
			if r, err := p.Query(ctx, query(t, src.q.RequestRate, "v3")); err != nil || r.Value != 0 {
				t.Errorf("idle v3 request rate = (%+v, %v), want 0", r, err)
			}
			// A version with no series at all.
			if r, err := p.Query(ctx, query(t, src.q.RequestRate, "v9")); !errors.Is(err, metrics.ErrNoData) {
				t.Errorf("absent v9 request rate = (%+v, %v), want ErrNoData", r, err)
			}
		})
	}

	t.Run("RangeSamples", func(t *testing.T) {
		p := newProvider(t, prometheus.Config{Address: srv.URL, Step: 2 * time.Second})
		// Each point is a 3s rate, so that even the earliest point's rate
		// window, (End-11s, End-8s], lies inside the loaded history. (It
		// once failed with Samples[2] = 801.75 when it read live scrapes
		// and one ran late on a loaded machine; the history is on an exact
		// grid, so every point is exact now.)
		v := vars("v1")
		v.Window = 3 * time.Second
		text, err := istio.RequestRate.Render(v)
		if err != nil {
			t.Fatal(err)
		}
		r, err := p.Query(ctx, metrics.Query{Text: text, Window: window, End: end})
		if err != nil {
			t.Fatal(err)
		}
		// (End-10s, End] at a 2s step: End-8s, End-6s, …, End.
		if len(r.Samples) != 5 {
			t.Fatalf("Samples = %v, want 5 points", r.Samples)
		}
		if r.Value != r.Samples[len(r.Samples)-1] {
			t.Errorf("Value %v is not the last sample %v", r.Value, r.Samples[4])
		}
		for i, s := range r.Samples {
			if math.Abs(s-v1w.RPS) > 0.02*v1w.RPS {
				t.Errorf("Samples[%d] = %v, want %v ± 2%%", i, s, v1w.RPS)
			}
		}
	})

	t.Run("Range", func(t *testing.T) {
		// The points RangeSamples reads as one Query's samples, read with
		// Provider.Range: one query_range over [End-8s, End] at 2s.
		p := newProvider(t, prometheus.Config{Address: srv.URL})
		v := vars("v1")
		v.Window = 3 * time.Second
		text, err := istio.RequestRate.Render(v)
		if err != nil {
			t.Fatal(err)
		}
		pts, err := p.Range(ctx, metrics.RangeQuery{Text: text, Window: v.Window, Start: end.Add(-8 * time.Second), End: end, Step: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != 5 || !pts[0].Time.Equal(end.Add(-8*time.Second)) || !pts[4].Time.Equal(end) {
			t.Fatalf("points = %v, want 5 from End-8s to End", pts)
		}
		for i, pt := range pts {
			if math.Abs(pt.Value-v1w.RPS) > 0.02*v1w.RPS {
				t.Errorf("point %d = %v, want %v ± 2%%", i, pt.Value, v1w.RPS)
			}
		}
	})

	t.Run("WithCount", func(t *testing.T) {
		p := newProvider(t, prometheus.Config{Address: srv.URL})
		cp, err := p.WithCount(istio.RequestCount, vars("v2"))
		if err != nil {
			t.Fatal(err)
		}
		r, err := cp.Query(ctx, query(t, istio.ErrorRate, "v2"))
		if err != nil {
			t.Fatal(err)
		}
		want := v2w.RPS * window.Seconds()
		if math.Abs(float64(r.Count)-want) > 0.02*want {
			t.Errorf("Count = %d, want %v ± 2%%", r.Count, want)
		}
		if math.Abs(r.Value-v2w.ErrorRate()) > 0.0005 {
			t.Errorf("Value = %v, want %v", r.Value, v2w.ErrorRate())
		}
	})

	t.Run("SeveralSeries", func(t *testing.T) {
		p := newProvider(t, prometheus.Config{Address: srv.URL})
		_, err := p.Query(ctx, metrics.Query{
			Text:   `sum by (destination_version) (rate(istio_requests_total{destination_workload="cart"}[10s]))`,
			Window: window, End: end,
		})
		if !errors.Is(err, prometheus.ErrSeveralSeries) {
			t.Fatalf("err = %v, want ErrSeveralSeries", err)
		}
		for _, v := range []string{"v1", "v2", "v3"} {
			if !strings.Contains(err.Error(), `destination_version="`+v+`"`) {
				t.Errorf("error does not name series %s: %v", v, err)
			}
		}
	})

	t.Run("RangeVector", func(t *testing.T) {
		p := newProvider(t, prometheus.Config{Address: srv.URL})
		_, err := p.Query(ctx, metrics.Query{Text: `istio_requests_total{reporter="destination",destination_version="v1",response_code="200"}[5s]`, Window: window, End: end})
		if !errors.Is(err, prometheus.ErrRangeVector) {
			t.Fatalf("err = %v, want ErrRangeVector", err)
		}
	})
}
