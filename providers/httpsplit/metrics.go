package httpsplit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// version indexes the measured series.
type version int

const (
	stable version = iota
	canaryVersion
	mirrorVersion
	numVersions
)

var versionNames = [numVersions]string{"stable", "canary", "mirror"}

// Latency histogram: values in whole microseconds; below 16 µs one bin per
// microsecond, from there 16 bins per power of two (log-linear, as in
// HdrHistogram), up to 2^30 µs (about 18 min); longer latencies land in the
// last bin. A bin [lo, lo+w) has w ≤ lo/16, and a percentile is reported as
// its bin's midpoint, so it is within 1/32 (3.125 %) of a latency the
// histogram holds at that rank, plus the truncation to whole microseconds.
const (
	subBits    = 4
	subBuckets = 1 << subBits // 16
	maxExp     = 30           // bins cover [0, 2^(maxExp+1)) µs
	numBins    = subBuckets + (maxExp-subBits+1)*subBuckets
)

func binOf(us int64) int {
	if us < subBuckets {
		if us < 0 {
			return 0
		}
		return int(us)
	}
	e := bits.Len64(uint64(us)) - 1 // us in [2^e, 2^(e+1)), e ≥ subBits
	if e > maxExp {
		return numBins - 1
	}
	sub := int(us>>(e-subBits)) - subBuckets
	return subBuckets + (e-subBits)*subBuckets + sub
}

// binValue is the representative latency, in µs, of bin i: the midpoint of
// the whole microseconds it holds.
func binValue(i int) float64 {
	if i < subBuckets {
		return float64(i)
	}
	e := (i-subBuckets)/subBuckets + subBits
	sub := (i - subBuckets) % subBuckets
	w := int64(1) << (e - subBits)
	lo := int64(subBuckets+sub) * w
	return float64(lo) + float64(w-1)/2
}

// bucket is one second of one version: the requests that ended in
// (sec-1 s, sec].
type bucket struct {
	sec      int64 // Unix second the bucket ends at; math.MinInt64 when unused
	requests uint64
	errors   uint64
	sumUS    int64            // total latency, µs
	hist     *[numBins]uint32 // allocated on first use, reused afterwards
}

type latencySample struct {
	sec int64   // bucket key of the request
	s   float64 // its latency, seconds
}

// series holds one version's measurements in bounded memory: a ring of
// per-second buckets and a ring of the most recent per-request latencies.
type series struct {
	mu      sync.Mutex
	buckets []bucket // ring indexed by second modulo len
	lat     []latencySample
	latCap  int
	latNext int // total latencies recorded
	stale   uint64
	horizon int64 // seconds a query may reach back (the retention)
}

// ringSlack is how many seconds beyond Retention the ring keeps, so a
// window of the full retention ending a little in the past is still whole.
const ringSlack = 60

func newSeries(retention int64, latencySamples int) *series {
	s := &series{buckets: make([]bucket, retention+ringSlack), latCap: latencySamples, horizon: retention}
	for i := range s.buckets {
		s.buckets[i].sec = math.MinInt64
	}
	return s
}

// ceilSec is the Unix second t belongs to: the smallest whole second ≥ t.
func ceilSec(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() != 0 {
		s++
	}
	return s
}

// floorSec is the largest whole Unix second ≤ t.
func floorSec(t time.Time) int64 { return t.Unix() }

func (s *series) slot(sec int64) *bucket {
	n := int64(len(s.buckets))
	return &s.buckets[((sec%n)+n)%n]
}

// add records one request that ended at t after lat.
func (s *series) add(t time.Time, lat time.Duration, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addLocked(t, lat, failed)
}

// record counts a request that started at start and ends now, reading the
// clock while it holds the series' lock: a query (which reads under the
// same lock) either sees the request or runs before its end was stamped,
// so no request can be stamped inside a window that was already read.
func (s *series) record(now func() time.Time, start time.Time, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	end := now()
	s.addLocked(end, end.Sub(start), failed)
}

