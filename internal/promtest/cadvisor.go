package promtest

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// ResourceJob is the scrape job of the resource exporter (the kubelet's
// cAdvisor and kube-state-metrics in a cluster).
const ResourceJob = "kubelet"

// PodSet is one version's pods as cAdvisor and kube-state-metrics report
// them: pods named Name-Version-0, Name-Version-1… in Namespace, labelled
// app=Name and version=Version (kube_pod_labels{label_app, label_version}).
type PodSet struct {
	Namespace, Name, Version string
	Pods                     int
	// CPU is the cores each pod's container uses: its
	// container_cpu_usage_seconds_total advances by exactly CPU per second.
	CPU float64
	// Memory is each pod's working set in bytes, growing by MemoryGrowth
	// bytes a second (a leak) from the exporter's start.
	Memory, MemoryGrowth float64
	// RestartEvery and OOMEvery, when positive, restart (and OOM-kill) each
	// pod's container once per period: the counters are
	// floor(seconds since start / period).
	RestartEvery, OOMEvery time.Duration
}

// ResourceExporter serves cAdvisor-shaped and kube-state-metrics-shaped
// series for its pod sets:
//
//	container_cpu_usage_seconds_total{namespace,pod,container}     counter
//	container_memory_working_set_bytes{namespace,pod,container}    gauge
//	container_oom_events_total{namespace,pod,container}            counter
//	kube_pod_container_status_restarts_total{namespace,pod,container} counter
//	kube_pod_labels{namespace,pod,label_app,label_version}         1
//
// plus the pod-level cAdvisor series with container="" and the pause
// container's (container="POD"), which a correct query must leave out.
// Like Exporter, every sample carries its instant as an explicit timestamp.
type ResourceExporter struct {
	Pods  []PodSet
	start time.Time
	now   func() time.Time
}

// NewResourceExporter returns a ResourceExporter whose counters start at
// zero now; now is its clock (time.Now when nil).
func NewResourceExporter(pods []PodSet, now func() time.Time) *ResourceExporter {
	if now == nil {
		now = time.Now
	}
	return &ResourceExporter{Pods: pods, start: now(), now: now}
}

// ServeHTTP writes the metrics.
func (e *ResourceExporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	e.Write(w, e.now())
}

// Start is the instant the exporter's counters started from.
func (e *ResourceExporter) Start() time.Time { return e.start }

// PodName is the name of pod i of s.
func (s PodSet) PodName(i int) string { return s.Name + "-" + s.Version + "-" + strconv.Itoa(i) }

// MemoryAt is each pod's working set at t, given the exporter's start.
func (s PodSet) MemoryAt(start, t time.Time) float64 {
	return s.Memory + s.MemoryGrowth*math.Max(t.Sub(start).Seconds(), 0)
}

