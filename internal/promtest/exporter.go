package promtest

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Latency is a latency distribution whose CDF is piecewise linear between
// Knots (milliseconds, increasing) with CDF values CDF (non-decreasing,
// from 0 at the first knot to 1 at the last). Inside each piece latencies
// are uniform, which is also what Prometheus's histogram_quantile assumes
// inside a bucket: with knots on bucket bounds its answer is the
// distribution's true quantile. It needs at least two knots.
type Latency struct {
	Knots []float64
	CDF   []float64
}

// At is the fraction of requests at or below ms milliseconds.
func (l Latency) At(ms float64) float64 {
	n := len(l.Knots)
	switch {
	case ms <= l.Knots[0]:
		return 0
	case ms >= l.Knots[n-1]:
		return 1
	}
	i := sort.SearchFloat64s(l.Knots, ms) // Knots[i-1] < ms <= Knots[i]
	f := (ms - l.Knots[i-1]) / (l.Knots[i] - l.Knots[i-1])
	return l.CDF[i-1] + f*(l.CDF[i]-l.CDF[i-1])
}

// Quantile is the latency in milliseconds below which a fraction phi of
// requests fall.
func (l Latency) Quantile(phi float64) float64 {
	for i := 1; i < len(l.Knots); i++ {
		if phi <= l.CDF[i] && l.CDF[i] > l.CDF[i-1] {
			f := (phi - l.CDF[i-1]) / (l.CDF[i] - l.CDF[i-1])
			return l.Knots[i-1] + f*(l.Knots[i]-l.Knots[i-1])
		}
	}
	return l.Knots[len(l.Knots)-1]
}

// Workload is one version of one workload the exporter reports on.
type Workload struct {
	Namespace, Name, Version string
	// RPS is requests per second; the counters advance by exactly
	// floor(RPS × seconds since the exporter started).
	RPS float64
	// Errors is the fraction of requests answered 503 and Rejects the
	// fraction answered 404 (not an error for the error rate); the rest
	// answer 200.
	Errors, Rejects float64
	Latency         Latency
}

// ErrorRate is the fraction of requests answered 5xx.
func (w Workload) ErrorRate() float64 { return w.Errors }

// SuccessRate is the fraction of requests not answered 5xx.
func (w Workload) SuccessRate() float64 { return 1 - w.Errors }

// IstioBuckets are Istio's default bucket bounds for
// istio_request_duration_milliseconds (ms).
var IstioBuckets = []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// EnvoyBuckets are Envoy's default histogram bucket bounds (ms).
var EnvoyBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// DefaultWorkloads are what Start's exporter reports: the stable v1 (1 %
// errors, p50 50 ms, p95 95 ms, p99 99 ms), the canary v2 (10 % errors,
// p50 100 ms, p95 375 ms, p99 475 ms), both in namespace "shop", workload
// "cart", and an idle v3 whose counters never move (ratios are 0/0).
func DefaultWorkloads() []Workload {
	return []Workload{
		{Namespace: "shop", Name: "cart", Version: "v1", RPS: 1000, Errors: 0.01, Rejects: 0.02,
			Latency: Latency{Knots: []float64{25, 50, 100}, CDF: []float64{0, 0.5, 1}}},
		{Namespace: "shop", Name: "cart", Version: "v2", RPS: 400, Errors: 0.10, Rejects: 0.05,
			Latency: Latency{Knots: []float64{50, 100, 250, 500}, CDF: []float64{0, 0.5, 0.9, 1}}},
		{Namespace: "shop", Name: "cart", Version: "v3", RPS: 0,
			Latency: Latency{Knots: []float64{1, 5}, CDF: []float64{0, 1}}},
	}
}

// Exporter serves Istio-shaped and Envoy-shaped metrics in Prometheus's
// text format for its workloads. Every scrape computes the counters from
// the exporter's clock, so the rates are known exactly.
type Exporter struct {
	Workloads []Workload
	start     time.Time
	now       func() time.Time

	mu      sync.Mutex
	scrapes int
}

// NewExporter returns an Exporter whose counters start at zero now.
// now is its clock (time.Now when nil).
func NewExporter(workloads []Workload, now func() time.Time) *Exporter {
	if now == nil {
		now = time.Now
	}
	return &Exporter{Workloads: workloads, start: now(), now: now}
}

// Scrapes is how many times the exporter has been scraped.
func (e *Exporter) Scrapes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.scrapes
}

// ServeHTTP writes the metrics.
func (e *Exporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	e.scrapes++
	e.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	e.Write(w, e.now())
}

// Write writes the metrics as they stand at now, in Prometheus's text
// format. Every sample carries now as its explicit timestamp, so
// Prometheus stores each value at the instant it was computed for, however
// late the scrape ran on a loaded machine, and rates over the stored
// samples are exact up to whole requests.
func (e *Exporter) Write(w io.Writer, now time.Time) {
	ts := " " + strconv.FormatInt(now.UnixMilli(), 10) + "\n"
	family := ""
	for _, s := range e.samples(now) {
		if s.family != family {
			family = s.family
			name, typ := s.family, s.typ
			if typ == "counter" && s.suffix == "_total" {
				name += "_total" // the text format names a counter by its sample
			}
			if typ == "unknown" {
				typ = "counter"
			}
			fmt.Fprintf(w, "# TYPE %s %s\n", name, typ)
		}
		fmt.Fprintf(w, "%s%s{%s} %s%s", s.family, s.suffix, s.labels, num(s.value), ts)
	}
}