func (s *series) addLocked(t time.Time, lat time.Duration, failed bool) {
	key := ceilSec(t)
	us := lat.Microseconds()
	if us < 0 {
		us = 0
	}
	b := s.slot(key)
	if b.sec != key {
		if b.sec > key {
			// The clock went back further than the ring reaches: this
			// second's bucket has been reused. Nowhere to count it.
			s.stale++
			return
		}
		b.sec, b.requests, b.errors, b.sumUS = key, 0, 0, 0
		if b.hist != nil {
			*b.hist = [numBins]uint32{}
		}
	}
	if b.hist == nil {
		b.hist = new([numBins]uint32)
	}
	b.requests++
	if failed {
		b.errors++
	}
	b.sumUS += us
	b.hist[binOf(us)]++
	ls := latencySample{sec: key, s: lat.Seconds()}
	if len(s.lat) < s.latCap {
		s.lat = append(s.lat, ls)
	} else {
		s.lat[s.latNext%s.latCap] = ls
	}
	s.latNext++
}

// metric is what a query asks for.
type metric struct {
	name       string
	percentile float64 // for latency_pNN; 0 otherwise
	slowFrom   int     // for slow: the first histogram bin counted as slow
}

var metricNames = []string{
	"requests", "request_rate", "error_rate", "success_rate",
	"latency_mean", "latency_p50", "latency_p90", "latency_p95", "latency_p99", "latency_p999",
	"slow",
}

// maxBound is the largest bound a slow query may name, in seconds: the
// histogram's range.
const maxBound = float64(int64(1)<<(maxExp+1)) / 1e6

// slowFromBin returns the first bin whose midpoint is above bound (in
// seconds): the bins a slow query counts.
func slowFromBin(bound float64) int {
	us := bound * 1e6
	for i := 0; i < numBins; i++ {
		if binValue(i) > us {
			return i
		}
	}
	return numBins
}

var percentiles = map[string]float64{
	"latency_p50": 0.50, "latency_p90": 0.90, "latency_p95": 0.95, "latency_p99": 0.99, "latency_p999": 0.999,
}

var queryText = regexp.MustCompile(`^\s*([a-z0-9_]+)(?::([^\s{]+))?\s*(?:\{\s*version\s*=\s*"([^"]*)"\s*(?:,\s*le\s*=\s*"([^"]*)"\s*)?\}|\s+(\S+))\s*$`)

// parseQuery reads "<metric> <version>" or `<metric>{version="<version>"}`,
// and for slow "slow:<bound> <version>" or
// `slow{version="<version>",le="<bound>"}`.
func parseQuery(text string) (metric, version, error) {
	m := queryText.FindStringSubmatch(text)
	if m == nil {
		return metric{}, 0, canary.Invalid("Query.Text", text,
			`must be "<metric> <version>" or "<metric>{version=\"<version>\"}", for example "error_rate canary" or "slow:0.25 canary"`)
	}
	name, ver, boundText := m[1], m[3]+m[5], m[2]+m[4]
	if m[2] != "" && m[4] != "" {
		return metric{}, 0, canary.Invalid("Query.Text", text, "names the bound twice")
	}
	known := false
	for _, n := range metricNames {
		known = known || n == name
	}
	if !known {
		return metric{}, 0, canary.Invalid("Query.Text", text, "unknown metric %q; known: %s", name, strings.Join(metricNames, ", "))
	}
	met := metric{name: name, percentile: percentiles[name]}
	switch {
	case name == "slow":
		bound, err := strconv.ParseFloat(boundText, 64)
		if boundText == "" || err != nil || !(bound > 0 && bound <= maxBound) {
			return metric{}, 0, canary.Invalid("Query.Text", text,
				"slow needs a bound in seconds above 0 and at most %v, as in \"slow:0.25 canary\" or `slow{version=\"canary\",le=\"0.25\"}`", maxBound)
		}
		met.slowFrom = slowFromBin(bound)
	case boundText != "":
		return metric{}, 0, canary.Invalid("Query.Text", text, "only slow takes a bound")
	}
	for v, n := range versionNames {
		if n == ver {
			return met, version(v), nil
		}
	}
	return metric{}, 0, canary.Invalid("Query.Text", text, "unknown version %q; known: %s", ver, strings.Join(versionNames[:], ", "))
}

