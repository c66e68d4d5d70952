package httpsplit_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/traffic"
)

// TestHangingCanaryWhenClientsGiveUpFirst is issue 19 item 2: a canary that
// never answers, behind real HTTP clients on loopback that give up after
// 300 ms, with the default UpstreamTimeout (15 s), with 500 ms and with no
// upstream timeout at all. Every request the canary held must count as the
// canary's error; before the fix the abandoned requests were counted as
// successes-without-errors and the canary read error rate 0.
//
// The hang is unbounded (the canary waits for its request to be
// cancelled), so the only event that ends a canary request is a give-up:
// normally the client's, or, on a machine stalled beyond 500 ms, the
// proxy's timeout; both must count as an error, so the assertion holds
// whichever fires. The test waits for the proxy to finish each request
// (a wrapper signals when ServeHTTP returns) and asserts counts, never
// durations. Stable requests go through a client without a timeout.
func TestHangingCanaryWhenClientsGiveUpFirst(t *testing.T) {
	for _, upstream := range []time.Duration{0, 500 * time.Millisecond, -1} {
		t.Run(upstream.String(), func(t *testing.T) {
			const hung, healthy = 8, 8
			clk := newClock(t0)
			hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
			ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
			p, err := httpsplit.New(httpsplit.Config{
				Stable: server(t, ok), Canary: server(t, hang),
				Now: clk.Now, UpstreamTimeout: upstream,
			})
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan struct{}, hung+healthy)
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer func() { served <- struct{}{} }()
				p.ServeHTTP(w, r)
			}))
			t.Cleanup(func() { front.Close(); p.Close() })
			route := traffic.HeaderRoute{Name: "x-canary", Value: "1"}
			if err := p.SetSplit(ctx(t), traffic.Split{Stable: 100, TestRoute: route}); err != nil {
				t.Fatal(err)
			}

			impatient := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{}}
			patient := &http.Client{Transport: &http.Transport{}}
			var wg sync.WaitGroup
			errs := make(chan error, hung+healthy)
			for i := 0; i < hung+healthy; i++ {
				wg.Add(1)
				go func(toCanary bool) {
					defer wg.Done()
					req, _ := http.NewRequest(http.MethodGet, front.URL, nil)
					c := patient
					if toCanary {
						req.Header.Set(route.Name, route.Value)
						c = impatient
					}
					resp, err := c.Do(req)
					if err == nil {
						resp.Body.Close()
						if toCanary && resp.StatusCode != http.StatusGatewayTimeout {
							errs <- err
						}
					}
				}(i < hung)
			}
			wg.Wait()
			close(errs)
			for range errs {
				t.Error("a request to the hanging canary got a response other than 504")
			}
			for i := 0; i < hung+healthy; i++ {
				select {
				case <-served:
				case <-ctx(t).Done():
					t.Fatalf("the proxy finished %d of %d requests", i, hung+healthy)
				}
			}
			for text, want := range map[string]metrics.Result{
				"error_rate canary": {Value: 1, Count: hung},
				"error_rate stable": {Value: 0, Count: healthy},
			} {
				res, err := p.Query(ctx(t), metrics.Query{Text: text, Window: 10 * time.Second, End: t0.Add(5 * time.Second)})
				if err != nil || res.Value != want.Value || res.Count != want.Count {
					t.Errorf("%s = %v on %d requests, %v; want %v on %d", text, res.Value, res.Count, err, want.Value, want.Count)
				}
			}
		})
	}
}
