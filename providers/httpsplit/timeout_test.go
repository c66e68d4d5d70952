package httpsplit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/traffic"
)

// TestCanaryThatNeverAnswersIsAnError: a canary that holds every request
// until it is cancelled. With the upstream timeout the proxy answers 504
// and measures each such request as the canary's error; before, a client
// that gave up first left the request uncounted as an error, and the
// canary looked healthy.
func TestCanaryThatNeverAnswersIsAnError(t *testing.T) {
	clk := newClock(t0)
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	// Only the timeout's expiring matters, not when. It must be long
	// enough that the stable back end, which answers at once, never hits
	// it on a loaded machine (20 ms did, once, under a parallel CI run):
	// 3 s is far beyond any local answer and costs the test 6 s.
	r := newRig(t, httpsplit.Config{Now: clk.Now, UpstreamTimeout: 3 * time.Second}, ok, hang)
	if err := r.p.SetSplit(ctx(t), traffic.Weighted(50)); err != nil {
		t.Fatal(err)
	}
	codes := map[int]int{}
	for i := 0; i < 4; i++ {
		clk.Set(t0.Add(time.Duration(i) * 100 * time.Millisecond))
		// The client gives up after 30 s, as clients do; the proxy's
		// timeout (3 s) expires long before.
		c, cancel := context.WithTimeout(ctx(t), 30*time.Second)
		w := httptest.NewRecorder()
		r.p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(c))
		cancel()
		codes[w.Code]++
	}
	if codes[http.StatusGatewayTimeout] != 2 || codes[http.StatusOK] != 2 {
		t.Fatalf("status codes %v, want two 200 (stable) and two 504 (canary)", codes)
	}
	for text, want := range map[string]float64{"error_rate canary": 1, "error_rate stable": 0} {
		res, err := r.p.Query(ctx(t), metrics.Query{Text: text, Window: 10 * time.Second, End: t0.Add(5 * time.Second)})
		if err != nil || res.Value != want || res.Count != 2 {
			t.Errorf("%s = %+v, %v; want %v on 2 requests", text, res, err, want)
		}
	}
}