// Query answers q from the proxy's own measurements; see the package doc
// for the query language and how the window is read. It returns an error
// wrapping [metrics.ErrNoData] when no request of the version ended in the
// window, and a *[canary.FieldError] for an invalid query, an unknown metric
// or version, a window longer than Config.Retention, or a window that
// reaches back past the history still held. Query is a [metrics.Source]
// over the proxy's measuring driver ([Proxy.Metrics]).
func (p *Proxy) Query(ctx context.Context, q metrics.Query) (metrics.Result, error) {
	return p.sources[0].Query(ctx, q)
}

// Range answers q.Text over a window of q.Window ending at each of
// q.Start, q.Start+q.Step, … up to q.End, from the proxy's measurements,
// as Query answers each (points with no request are left out; none at all
// is [metrics.ErrNoData]).
func (p *Proxy) Range(ctx context.Context, q metrics.RangeQuery) ([]metrics.Point, error) {
	return p.sources[0].Range(ctx, q)
}

// Metrics returns the portable [metrics.Source] that Query and Range
// answer through.
func (p *Proxy) Metrics() *metrics.Source { return p.sources[0] }

// MirrorView returns a [metrics.Provider] over p's measurements that
// answers the canary's queries from its mirrored copies (the version
// "mirror") while the split in force gives the canary no weight and
// mirrors a share of stable's requests to it — before a blue/green switch
// with mirroring, or in a zero-traffic phase with a mirror — when the
// copies are the canary's only requests and a query of "canary" would
// have no data. At any other split it answers as [Proxy.Query]. A split
// that cannot be read answers as Query too. It is a [metrics.Source] too,
// with range queries.
func (p *Proxy) MirrorView() metrics.Provider { return p.sources[1] }

// initMetrics builds the Sources of Query and MirrorView; New calls it.
func (p *Proxy) initMetrics() {
	// Measurements in memory are never rate limited.
	o := metrics.Config{Name: "httpsplit", MaxRetries: -1}
	p.sources[0] = metrics.NewSource(measured{p: p}, o)
	p.sources[1] = metrics.NewSource(measured{p: p, mirrorView: true}, o)
}

// measured is the [metrics.Driver] over a Proxy's measurements, seen
// directly or through the mirror view.
type measured struct {
	p          *Proxy
	mirrorView bool
}

// ErrorCode has nothing to classify: every error is a *canary.FieldError
// or wraps metrics.ErrNoData, which have their codes.
func (measured) ErrorCode(error) canary.ErrorCode { return canary.Unknown }

// Instant answers q (validated by the Source) with one series.
func (m measured) Instant(ctx context.Context, q metrics.Query) ([]metrics.Series, error) {
	r, err := m.p.query(ctx, q, m.mirrorView)
	if err != nil {
		return nil, err
	}
	return []metrics.Series{{Result: r}}, nil
}

func (p *Proxy) query(ctx context.Context, q metrics.Query, mirrorView bool) (metrics.Result, error) {
	m, v, err := parseQuery(q.Text)
	if err != nil {
		return metrics.Result{}, err
	}
	if mirrorView && v == canaryVersion {
		if s, err := p.Split(ctx); err == nil && s.Canary == 0 && s.Mirror > 0 {
			v = mirrorVersion
		}
	}
	s := p.series[v]
	winSec := int64(q.Window / time.Second) // rounded up, without overflow
	if q.Window%time.Second != 0 {
		winSec++
	}
	if winSec > s.horizon {
		return metrics.Result{}, canary.Invalid("Query.Window", q.Window, "must not exceed the retention (%v)", p.cfg.Retention)
	}
	// The whole seconds in (⌊Start⌋, ⌊End⌋]: consecutive windows (one
	// starting where the other ended) share no second and leave none out,
	// whatever their instants, and the second End falls in is left to the
	// next window, when it is complete.
	end := floorSec(q.End)
	start := floorSec(q.Start())
	if end <= start {
		return metrics.Result{}, fmt.Errorf("httpsplit: %q over %v to %v: %w: the window holds no whole second",
			q.Text, q.Window, q.End.UTC().Format(time.RFC3339Nano), metrics.ErrNoData)
	}
	r, err := s.query(m, start, end, end-start)
	if err != nil {
		if err == errTooOld {
			return metrics.Result{}, canary.Invalid("Query.End", q.End,
				"the window (%v) reaches back past the history still held (retention %v)", q.Window, p.cfg.Retention)
		}
		return metrics.Result{}, fmt.Errorf("httpsplit: %q over %v to %v: %w", q.Text, q.Window, q.End.UTC().Format(time.RFC3339), err)
	}
	// Values and samples are finite by construction (no division by zero
	// requests); the Source's Result.Check finds nothing to drop.
	return r, nil
}

