package promtest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestLatencyQuantile(t *testing.T) {
	w := DefaultWorkloads()
	for _, c := range []struct {
		l    Latency
		phi  float64
		want float64
	}{
		{w[0].Latency, 0.5, 50}, {w[0].Latency, 0.95, 95}, {w[0].Latency, 0.99, 99},
		{w[1].Latency, 0.5, 100}, {w[1].Latency, 0.95, 375}, {w[1].Latency, 0.99, 475},
	} {
		if got := c.l.Quantile(c.phi); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("Quantile(%v) = %v, want %v", c.phi, got, c.want)
		}
		if got := c.l.At(c.want); math.Abs(got-c.phi) > 1e-9 {
			t.Errorf("At(%v) = %v, want %v", c.want, got, c.phi)
		}
	}
}

func TestExporterCounters(t *testing.T) {
	start := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	e := NewExporter(DefaultWorkloads(), func() time.Time { return start })
	var b bytes.Buffer
	e.Write(&b, start.Add(10*time.Second))
	out := b.String()
	for _, want := range []string{
		// v1: 10 000 requests, 100 errors, 200 rejects.
		`istio_requests_total{reporter="destination",destination_workload_namespace="shop",destination_workload="cart",destination_version="v1",response_code="200"} 9700`,
		`istio_requests_total{reporter="destination",destination_workload_namespace="shop",destination_workload="cart",destination_version="v1",response_code="503"} 100`,
		`istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="shop",destination_workload="cart",destination_version="v1",le="50"} 5000`,
		`istio_request_duration_milliseconds_count{reporter="destination",destination_workload_namespace="shop",destination_workload="cart",destination_version="v1"} 10000`,
		`envoy_cluster_upstream_rq{kubernetes_namespace="shop",app="cart",version="v2",envoy_cluster_name="cds_ingress",envoy_response_code="503"} 400`,
		`envoy_cluster_upstream_rq_time_bucket{kubernetes_namespace="shop",app="cart",version="v2",envoy_cluster_name="cds_ingress",le="250"} 3600`,
	} {
		if !strings.Contains(out, want+" 1774746010000\n") {
			t.Errorf("exporter output lacks %s", want)
		}
	}
}

// The history is loaded before Prometheus starts, exactly on the grid
// (WaitForData checks every point of the window), and Prometheus also
// scrapes the exporter live.
func TestStartLoadsHistoryAndScrapes(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	end := s.WaitForData(ctx, t, 50*time.Second)
	if end != s.HistoryEnd || end.After(time.Now()) {
		t.Errorf("WaitForData returned %v, want HistoryEnd %v, in the past", end, s.HistoryEnd)
	}
	// The stored counter at End is the exporter's value for End exactly.
	w := s.Exporter.Workloads[0]
	got, err := s.instantValue(ctx, fmt.Sprintf(`istio_requests_total{reporter="destination",destination_version=%q,response_code="503"} @ %d`, w.Version, end.Unix()))
	secs := s.History.Seconds()
	if want := math.Floor(math.Floor(w.RPS*secs) * w.Errors); err != nil || got != want {
		t.Errorf("errors counter at End = %v (%v), want %v", got, err, want)
	}
	s.WaitForScrapes(ctx, t, 3)
}

// The history is OpenMetrics as promtool reads it: families grouped, each
// metric's points in time order, a histogram point's lines together, and
// the Envoy counter (no _total suffix) typed unknown.
func TestWriteHistory(t *testing.T) {
	start := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	e := NewExporter(DefaultWorkloads()[:1], func() time.Time { return start })
	var b bytes.Buffer
	e.WriteHistory(&b, start.Add(time.Second), start.Add(2*time.Second), time.Second)
	out := b.String()
	v1 := `reporter="destination",destination_workload_namespace="shop",destination_workload="cart",destination_version="v1"`
	for _, want := range []string{
		"# TYPE istio_requests counter\nistio_requests_total{" + v1 + `,response_code="200"} 970 1774746001.000` + "\n" +
			"istio_requests_total{" + v1 + `,response_code="200"} 1940 1774746002.000` + "\n",
		"istio_request_duration_milliseconds_sum{" + v1 + "} ",
		"istio_request_duration_milliseconds_count{" + v1 + "} 1000 1774746001.000\nistio_request_duration_milliseconds_bucket{" + v1 + `,le="1"} 0 1774746002.000`,
		"# TYPE envoy_cluster_upstream_rq unknown\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q", want)
		}
	}
	if !strings.HasSuffix(out, "\n# EOF\n") {
		t.Error("history does not end with # EOF")
	}
}

func TestBinary(t *testing.T) {
	t.Setenv(EnvBinary, "/nonexistent/prometheus")
	if _, err := Binary(); err == nil || !strings.Contains(err.Error(), EnvBinary) {
		t.Errorf("Binary with a missing $%s = %v, want an error naming it", EnvBinary, err)
	}
	t.Setenv(EnvBinary, "")
	t.Setenv("PATH", t.TempDir())
	if _, err := Binary(); err == nil || !strings.Contains(err.Error(), "scripts/testenv.sh") {
		t.Errorf("Binary with nothing on PATH = %v, want an error saying how to install it", err)
	}
}
