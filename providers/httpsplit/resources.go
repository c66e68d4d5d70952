package httpsplit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// Usage is what a back end reports about itself: the CPU time its process
// has used, the memory it holds, and when it started (a restart shows as a
// new start time).
type Usage struct {
	// CPUSeconds is the process's user plus system CPU time since it
	// started, in seconds.
	CPUSeconds float64 `json:"cpuSeconds"`
	// MemoryBytes is the memory the process holds: its resident set where
	// the system reports one, else what the Go runtime has mapped and not
	// released.
	MemoryBytes float64 `json:"memoryBytes"`
	// Started is when the process started; it identifies the process.
	Started time.Time `json:"started"`
}

// processStarted is when this process loaded the package: close enough to
// its start to tell one run from the next.
var processStarted = time.Now().UTC()

// SelfUsage reads this process's own usage. CPU time comes from
// getrusage(2) on Unix systems and from the Go runtime's estimate
// (runtime/metrics) elsewhere; memory from /proc/self/statm on Linux and
// from the Go runtime elsewhere.
func SelfUsage() Usage {
	return Usage{CPUSeconds: selfCPUSeconds(), MemoryBytes: selfMemoryBytes(), Started: processStarted}
}

// ResourceHandler returns an http.Handler that answers GET with the JSON
// of usage() (SelfUsage when nil). A back end mounts it on a path of its
// own — the quickstart uses ResourcePath — so that a ResourceMonitor can
// measure what the proxy cannot: another process's CPU and memory.
func ResourceHandler(usage func() Usage) http.Handler {
	if usage == nil {
		usage = SelfUsage
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(usage())
	})
}

// ResourcePath is where the quickstart's back ends serve ResourceHandler.
const ResourcePath = "/.well-known/meshcanary/resources"

// ResourceMonitorConfig configures a ResourceMonitor.
type ResourceMonitorConfig struct {
	// Stable and Canary are the report URLs (ResourceHandler) of each
	// version's back ends, one per replica. At least one must be given.
	Stable, Canary []string
	// Client fetches the reports; nil means a client with a 5 s timeout.
	Client *http.Client
	// Now stamps every sample; nil means time.Now. Tests inject a clock.
	Now func() time.Time
	// Retention is how long samples are kept; zero means 1 h.
	Retention time.Duration
}

// ResourceMonitor is a [metrics.Provider] for the resource use of the back
// ends behind a Proxy, which report it themselves (ResourceHandler). The
// caller drives it: Sample fetches every report once (call it at least
// twice a window, for example every 10 s with Run), and Query answers from
// the samples held, over (End-Window, End]. The query language is the
// Proxy's, "<metric> <version>" or `<metric>{version="<version>"}`, with
// the metrics:
//
//	cpu       cores used: for each back end, the CPU seconds between its
//	          first and last sample in the window over the time between
//	          them, summed over back ends (a back end needs two samples of
//	          one process in the window)
//	memory    bytes: for each back end its highest sample in the window,
//	          summed
//	restarts  how many times a back end's process changed (a new start
//	          time) between samples in the window, summed
//	replicas  how many back ends answered at least once in the window
//
// A version with no usable sample in the window is [metrics.ErrNoData]. It is
// safe for concurrent use.
type ResourceMonitor struct {
	cfg     ResourceMonitorConfig
	targets [2][]string // [stable, canary]

	mu      sync.Mutex
	samples [2][][]usageSample // [version][backend] oldest first
}

type usageSample struct {
	at time.Time
	u  Usage
}

// NewResourceMonitor checks c and returns a ResourceMonitor.
func NewResourceMonitor(c ResourceMonitorConfig) (*ResourceMonitor, error) {
	if len(c.Stable)+len(c.Canary) == 0 {
		return nil, canary.Invalid("ResourceMonitorConfig.Stable", nil, "no back end to monitor: give Stable or Canary report URLs")
	}
	for name, urls := range map[string][]string{"Stable": c.Stable, "Canary": c.Canary} {
		for i, s := range urls {
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
				return nil, canary.Invalid(fmt.Sprintf("ResourceMonitorConfig.%s[%d]", name, i), nil, "must be an http or https URL without credentials")
			}
		}
	}
	switch {
	case c.Retention < 0:
		return nil, canary.Invalid("ResourceMonitorConfig.Retention", c.Retention, "must not be negative")
	case c.Retention == 0:
		c.Retention = time.Hour
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 5 * time.Second}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	m := &ResourceMonitor{cfg: c, targets: [2][]string{c.Stable, c.Canary}}
	for v := range m.targets {
		m.samples[v] = make([][]usageSample, len(m.targets[v]))
	}
	return m, nil
}

