package fake

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/meshcanary/canary"
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
// by query text: a [metrics.Source] over an in-memory driver, so that it
// validates, reads NaN as no data and answers range queries as every
// driver's Source does. Verbs recorded: "query" and "range".
type Provider struct {
	recorder
	weights WeightSource
	series  map[string]Series
	delay   map[string]time.Duration
	src     *metrics.Source
}

// NewProvider returns a Provider. weights, when not nil, supplies
// Point.CanaryWeight (pass the fake Router).
func NewProvider(weights WeightSource) *Provider {
	p := &Provider{weights: weights, series: map[string]Series{}, delay: map[string]time.Duration{}}
	// No rate-limit retries: an injected error is returned as it is.
	p.src = metrics.NewSource(providerDriver{p}, metrics.Config{Name: "fake provider", MaxRetries: -1})
	return p
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
func (p *Provider) Query(ctx context.Context, q metrics.Query) (metrics.Result, error) {
	res, err := p.src.Query(ctx, q)
	p.mu.Lock()
	p.record("query", q, err)
	p.mu.Unlock()
	return res, err
}

// Range answers q from its scripted series, one window ending at each of
// q.Start, q.Start+q.Step, … up to q.End (points with no data left out).
// It is recorded once, as "range", and takes the errors injected for
// "range"; a query with no script is an error.
func (p *Provider) Range(ctx context.Context, q metrics.RangeQuery) ([]metrics.Point, error) {
	pts, err := p.src.Range(ctx, q)
	p.mu.Lock()
	p.record("range", q, err)
	p.mu.Unlock()
	return pts, err
}

// Source returns the portable [metrics.Source] p answers through.
func (p *Provider) Source() *metrics.Source { return p.src }

// providerDriver is the Provider's [metrics.Driver] and [metrics.Ranger].
type providerDriver struct{ p *Provider }

// Instant answers one query: the injected error for "query" if any, else
// the scripted series.
func (d providerDriver) Instant(ctx context.Context, q metrics.Query) ([]metrics.Series, error) {
	p := d.p
	p.mu.Lock()
	delay := p.delay[q.Text]
	p.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	w := d.weight()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.begin(ctx, "query"); err != nil {
		return nil, err
	}
	r, err := d.at(q.Text, q.End, q.Window, w)
	if err != nil {
		return nil, err
	}
	return []metrics.Series{{Result: r}}, nil
}

// Range answers the points of q in one call: the injected error for
// "range" if any, else the scripted series at each point.
func (d providerDriver) Range(ctx context.Context, q metrics.RangeQuery) ([]metrics.Series, error) {
	p := d.p
	w := d.weight()
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.begin(ctx, "range"); err != nil {
		return nil, err
	}
	var pts []metrics.Point
	for _, t := range q.Times() {
		r, err := d.at(q.Text, t, q.Window, w)
		switch {
		case errors.Is(err, metrics.ErrNoData):
			continue
		case err != nil:
			return nil, err
		}
		pts = append(pts, metrics.Point{Time: t, Value: r.Value, Count: r.Count})
	}
	if len(pts) == 0 {
		return nil, fmt.Errorf("fake provider: %q: %w", q.Text, metrics.ErrNoData)
	}
	return []metrics.Series{{Points: pts}}, nil
}

// weight is the canary's weight in force, 0 without a WeightSource. It
// is read before p.mu is taken.
func (d providerDriver) weight() int {
	if d.p.weights == nil {
		return 0
	}
	return d.p.weights.CanaryWeight()
}

// at evaluates the series scripted for text over the window ending at
// end, at canary weight w; p.mu must be held.
func (d providerDriver) at(text string, end time.Time, window time.Duration, w int) (metrics.Result, error) {
	s, ok := d.p.series[text]
	if !ok {
		return metrics.Result{}, &Error{Verb: "query", Msg: fmt.Sprintf("%v: %q", errNoScript, text)}
	}
	v, n, ok := s(Point{End: end, Window: window, CanaryWeight: w})
	if !ok {
		return metrics.Result{}, fmt.Errorf("fake provider: %q: %w", text, metrics.ErrNoData)
	}
	return metrics.Result{Value: v, Count: n}, nil
}

// ErrorCode has nothing to classify: injected errors keep their own codes.
func (providerDriver) ErrorCode(error) canary.ErrorCode { return canary.Unknown }
