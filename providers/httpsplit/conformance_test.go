package httpsplit_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/metrics/metricstest"
	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/traffic/traffictest"
)

// The Router has no back end of its own that could fail with a native
// error (the split is in memory), so Harness.Break is nil. Delete closes
// the proxy: the route it managed is gone, and the Router methods then
// return ErrClosed, which wraps traffic.ErrNotFound.
func TestRouterConformance(t *testing.T) {
	traffictest.Run(t, traffictest.Harness{
		New: func(_ context.Context, t *testing.T) traffic.Router {
			return newRig(t, httpsplit.Config{}, backend(t, httpsplit.BackendConfig{Version: "v1"}),
				backend(t, httpsplit.BackendConfig{Version: "v2"})).p
		},
		Delete: func(_ context.Context, _ *testing.T, r traffic.Router) { r.(*httpsplit.Proxy).Close() },
	})
}

// The Provider answers from memory: it cannot produce NaN (ratios over no
// requests are ErrNoData before any division), has no back end that fails
// with a native error, and has no slow query, so Fixture.NaN, Failing and
// Slow are left zero and those subtests skip.
func TestProviderConformance(t *testing.T) {
	metricstest.Run(t, func(_ context.Context, t *testing.T) metricstest.Fixture {
		clk := newClock(t0)
		canary := backend(t, httpsplit.BackendConfig{Version: "v2", ErrorRate: 0.25})
		r := newRig(t, httpsplit.Config{Now: clk.Now}, backend(t, httpsplit.BackendConfig{Version: "v1"}), canary)
		if err := r.p.SetSplit(ctx(t), traffic.Weighted(100)); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 40; i++ {
			clk.Set(t0.Add(time.Duration(i+1) * time.Second)) // in (t0, t0+1m]
			r.serve(t, http.MethodGet, "/", nil)
		}
		q := func(text string, end time.Time) metrics.Query {
			return metrics.Query{Text: text, Window: time.Minute, End: end}
		}
		return metricstest.Fixture{
			Provider: r.p,
			Value:    q("error_rate canary", t0.Add(time.Minute)), Want: 0.25, Tolerance: 1e-12,
			Empty: q("error_rate canary", t0.Add(5*time.Minute)),
		}
	})
}
