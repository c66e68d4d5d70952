package promtest

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
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

// Write writes the metrics as they stand at now, each sample stamped with
// now.
func (e *ResourceExporter) Write(w io.Writer, now time.Time) {
	ts := " " + strconv.FormatInt(now.UnixMilli(), 10) + "\n"
	family := ""
	for _, s := range e.samples(now) {
		if s.family != family {
			family = s.family
			fmt.Fprintf(w, "# TYPE %s %s\n", s.family, s.typ)
		}
		fmt.Fprintf(w, "%s{%s} %s%s", s.family, s.labels, num(s.value), ts)
	}
}

// WriteHistory writes, in the OpenMetrics text format that
// `promtool tsdb create-blocks-from openmetrics` reads, the metrics at
// every instant from..to (both included) a step apart, grouped by family
// and series as OpenMetrics requires. Counters are written with type
// unknown, since OpenMetrics wants a counter's family without its _total
// suffix; the stored series are the same.
func (e *ResourceExporter) WriteHistory(w io.Writer, from, to time.Time, step time.Duration) {
	var times []time.Time
	for t := from; !t.After(to); t = t.Add(step) {
		times = append(times, t)
	}
	if len(times) == 0 {
		fmt.Fprintln(w, "# EOF")
		return
	}
	snaps := make([][]sample, len(times))
	for i, t := range times {
		snaps[i] = e.samples(t)
	}
	family := ""
	for k, s := range snaps[0] {
		if s.family != family {
			family = s.family
			typ := s.typ
			if typ == "counter" {
				typ = "unknown"
			}
			fmt.Fprintf(w, "# TYPE %s %s\n", s.family, typ)
		}
		for ti, t := range times {
			fmt.Fprintf(w, "%s{%s} %s %d.%03d\n", s.family, s.labels, num(snaps[ti][k].value), t.UnixMilli()/1000, t.UnixMilli()%1000)
		}
	}
	fmt.Fprintln(w, "# EOF")
}

// samples lists the metrics as they stand at now, always in the same
// order, grouped by family.
func (e *ResourceExporter) samples(now time.Time) []sample {
	now = time.UnixMilli(now.UnixMilli())
	secs := math.Max(now.Sub(e.start).Seconds(), 0)
	every := func(d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return math.Floor(secs / d.Seconds())
	}
	var out []sample
	add := func(family, typ, labels string, v float64) {
		out = append(out, sample{family: family, typ: typ, labels: labels, metric: family + "{" + labels + "}", value: v})
	}
	each := func(f func(s PodSet, pod string)) {
		for _, s := range e.Pods {
			for i := range s.Pods {
				f(s, s.PodName(i))
			}
		}
	}
	const cpuF, memF = "container_cpu_usage_seconds_total", "container_memory_working_set_bytes"
	each(func(s PodSet, pod string) {
		cpu := s.CPU * secs
		add(cpuF, "counter", fmt.Sprintf("namespace=%q,pod=%q,container=%q,cpu=\"total\"", s.Namespace, pod, s.Name), cpu)
		add(cpuF, "counter", fmt.Sprintf("namespace=%q,pod=%q,container=\"POD\",cpu=\"total\"", s.Namespace, pod), 0.001*secs)
		add(cpuF, "counter", fmt.Sprintf("namespace=%q,pod=%q,container=\"\",cpu=\"total\"", s.Namespace, pod), cpu+0.001*secs)
	})
	each(func(s PodSet, pod string) {
		m := s.MemoryAt(e.start, now)
		add(memF, "gauge", fmt.Sprintf("namespace=%q,pod=%q,container=%q", s.Namespace, pod, s.Name), m)
		add(memF, "gauge", fmt.Sprintf("namespace=%q,pod=%q,container=\"POD\"", s.Namespace, pod), 1e6)
		add(memF, "gauge", fmt.Sprintf("namespace=%q,pod=%q,container=\"\"", s.Namespace, pod), m+1e6)
	})
	each(func(s PodSet, pod string) {
		add("container_oom_events_total", "counter", fmt.Sprintf("namespace=%q,pod=%q,container=%q", s.Namespace, pod, s.Name), every(s.OOMEvery))
	})
	each(func(s PodSet, pod string) {
		add("kube_pod_container_status_restarts_total", "counter", fmt.Sprintf("namespace=%q,pod=%q,container=%q", s.Namespace, pod, s.Name), every(s.RestartEvery))
	})
	each(func(s PodSet, pod string) {
		add("kube_pod_labels", "gauge", fmt.Sprintf("namespace=%q,pod=%q,label_app=%q,label_version=%q", s.Namespace, pod, s.Name, s.Version), 1)
	})
	return out
}

// ResourceServer is a running Prometheus scraping both an Exporter (job
// "mesh": requests, errors, latency) and a ResourceExporter (job
// "kubelet": CPU, memory, restarts, OOM kills, pod labels).
type ResourceServer struct {
	*Server
	Resources *ResourceExporter
}

// StartResources is StartWith plus a ResourceExporter for pods, scraped by
// the same Prometheus, its history loaded on the same exact grid before
// Prometheus starts (see Server.WaitForData). Under -short it skips the
// test.
func StartResources(t testing.TB, o Options, pods []PodSet) *ResourceServer {
	t.Helper()
	res := NewResourceExporter(pods, nil)
	s := startWith(t, o, res)
	return &ResourceServer{Server: s, Resources: res}
}

// newLoopbackServer serves h on 127.0.0.1 until the test ends and returns
// its host:port.
func newLoopbackServer(t testing.TB, h http.Handler) string {
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.Listener.Addr().String()
}