// Write writes the metrics as they stand at now.
func (e *ResourceExporter) Write(w io.Writer, now time.Time) {
	out := &stamped{w: w, ts: " " + strconv.FormatInt(now.UnixMilli(), 10)}
	now = time.UnixMilli(now.UnixMilli())
	secs := math.Max(now.Sub(e.start).Seconds(), 0)
	every := func(d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return math.Floor(secs / d.Seconds())
	}
	each := func(f func(s PodSet, pod string)) {
		for _, s := range e.Pods {
			for i := range s.Pods {
				f(s, s.PodName(i))
			}
		}
	}
	fmt.Fprintln(out, "# TYPE container_cpu_usage_seconds_total counter")
	each(func(s PodSet, pod string) {
		cpu := s.CPU * secs
		fmt.Fprintf(out, "container_cpu_usage_seconds_total{namespace=%q,pod=%q,container=%q,cpu=\"total\"} %s\n", s.Namespace, pod, s.Name, num(cpu))
		fmt.Fprintf(out, "container_cpu_usage_seconds_total{namespace=%q,pod=%q,container=\"POD\",cpu=\"total\"} %s\n", s.Namespace, pod, num(0.001*secs))
		fmt.Fprintf(out, "container_cpu_usage_seconds_total{namespace=%q,pod=%q,container=\"\",cpu=\"total\"} %s\n", s.Namespace, pod, num(cpu+0.001*secs))
	})
	fmt.Fprintln(out, "# TYPE container_memory_working_set_bytes gauge")
	each(func(s PodSet, pod string) {
		m := s.MemoryAt(e.start, now)
		fmt.Fprintf(out, "container_memory_working_set_bytes{namespace=%q,pod=%q,container=%q} %s\n", s.Namespace, pod, s.Name, num(m))
		fmt.Fprintf(out, "container_memory_working_set_bytes{namespace=%q,pod=%q,container=\"POD\"} 1e6\n", s.Namespace, pod)
		fmt.Fprintf(out, "container_memory_working_set_bytes{namespace=%q,pod=%q,container=\"\"} %s\n", s.Namespace, pod, num(m+1e6))
	})
	fmt.Fprintln(out, "# TYPE container_oom_events_total counter")
	each(func(s PodSet, pod string) {
		fmt.Fprintf(out, "container_oom_events_total{namespace=%q,pod=%q,container=%q} %s\n", s.Namespace, pod, s.Name, num(every(s.OOMEvery)))
	})
	fmt.Fprintln(out, "# TYPE kube_pod_container_status_restarts_total counter")
	each(func(s PodSet, pod string) {
		fmt.Fprintf(out, "kube_pod_container_status_restarts_total{namespace=%q,pod=%q,container=%q} %s\n", s.Namespace, pod, s.Name, num(every(s.RestartEvery)))
	})
	fmt.Fprintln(out, "# TYPE kube_pod_labels gauge")
	each(func(s PodSet, pod string) {
		fmt.Fprintf(out, "kube_pod_labels{namespace=%q,pod=%q,label_app=%q,label_version=%q} 1\n", s.Namespace, pod, s.Name, s.Version)
	})
}

// ResourceServer is a running Prometheus scraping both an Exporter (job
// "mesh": requests, errors, latency) and a ResourceExporter (job
// "kubelet": CPU, memory, restarts, OOM kills, pod labels).
type ResourceServer struct {
	*Server
	Resources *ResourceExporter
}

// StartResources is StartWith plus a ResourceExporter for pods, scraped by
// the same Prometheus. Under -short it skips the test.
func StartResources(t testing.TB, o Options, pods []PodSet) *ResourceServer {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test against a real Prometheus: skipped under -short; run it with bash scripts/test.sh")
	}
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	if o.ScrapeInterval == 0 {
		o.ScrapeInterval = time.Second
	}
	if o.ScrapeInterval < time.Second || o.ScrapeInterval%time.Second != 0 {
		t.Fatalf("promtest: ScrapeInterval %v must be whole seconds", o.ScrapeInterval)
	}
	if o.Workloads == nil {
		o.Workloads = DefaultWorkloads()
	}
	exp := NewExporter(o.Workloads, nil)
	hs := newLoopbackServer(t, exp)
	res := NewResourceExporter(pods, nil)
	rs := newLoopbackServer(t, res)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	secs := strconv.Itoa(int(o.ScrapeInterval / time.Second))
	yml := "global:\n" +
		"  scrape_interval: " + secs + "s\n" +
		"  scrape_timeout: " + secs + "s\n" +
		"  evaluation_interval: " + secs + "s\n" +
		"scrape_configs:\n" +
		"  - job_name: " + Job + "\n" +
		"    static_configs:\n" +
		"      - targets: ['" + hs + "']\n" +
		"  - job_name: " + ResourceJob + "\n" +
		"    honor_labels: true\n" +
		"    static_configs:\n" +
		"      - targets: ['" + rs + "']\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := range 3 {
		s, err := launch(t, bin, cfg, filepath.Join(dir, "data"+strconv.Itoa(attempt)))
		if err == nil {
			s.Exporter = exp
			s.ScrapeInterval = o.ScrapeInterval
			return &ResourceServer{Server: s, Resources: res}
		}
		lastErr = err
	}
	t.Fatalf("promtest: %v", lastErr)
	return nil
}

// newLoopbackServer serves h on 127.0.0.1 until the test ends and returns
// its host:port.
func newLoopbackServer(t testing.TB, h http.Handler) string {
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.Listener.Addr().String()
}