// WriteHistory writes, in the OpenMetrics text format that
// `promtool tsdb create-blocks-from openmetrics` reads, the metrics at
// every instant from..to (both included) a step apart. Loaded into
// Prometheus's storage before it starts, this history is on an exact grid
// whatever the machine's load: scrape timing plays no part in it.
//
// The Envoy counter envoy_cluster_upstream_rq has no _total suffix, which
// OpenMetrics requires of counters; it is written with type unknown (the
// stored series is the same).
func (e *Exporter) WriteHistory(w io.Writer, from, to time.Time, step time.Duration) {
	var times []time.Time
	for t := from; !t.After(to); t = t.Add(step) {
		times = append(times, t)
	}
	snaps := make([][]sample, len(times))
	for i, t := range times {
		snaps[i] = e.samples(t)
	}
	if len(snaps) == 0 {
		fmt.Fprintln(w, "# EOF")
		return
	}
	// OpenMetrics groups samples by family, then by metric (a histogram's
	// buckets, sum and count at one instant form one point), each metric's
	// points in time order.
	n := len(snaps[0])
	for i := 0; i < n; {
		fam := snaps[0][i].family
		j := i
		for j < n && snaps[0][j].family == fam {
			j++
		}
		fmt.Fprintf(w, "# TYPE %s %s\n", fam, snaps[0][i].typ)
		for k := i; k < j; {
			metric := snaps[0][k].metric
			l := k
			for l < j && snaps[0][l].metric == metric {
				l++
			}
			for ti, t := range times {
				ts := fmt.Sprintf(" %d.%03d\n", t.UnixMilli()/1000, t.UnixMilli()%1000)
				for _, s := range snaps[ti][k:l] {
					fmt.Fprintf(w, "%s%s{%s} %s%s", s.family, s.suffix, s.labels, num(s.value), ts)
				}
			}
			k = l
		}
		i = j
	}
	fmt.Fprintln(w, "# EOF")
}

// sample is one line of the exposition: family+suffix{labels} value.
// metric identifies the series a histogram's lines belong to (its labels
// without le), or the series itself.
type sample struct {
	family, typ, suffix, labels, metric string
	value                               float64
}

// samples lists the metrics as they stand at now, always in the same order.
func (e *Exporter) samples(now time.Time) []sample {
	now = time.UnixMilli(now.UnixMilli())
	secs := now.Sub(e.start).Seconds()
	if secs < 0 {
		secs = 0
	}
	type counts struct {
		w                  Workload
		total, errs, rejct float64
	}
	cs := make([]counts, len(e.Workloads))
	for i, w := range e.Workloads {
		total := math.Floor(w.RPS * secs)
		cs[i] = counts{w: w, total: total, errs: math.Floor(total * w.Errors), rejct: math.Floor(total * w.Rejects)}
	}
	var out []sample
	add := func(family, typ, suffix, labels, metric string, v float64) {
		out = append(out, sample{family: family, typ: typ, suffix: suffix, labels: labels, metric: metric, value: v})
	}

	for _, c := range cs {
		for _, reporter := range []string{"destination", "source"} {
			// The source reporter sees a different picture (say, retries
			// counted twice) so that a query that forgets the reporter
			// label gets wrong answers.
			k := 1.0
			if reporter == "source" {
				k = 2
			}
			for _, rc := range []struct {
				code string
				n    float64
			}{{"200", c.total - c.errs - c.rejct}, {"404", c.rejct}, {"503", c.errs}} {
				if rc.code == "503" && reporter == "source" {
					continue
				}
				labels := fmt.Sprintf("reporter=%q,destination_workload_namespace=%q,destination_workload=%q,destination_version=%q,response_code=%q",
					reporter, c.w.Namespace, c.w.Name, c.w.Version, rc.code)
				add("istio_requests", "counter", "_total", labels, labels, k*rc.n)
			}
		}
	}
	for _, c := range cs {
		labels := fmt.Sprintf("reporter=\"destination\",destination_workload_namespace=%q,destination_workload=%q,destination_version=%q",
			c.w.Namespace, c.w.Name, c.w.Version)
		histogram(add, "istio_request_duration_milliseconds", labels, IstioBuckets, c.w.Latency, c.total)
	}
	for _, c := range cs {
		for _, rc := range []struct {
			code string
			n    float64
		}{{"200", c.total - c.errs - c.rejct}, {"404", c.rejct}, {"503", c.errs}} {
			labels := fmt.Sprintf("kubernetes_namespace=%q,app=%q,version=%q,envoy_cluster_name=\"cds_ingress\",envoy_response_code=%q",
				c.w.Namespace, c.w.Name, c.w.Version, rc.code)
			add("envoy_cluster_upstream_rq", "unknown", "", labels, labels, rc.n)
		}
	}
	for _, c := range cs {
		labels := fmt.Sprintf("kubernetes_namespace=%q,app=%q,version=%q,envoy_cluster_name=\"cds_ingress\"", c.w.Namespace, c.w.Name, c.w.Version)
		histogram(add, "envoy_cluster_upstream_rq_time", labels, EnvoyBuckets, c.w.Latency, c.total)
	}
	return out
}

func histogram(add func(family, typ, suffix, labels, metric string, v float64), name, labels string, bounds []float64, l Latency, total float64) {
	sum := 0.0
	prev, prevN := 0.0, 0.0
	for _, le := range bounds {
		n := math.Floor(total * l.At(le))
		add(name, "histogram", "_bucket", fmt.Sprintf("%s,le=%q", labels, num(le)), labels, n)
		// Uniform inside the bucket: its mean is the bucket's midpoint.
		sum += (n - prevN) * (prev + le) / 2
		prev, prevN = le, n
	}
	add(name, "histogram", "_bucket", labels+",le=\"+Inf\"", labels, total)
	add(name, "histogram", "_sum", labels, labels, sum)
	add(name, "histogram", "_count", labels, labels, total)
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