// Sample fetches every back end's report once, stamps it with Config.Now
// and keeps it. It returns the errors of the back ends that did not answer
// (joined); the others are kept all the same.
func (m *ResourceMonitor) Sample(ctx context.Context) error {
	var errs []error
	for v, urls := range m.targets {
		for i, u := range urls {
			usage, err := m.fetch(ctx, u)
			if err != nil {
				errs = append(errs, fmt.Errorf("httpsplit: resources of %s back end %d: %w", versionNames[v], i, err))
				continue
			}
			at := m.cfg.Now()
			m.mu.Lock()
			s := append(m.samples[v][i], usageSample{at: at, u: usage})
			cut := 0
			for cut < len(s) && s[cut].at.Before(at.Add(-m.cfg.Retention)) {
				cut++
			}
			m.samples[v][i] = append(s[:0:0], s[cut:]...)
			m.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

func (m *ResourceMonitor) fetch(ctx context.Context, u string) (Usage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Usage{}, err
	}
	resp, err := m.cfg.Client.Do(req)
	if err != nil {
		return Usage{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Usage{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Usage{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	var usage Usage
	if err := json.Unmarshal(body, &usage); err != nil {
		return Usage{}, fmt.Errorf("report: %w", err)
	}
	if !finite(usage.CPUSeconds) || !finite(usage.MemoryBytes) || usage.CPUSeconds < 0 || usage.MemoryBytes < 0 || usage.Started.IsZero() {
		return Usage{}, errors.New("report: CPU seconds and memory must be finite and not negative, and the start time set")
	}
	return usage, nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Run calls Sample every interval until ctx ends, and returns ctx's error.
// Failed samples are skipped (Query then has fewer points).
func (m *ResourceMonitor) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return canary.Invalid("every", every, "must be positive")
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		_ = m.Sample(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

var resourceQuery = regexp.MustCompile(`^\s*([a-z]+)\s*(?:\{\s*version\s*=\s*"([^"]*)"\s*\}|\s+(\S+))\s*$`)

var resourceMetrics = []string{"cpu", "memory", "restarts", "replicas"}

// Query answers q from the samples held. See ResourceMonitor.
func (m *ResourceMonitor) Query(ctx context.Context, q metrics.Query) (metrics.Result, error) {
	if err := q.Validate(); err != nil {
		return metrics.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return metrics.Result{}, err
	}
	match := resourceQuery.FindStringSubmatch(q.Text)
	if match == nil {
		return metrics.Result{}, canary.Invalid("Query.Text", q.Text, `must be "<metric> <version>" or "<metric>{version=\"<version>\"}", for example "cpu canary"`)
	}
	name, ver := match[1], match[2]+match[3]
	known := false
	for _, n := range resourceMetrics {
		known = known || n == name
	}
	if !known {
		return metrics.Result{}, canary.Invalid("Query.Text", q.Text, "unknown metric %q; known: %s", name, strings.Join(resourceMetrics, ", "))
	}
	v := -1
	for i, n := range versionNames[:2] {
		if n == ver {
			v = i
		}
	}
	if v < 0 {
		return metrics.Result{}, canary.Invalid("Query.Text", q.Text, "unknown version %q; known: stable, canary", ver)
	}
	if q.Window > m.cfg.Retention {
		return metrics.Result{}, canary.Invalid("Query.Window", q.Window, "must not exceed the retention (%v)", m.cfg.Retention)
	}
	start, end := q.Start(), q.End
	m.mu.Lock()
	defer m.mu.Unlock()
	var total float64
	used := 0
	for _, all := range m.samples[v] {
		var in []usageSample
		for _, s := range all {
			if s.at.After(start) && !s.at.After(end) {
				in = append(in, s)
			}
		}
		if len(in) == 0 {
			continue
		}
		switch name {
		case "replicas":
			total++
			used++
		case "memory":
			peak := 0.0
			for _, s := range in {
				peak = math.Max(peak, s.u.MemoryBytes)
			}
			total += peak
			used++
		case "restarts":
			for i := 1; i < len(in); i++ {
				if !in[i].u.Started.Equal(in[i-1].u.Started) {
					total++
				}
			}
			used++
		case "cpu":
			// The latest process's first and last samples in the window.
			last := in[len(in)-1]
			first := last
			for i := len(in) - 2; i >= 0 && in[i].u.Started.Equal(last.u.Started); i-- {
				first = in[i]
			}
			dt := last.at.Sub(first.at).Seconds()
			if dt <= 0 || last.u.CPUSeconds < first.u.CPUSeconds {
				continue
			}
			total += (last.u.CPUSeconds - first.u.CPUSeconds) / dt
			used++
		}
	}
	if used == 0 {
		return metrics.Result{}, fmt.Errorf("httpsplit: %q over %v to %v: %w", q.Text, q.Window, q.End.UTC().Format(time.RFC3339), metrics.ErrNoData)
	}
	return metrics.Result{Value: total}.Check()
}
