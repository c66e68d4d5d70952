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

// The proxy's route driver passes the conformance suite through its
// traffic.Router. The route is in memory: it cannot be deleted (closing
// the proxy is ErrClosed, not traffic.ErrNotFound; see TestClosed) and has
// no back end that could fail with a native error, so Harness.Delete and
// Harness.Break are nil.
func TestRouterConformance(t *testing.T) {
	traffictest.Run(t, traffictest.Harness{
		New: func(_ context.Context, t *testing.T) *traffic.Router {
			return newRig(t, httpsplit.Config{}, backend(t, httpsplit.BackendConfig{Version: "v1"}),
				backend(t, httpsplit.BackendConfig{Version: "v2"})).p.Router()
		},
		Features: &traffic.Features{HeaderMatch: true, PrefixMatch: true, RegexMatch: true, CookieMatch: true, Affinity: true},
	})
}

// The measuring driver answers from memory: it cannot produce NaN (ratios
// over no requests are ErrNoData before any division), has no back end
// that fails with a native error, one series a query, and no slow query,
// so Fixture.NaN, Several, Failing and Slow are left zero and those
// subtests skip.
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
			Source: r.p.Metrics(),
			Value:  q("error_rate canary", t0.Add(time.Minute)), Want: 0.25, Tolerance: 1e-12,
			Empty: q("error_rate canary", t0.Add(5*time.Minute)),
			// Two-minute windows ending at t0+1m … t0+2m each hold all 40
			// requests (they ended in (t0, t0+40s]), a quarter of them failed.
			Range: metrics.RangeQuery{Text: "error_rate canary", Window: 2 * time.Minute, Start: t0.Add(time.Minute), End: t0.Add(2 * time.Minute), Step: 15 * time.Second},
		}
	})
}
