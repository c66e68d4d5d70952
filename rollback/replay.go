package rollback

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/traffic"
)

// Recording supplies what would have been observed at an analysis instant,
// given the split in force then. Replay asks it once per analysis (and once
// at the start, for the metrics' names when cfg.Metrics is empty).
type Recording func(now time.Time, split traffic.Split) []analysis.Observation

// ReplayResult is what a policy would have done.
type ReplayResult struct {
	// Events are every event the rollout would have emitted, in order.
	Events []Event
	// Final is the status at the end of the replay.
	Final Status
	// Decided is when the rollout reached Succeeded or RolledBack (or
	// started rolling back); zero if it did not by the end.
	Decided time.Time
	// Looks is how many analyses ran.
	Looks int
}

// Replay runs cfg's plan, policy and analyzer over rec from start to until
// (inclusive), stepping at the instants the rollout itself asks for
// (Status.Next). It is a driver like any other: a Rollout over the
// in-memory router of providers/fake and a metrics provider that answers
// from rec. cfg.Router, cfg.Scaler, cfg.Readiness, cfg.Gate, cfg.Sink,
// cfg.Store and cfg.Target are replaced, and of cfg.Metrics only the names
// are kept; gates are never approved. Each metric has an hour's baseline
// (two when the interval is an hour), answered from rec's
// Observation.Baseline, and per interval, through the rollout's own range
// query, from its Baseline.Buckets (the last bucket ending where the
// window begins), when rec gives them. It returns the decisions and the
// instants they would have been taken, so a policy can be tuned on
// recorded data before it meets production.
func Replay(ctx context.Context, cfg Config, start, until time.Time, rec Recording) (ReplayResult, error) {
	if rec == nil {
		return ReplayResult{}, canary.Invalid("Replay.rec", nil, "must not be nil")
	}
	if until.Before(start) {
		return ReplayResult{}, canary.Invalid("Replay.until", until, "must not be before start %v", start)
	}
	var res ReplayResult
	router := fake.NewRouter()
	var names []string
	for _, m := range cfg.Metrics {
		names = append(names, m.Name)
	}
	if len(names) == 0 && cfg.Analyzer != nil {
		for _, o := range rec(start, traffic.AllStable()) {
			names = append(names, o.Metric)
		}
	}
	window := cfg.Plan.Interval
	baseline := time.Hour
	if baseline == window {
		baseline = 2 * time.Hour
	}
	rp := &recordingProvider{rec: rec, router: router, window: window, names: names}
	cfg.Metrics = nil
	for i, n := range names {
		t, err := metrics.Parse(metrics.PromQL, "replay", fmt.Sprintf(`replay{metric="%d",version="{{version}}",window="{{window}}"}`, i))
		if err != nil {
			return ReplayResult{}, err
		}
		cfg.Metrics = append(cfg.Metrics, Metric{Name: n, Provider: rp, Query: t, Baseline: baseline})
	}
	cfg.Target = Target{Stable: Workload{Version: "stable"}, Canary: Workload{Version: "canary"}}
	cfg.Router, cfg.Scaler, cfg.Readiness, cfg.Gate, cfg.Store, cfg.Key = router, nil, nil, nil, nil, ""
	cfg.Sink = SinkFunc(func(_ context.Context, e Event) error {
		res.Events = append(res.Events, e)
		if e.Kind == KindTransition && res.Decided.IsZero() && (e.To == RollingBack || e.To.Final()) {
			res.Decided = e.Time
		}
		return nil
	})
	r, err := New(cfg)
	if err != nil {
		return ReplayResult{}, err
	}
	now := start
	for !now.After(until) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		st, err := r.Step(ctx, now)
		res.Final = st
		if err != nil {
			return res, err
		}
		if st.Phase.Final() {
			break
		}
		next := st.Next
		if !next.After(now) {
			next = now.Add(r.m.plan.interval)
		}
		now = next
	}
	res.Looks = r.State().Looks
	return res, nil
}

// recordingProvider answers the queries Replay renders from a Recording,
// asking it once per analysis instant.
type recordingProvider struct {
	rec    Recording
	router *fake.Router
	window time.Duration
	names  []string

	mu  sync.Mutex
	at  time.Time
	obs map[string]analysis.Observation
}

func (p *recordingProvider) Query(ctx context.Context, q metrics.Query) (metrics.Result, error) {
	if err := ctx.Err(); err != nil {
		return metrics.Result{}, err
	}
	i, err := p.index(q.Text)
	if err != nil {
		return metrics.Result{}, err
	}
	version := label(q.Text, "version")
	baseline := version == "stable" && q.Window != p.window
	now := q.End
	if baseline {
		now = q.End.Add(p.window)
	}
	o := p.observation(now, i)
	m := o.Canary
	switch {
	case baseline:
		m = o.Baseline
	case version == "stable":
		m = o.Stable
	}
	if !m.Observed {
		return metrics.Result{}, metrics.ErrNoData
	}
	return metrics.Result{Value: m.Value, Samples: m.Samples, Count: m.Count}, nil
}

// Range answers the rollout's range query for the stable version's
// history (the stable query at the analysis window, ending a window
// before the analysis instant) from the Recording's
// Observation.Baseline.Buckets at that instant: the last bucket is the
// point at q.End, the one before it a step earlier, and so on; buckets
// without data and points outside the range are left out. A Recording
// without buckets gives no data, and the history stays one count.
func (p *recordingProvider) Range(ctx context.Context, q metrics.RangeQuery) ([]metrics.Point, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, err
	}
	i, err := p.index(q.Text)
	if err != nil {
		return nil, err
	}
	if label(q.Text, "version") != "stable" || q.Window != p.window || q.Step != p.window {
		return nil, fmt.Errorf("replay: %w: no range of %q", metrics.ErrNoData, q.Text)
	}
	bs := p.observation(q.End.Add(p.window), i).Baseline.Buckets
	var pts []metrics.Point
	for j, b := range bs {
		t := q.End.Add(-time.Duration(len(bs)-1-j) * q.Step)
		if b.Observed && !t.Before(q.Start) {
			pts = append(pts, metrics.Point{Time: t, Value: b.Value, Count: b.Count})
		}
	}
	if len(pts) == 0 {
		return nil, fmt.Errorf("replay: %w: no buckets behind %q", metrics.ErrNoData, q.Text)
	}
	return pts, nil
}

// index returns the metric index of a query Replay rendered.
func (p *recordingProvider) index(text string) (int, error) {
	i, err := strconv.Atoi(label(text, "metric"))
	if err != nil || i < 0 || i >= len(p.names) {
		return 0, fmt.Errorf("replay: unknown query %q", text)
	}
	return i, nil
}

// observation returns metric i's observation at now, asking the
// Recording once per instant.
func (p *recordingProvider) observation(now time.Time, i int) analysis.Observation {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.obs == nil || !p.at.Equal(now) {
		p.at, p.obs = now, map[string]analysis.Observation{}
		for _, o := range p.rec(now, p.router.Current()) {
			p.obs[o.Metric] = o
		}
	}
	return p.obs[p.names[i]]
}

// label returns the value of label k in a query Replay rendered:
// replay{metric="i",version="v",window="w"}.
func label(text, k string) string {
	for _, part := range strings.Split(strings.Trim(strings.TrimPrefix(text, "replay"), "{}"), ",") {
		if key, v, _ := strings.Cut(part, "="); key == k {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