var errTooOld = errors.New("httpsplit: window older than the history held")

// query aggregates the buckets in (start, end] (Unix seconds).
func (s *series) query(m metric, start, end, winSec int64) (metrics.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		requests, errs uint64
		sumUS          int64
		hist           [numBins]uint32
		samples        []float64 // latency samples come from the ring instead
	)
	if m.percentile == 0 && m.name != "latency_mean" {
		samples = make([]float64, 0, end-start)
	}
	var slow uint64
	for k := start + 1; k <= end; k++ {
		b := s.slot(k)
		if b.sec > k {
			return metrics.Result{}, errTooOld
		}
		var n, e uint64
		if b.sec == k {
			n, e = b.requests, b.errors
			requests += n
			errs += e
			sumUS += b.sumUS
			if m.percentile > 0 {
				for i, c := range b.hist {
					hist[i] += c
				}
			}
		}
		if m.name == "slow" && n > 0 {
			var sl uint64
			for _, c := range b.hist[m.slowFrom:] {
				sl += uint64(c)
			}
			slow += sl
			samples = append(samples, float64(sl)/float64(n))
		}
		switch m.name {
		case "requests", "request_rate":
			samples = append(samples, float64(n))
		case "error_rate":
			if n > 0 {
				samples = append(samples, float64(e)/float64(n))
			}
		case "success_rate":
			if n > 0 {
				samples = append(samples, 1-float64(e)/float64(n))
			}
		}
	}
	if requests == 0 {
		return metrics.Result{}, metrics.ErrNoData
	}
	r := metrics.Result{Count: int64(requests), Samples: samples}
	switch m.name {
	case "requests":
		r.Value = float64(requests)
	case "request_rate":
		r.Value = float64(requests) / float64(winSec)
	case "error_rate":
		r.Value = float64(errs) / float64(requests)
	case "success_rate":
		r.Value = 1 - float64(errs)/float64(requests)
	case "slow":
		r.Value = float64(slow) / float64(requests)
	case "latency_mean":
		r.Value = float64(sumUS) / float64(requests) / 1e6
		r.Samples = s.latencies(start, end)
	default:
		r.Value = percentileOf(&hist, requests, m.percentile) / 1e6
		r.Samples = s.latencies(start, end)
	}
	return r, nil
}

// percentileOf returns the nearest-rank percentile p (0 < p ≤ 1) of the n
// latencies in hist, in µs.
func percentileOf(hist *[numBins]uint32, n uint64, p float64) float64 {
	rank := uint64(math.Ceil(p * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i, c := range hist {
		cum += uint64(c)
		if cum >= rank {
			return binValue(i)
		}
	}
	return binValue(numBins - 1)
}

// latencies returns the per-request latencies (seconds) still held whose
// requests ended in (start, end], oldest first.
func (s *series) latencies(start, end int64) []float64 {
	n := 0
	for _, ls := range s.lat {
		if ls.sec > start && ls.sec <= end {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]float64, 0, n)
	first := 0
	if s.latNext > s.latCap {
		first = s.latNext % s.latCap // the oldest sample
	}
	for _, part := range [2][]latencySample{s.lat[first:], s.lat[:first]} {
		for _, ls := range part {
			if ls.sec > start && ls.sec <= end {
				out = append(out, ls.s)
			}
		}
	}
	return out
}

// memory reports the bytes s holds now, for the tests of the bound.
func (s *series) memory() (bucketsLen, histograms, latencies int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.buckets {
		if b.hist != nil {
			histograms++
		}
	}
	return len(s.buckets), histograms, len(s.lat)
}
