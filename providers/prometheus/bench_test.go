package prometheus_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/prometheus"
)

// benchBody is a one-series vector, as a sum(rate(…)) query answers.
const benchBody = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1774747800,"0.0125"]}]}}`

func benchServer(b *testing.B) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, benchBody)
	}))
	b.Cleanup(s.Close)
	return s
}

const benchQuery = `(sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="shop",destination_workload="cart",destination_version="v2",response_code=~"5.."}[120s])) or vector(0)) / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="shop",destination_workload="cart",destination_version="v2"}[120s]))`

// BenchmarkQuery is one instant query through the adapter (client_golang's
// client, decoding, checks), with a bearer token so the header transport
// and redaction set-up are in the path.
func BenchmarkQuery(b *testing.B) {
	s := benchServer(b)
	p, err := prometheus.New(prometheus.Config{Address: s.URL, BearerToken: "bench-token"})
	if err != nil {
		b.Fatal(err)
	}
	q := metrics.Query{Text: benchQuery, Window: 2 * time.Minute, End: time.Unix(1774747800, 0)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Query(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawGet is the floor: an http.Get of the same endpoint with the
// same query, reading the body and nothing else.
func BenchmarkRawGet(b *testing.B) {
	s := benchServer(b)
	u := s.URL + "/api/v1/query?" + url.Values{"query": {benchQuery}, "time": {"1774747800"}}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

// BenchmarkRawGetDecode is BenchmarkRawGet plus decoding the JSON into a
// minimal struct, what hand-written client code would do at least.
func BenchmarkRawGetDecode(b *testing.B) {
	s := benchServer(b)
	u := s.URL + "/api/v1/query?" + url.Values{"query": {benchQuery}, "time": {"1774747800"}}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		var body struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || len(body.Data.Result) != 1 {
			b.Fatal(err)
		}
	}
}

// cannedTransport answers every request with benchBody without a network,
// so BenchmarkQueryInProcess measures the adapter and client_golang alone.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(strings.NewReader(benchBody)),
		Request: r,
	}, nil
}

// BenchmarkQueryInProcess is BenchmarkQuery with the network taken out:
// the adapter's own cost per query (building the request, decoding,
// checks), which is what it adds over any HTTP round trip.
func BenchmarkQueryInProcess(b *testing.B) {
	p, err := prometheus.New(prometheus.Config{Address: "http://prometheus.invalid", BearerToken: "bench-token", Transport: cannedTransport{}})
	if err != nil {
		b.Fatal(err)
	}
	q := metrics.Query{Text: benchQuery, Window: 2 * time.Minute, End: time.Unix(1774747800, 0)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := p.Query(ctx, q)
		if err != nil || r.Value != 0.0125 {
			b.Fatal(r, err)
		}
	}
}
