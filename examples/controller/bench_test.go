package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/fake"
	mcprom "github.com/meshcanary/canary/providers/prometheus"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
)

// benchConfig is one rollout over the in-memory fakes, built as the
// controller builds it: ten steps, a one-minute interval, one error-rate
// metric, the default preset.
func benchConfig(i int) rollback.Config {
	name := fmt.Sprintf("app-%d", i)
	pre := analysis.DefaultPreset(analysis.PresetMetrics{ErrorRate: "error-rate"})
	return rollback.Config{
		Name:   name,
		Plan:   rollback.Plan{Stages: rollback.Weights(10, 20, 30, 40, 50, 60, 70, 80, 90, 100), Interval: time.Minute},
		Policy: rollback.PresetPolicy(pre), Analyzer: pre.Analyzer,
		Target: rollback.Target{Namespace: "shop", Service: name,
			Stable: rollback.Workload{Name: name}, Canary: rollback.Workload{Name: name + "-canary"}},
		Metrics: []rollback.Metric{{Name: "error-rate", Provider: fakeMetrics{},
			Query: metrics.MustParse(metrics.PromQL, "error-rate", errorRateQuery)}},
		Router: fake.NewRouter(), Scaler: fake.NewScaler(4, 2),
	}
}

// BenchmarkThousandRollouts drives 1,000 rollouts from one replica's
// driving code (drive.go) over the fakes and an in-memory store: it
// reports the heap held per rollout (the Rollout, its fakes and its stored
// state) and the CPU time of one Step with its save. A rollout that
// finishes is started again, so that every measured step is a real one.
func BenchmarkThousandRollouts(b *testing.B) {
	const n = 1000
	ctx := context.Background()
	st := new(store.Memory)
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ds := make([]*driven, n)
	stateBytes := 0
	for i := range ds {
		d, err := load(ctx, st, fmt.Sprintf("rollout-app-%d", i), benchConfig(i), 1)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := step(ctx, d, now); err != nil {
			b.Fatal(err)
		}
		ds[i] = d
		stateBytes += stored(ctx, b, st, fmt.Sprintf("rollout-app-%d", i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(after.HeapAlloc-before.HeapAlloc) / n
	steps, maxState := 0, 0
	b.ResetTimer()
	for b.Loop() {
		now = now.Add(time.Minute)
		for i, d := range ds {
			key := fmt.Sprintf("rollout-app-%d", i)
			if d.r.State().Phase.Final() {
				b.StopTimer()
				_, v, err := st.Load(ctx, key)
				if err != nil {
					b.Fatal(err)
				}
				if err := st.Delete(ctx, key, v); err != nil {
					b.Fatal(err)
				}
				nd, err := load(ctx, st, key, benchConfig(i), 1)
				if err != nil {
					b.Fatal(err)
				}
				ds[i], d = nd, nd
				b.StartTimer()
			}
			if _, err := step(ctx, d, now); err != nil {
				b.Fatal(err)
			}
			if steps%len(ds) == 0 { // one rollout's record per round: reading it is not the work measured
				b.StopTimer()
				maxState = max(maxState, stored(ctx, b, st, key))
				b.StartTimer()
			}
			steps++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(steps), "ns/step")
	b.ReportMetric(heap, "heap-B/rollout")
	b.ReportMetric(float64(stateBytes)/n, "state-B/rollout")
	b.ReportMetric(float64(maxState), "max-state-B")
}

// requestCounter counts a client's requests, leases apart.
type requestCounter struct {
	mu            sync.Mutex
	leases, other map[string]int
}

func (c *requestCounter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	c.leases, c.other = map[string]int{}, map[string]int{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			c.mu.Lock()
			if strings.Contains(r.URL.Path, "/leases") {
				c.leases[r.Method]++
			} else if r.URL.Query().Get("watch") != "true" {
				c.other[r.Method]++
			}
			c.mu.Unlock()
			return rt.RoundTrip(r)
		})
	})
	return cfg
}

func (c *requestCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.leases)
	clear(c.other)
}

func (c *requestCounter) totals() (leases, other int, byVerb map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	byVerb = map[string]int{}
	for v, n := range c.other {
		other += n
		byVerb[v] = n
	}
	for _, n := range c.leases {
		leases += n
	}
	return leases, other, byVerb
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRequestsPerStep measures the API requests one replica sends per
// rollout step (informers and watches aside, Leases counted apart), for
// docs/benchmarks/controller.md. It asserts only that the rollouts finish
// and that a step costs a bounded number of requests.
func TestRequestsPerStep(t *testing.T) {
	f := newFixture(t)
	var rc requestCounter
	o := f.controllerOptions(t, "counted", rc.wrap(f.env.Config))
	col := mcprom.NewRolloutMetrics("")
	reg := prom.NewRegistry()
	reg.MustRegister(col)
	o.Collector = col
	c := start(t, o)
	poll(t, time.Minute, "the shards", func() (bool, string) { return len(c.shards.Held()) == o.Shards, fmt.Sprint(c.shards.Held()) })
	rc.reset()
	began := time.Now()
	const n = 20
	for i := range n {
		name := fmt.Sprintf("app-%d", i)
		if i%4 == 3 {
			name = fmt.Sprintf("faulty-%d", i)
		}
		f.app(t, name, nil)
	}
	for i := range n {
		name := fmt.Sprintf("app-%d", i)
		if i%4 == 3 {
			name = fmt.Sprintf("faulty-%d", i)
		}
		poll(t, 3*time.Minute, name+" to finish", func() (bool, string) {
			p := f.rollout(t, name).Status.Phase
			return p == "succeeded" || p == "rolled-back", p
		})
	}
	leases, other, byVerb := rc.totals()
	secs := time.Since(began).Seconds()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var steps uint64
	for _, mf := range mfs {
		if mf.GetName() == "meshcanary_step_duration_seconds" {
			steps = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	if steps == 0 {
		t.Fatal("no step observed")
	}
	perStep := float64(other) / float64(steps)
	t.Logf("%d rollouts, %d steps: %d requests (%v), %.2f per step; Leases: %d requests in %.0f s = %.2f/s per shard held (retry period %v)",
		n, steps, other, byVerb, perStep, leases, secs, float64(leases)/secs/float64(o.Shards), o.RetryPeriod)
	t.Logf("so 100 rollouts at a 1-minute interval (one step a minute each) send ≈ %.1f requests/s, Leases aside", 100*perStep/60)
	if perStep > 50 {
		t.Fatalf("%.1f requests per step", perStep)
	}
}

// stored is the size of the record the store holds under key.
func stored(ctx context.Context, b *testing.B, st store.Store, key string) int {
	data, _, err := st.Load(ctx, key)
	if err != nil {
		b.Fatal(err)
	}
	return len(data)
}
