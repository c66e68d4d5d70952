package httpsplit_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/traffic"
)

// getLoop sends b.N GETs to u with client and reads each body.
func getLoop(b *testing.B, client *http.Client, u string) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func benchClient(b *testing.B) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// BenchmarkDirect: a client calling the back end directly, the baseline.
func BenchmarkDirect(b *testing.B) {
	u := server(b, backend(b, httpsplit.BackendConfig{Version: "v1"}))
	getLoop(b, benchClient(b), u.String())
}

// BenchmarkProxied: the same client calling through the proxy (one more
// loopback hop, routing and measuring) at a 10 % canary split.
func BenchmarkProxied(b *testing.B) {
	r := newRig(b, httpsplit.Config{}, backend(b, httpsplit.BackendConfig{Version: "v1"}), backend(b, httpsplit.BackendConfig{Version: "v2"}))
	if err := r.p.SetSplit(ctx(b), traffic.Weighted(10)); err != nil {
		b.Fatal(err)
	}
	getLoop(b, benchClient(b), r.url)
}

func parallelLoop(b *testing.B, client *http.Client, u string) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(u)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

func BenchmarkDirectParallel(b *testing.B) {
	u := server(b, backend(b, httpsplit.BackendConfig{Version: "v1"}))
	parallelLoop(b, benchClient(b), u.String())
}

func BenchmarkProxiedParallel(b *testing.B) {
	r := newRig(b, httpsplit.Config{}, backend(b, httpsplit.BackendConfig{Version: "v1"}), backend(b, httpsplit.BackendConfig{Version: "v2"}))
	if err := r.p.SetSplit(ctx(b), traffic.Weighted(10)); err != nil {
		b.Fatal(err)
	}
	parallelLoop(b, benchClient(b), r.url)
}

// discard is a minimal ResponseWriter for calling ServeHTTP directly.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkRoundTrip: the proxy's outbound leg alone, a transport round
// trip to the back end; the allocation baseline for BenchmarkServeHTTP.
func BenchmarkRoundTrip(b *testing.B) {
	u := server(b, backend(b, httpsplit.BackendConfig{Version: "v1"}))
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkServeHTTP: the proxy's handler called directly (no inbound
// connection): routing, the reverse proxy's round trip and the measurement.
func BenchmarkServeHTTP(b *testing.B) {
	for _, m := range []struct {
		name  string
		split traffic.Split
	}{
		{"split", traffic.Weighted(10)},
		{"split+testroute", traffic.Split{Stable: 90, Canary: 10, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "1"}}},
	} {
		b.Run(m.name, func(b *testing.B) {
			r := newRig(b, httpsplit.Config{}, backend(b, httpsplit.BackendConfig{Version: "v1"}), backend(b, httpsplit.BackendConfig{Version: "v2"}))
			if err := r.p.SetSplit(ctx(b), m.split); err != nil {
				b.Fatal(err)
			}
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				clear(w.h)
				r.p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
			}
		})
	}
}
