package fake

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/meshcanary/canary/metrics"
)

// Point is what a scripted Series is asked about.
type Point struct {
	End          time.Time     // the end of the query's window
	Window       time.Duration // the window's length
	CanaryWeight int           // the canary's weight in force when asked
}

// Series scripts the answer to one query. Return ok false for "no data"; a
// NaN or infinite value also reads as no data, as it would from a real back
// end. count is the number of requests behind the value (0 if unknown).
type Series func(p Point) (value float64, count int64, ok bool)

// Constant answers v on count requests, always.
func Constant(v float64, count int64) Series {
	return func(Point) (float64, int64, bool) { return v, count, true }
}

// NoData always answers no data.
func NoData() Series { return func(Point) (float64, int64, bool) { return 0, 0, false } }

// From answers before for windows that end before t, and after from t on.
func From(t time.Time, before, after Series) Series {
	return func(p Point) (float64, int64, bool) {
		if p.End.Before(t) {
			return before(p)
		}
		return after(p)
	}
}

// PerRequests answers v on perMinute × window requests scaled by the
// canary's weight (weighted true) or by the stable's (weighted false), so a
// canary at 0 % has no data.
func PerRequests(v float64, perMinute float64, canary bool) Series {
	return func(p Point) (float64, int64, bool) {
		share := float64(p.CanaryWeight) / 100
		if !canary {
			share = 1 - share
		}
		n := int64(math.Round(perMinute * p.Window.Minutes() * share))
		if n == 0 {
			return 0, 0, false
		}
		return v, n, true
	}
}

// WeightSource reports the canary's weight; *Router is one.
type WeightSource interface{ CanaryWeight() int }

// Provider is an in-memory [metrics.Provider] answering scripted series keyed
// by query text. Verb recorded: "query".
type Provider struct {
	recorder
	weights WeightSource
	series  map[string]Series
	delay   map[string]time.Duration
}

// NewProvider returns a Provider. weights, when not nil, supplies
// Point.CanaryWeight (pass the fake Router).
func NewProvider(weights WeightSource) *Provider {
	return &Provider{weights: weights, series: map[string]Series{}, delay: map[string]time.Duration{}}
}

// Script sets the series that answers queries whose text is query.
func (p *Provider) Script(query string, s Series) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.series[query] = s
}

// Delay makes queries whose text is query wait d (or until their context
// ends) before answering.
func (p *Provider) Delay(query string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay[query] = d
}

// Query answers q from its scripted series. A query with no script is an
// error (a misspelt query should not read as no data).
func (p *Provider) Query(ctx context.Context, q metrics.Query) (res metrics.Result, err error) {
	if err := q.Validate(); err != nil {
		p.mu.Lock()
		p.record("query", q, err)
		p.mu.Unlock()
		return metrics.Result{}, err
	}
	p.mu.Lock()
	d := p.delay[q.Text]
	p.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	var w int
	if p.weights != nil {
		w = p.weights.CanaryWeight()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() { p.record("query", q, err) }()
	if err := p.begin(ctx, "query"); err != nil {
		return metrics.Result{}, err
	}
	s, ok := p.series[q.Text]
	if !ok {
		return metrics.Result{}, &Error{Verb: "query", Msg: fmt.Sprintf("%v: %q", errNoScript, q.Text)}
	}
	v, n, ok := s(Point{End: q.End, Window: q.Window, CanaryWeight: w})
	if !ok {
		return metrics.Result{}, fmt.Errorf("fake provider: %q: %w", q.Text, metrics.ErrNoData)
	}
	return metrics.Result{Value: v, Count: n}.Check()
}
