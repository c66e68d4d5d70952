package metrics

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/meshcanary/canary"
)

// ErrNoData is returned (wrapped) by a Provider whose back end had no value
// for the query: an empty result, NaN or an infinity. It is distinct from a
// value of zero. Its code is [canary.NotFound].
var ErrNoData = canary.NewError(canary.NotFound, "metrics: no data")

// Sentinel errors every Provider wraps where they apply, for errors.Is;
// [canary.Code] gives their codes. The back end's native error stays
// reachable with errors.As.
var (
	// ErrSeveralSeries: the query answered several series (label sets,
	// tag groups, facet rows) where one value was expected; aggregate in
	// the query. Its code is [canary.InvalidArgument].
	ErrSeveralSeries = canary.NewError(canary.InvalidArgument, "metrics: several series where one value was expected")
	// ErrUnauthorized: the back end refused the credentials (HTTP 401 or
	// 403, or its own equivalent). Its code is [canary.Unauthorized].
	ErrUnauthorized = canary.NewError(canary.Unauthorized, "metrics: unauthorized")
	// ErrRateLimited: the back end answered 429 (or its equivalent) and
	// the provider gave up waiting. Its code is [canary.RateLimited].
	ErrRateLimited = canary.NewError(canary.RateLimited, "metrics: rate limited")
)

// Query is one question to a back end: the value of Text over the window
// (End-Window, End].
type Query struct {
	// Text is the query in the back end's own language (PromQL, NRQL, a
	// Datadog query…), normally rendered by a Template.
	Text string
	// Window is the length of the window; it must be positive.
	Window time.Duration
	// End is the instant the window ends at; it must not be zero.
	End time.Time
}

// Validate reports the first bad field of q.
func (q Query) Validate() error {
	switch {
	case q.Text == "":
		return canary.Invalid("Query.Text", q.Text, "must not be empty")
	case q.Window <= 0:
		return canary.Invalid("Query.Window", q.Window, "must be positive")
	case q.End.IsZero():
		return canary.Invalid("Query.End", q.End, "must be set")
	}
	return nil
}

// Start is the instant the window begins at (exclusive).
func (q Query) Start() time.Time { return q.End.Add(-q.Window) }

// Result is a Provider's answer.
type Result struct {
	// Value is the answer; never NaN or ±Inf.
	Value float64
	// Samples are the points behind Value, oldest first, where the back end
	// has them (a range query's points, per-request latencies…); nil
	// otherwise. They contain no NaN or ±Inf.
	Samples []float64
	// Count is how many events (usually requests) Value rests on, where the
	// back end knows; 0 when it does not.
	Count int64
}

// Check returns an error wrapping ErrNoData when r.Value is NaN or ±Inf,
// and drops NaN and ±Inf samples (into a new slice; r.Samples is kept as
// it is when it holds none). A [Source] calls it on what its driver
// decoded.
func (r Result) Check() (Result, error) {
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		return Result{}, fmt.Errorf("%w: value is %v", ErrNoData, r.Value)
	}
	if r.Count < 0 {
		return Result{}, canary.Invalid("Result.Count", r.Count, "must not be negative")
	}
	if len(r.Samples) == 0 {
		r.Samples = nil
		return r, nil
	}
	for i, s := range r.Samples {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			// Copy the finite ones: r.Samples is the caller's.
			clean := append(make([]float64, 0, len(r.Samples)-1), r.Samples[:i]...)
			for _, s := range r.Samples[i+1:] {
				if !math.IsNaN(s) && !math.IsInf(s, 0) {
					clean = append(clean, s)
				}
			}
			if len(clean) == 0 {
				clean = nil
			}
			r.Samples = clean
			return r, nil
		}
	}
	return r, nil
}

// Provider answers queries. Implementations are safe for concurrent use and
// honour ctx's cancellation and deadline.
type Provider interface {
	// Query returns the value of q. It returns an error wrapping ErrNoData
	// when the back end has no value, and a *[canary.FieldError] (before any
	// request is sent) when q is invalid. Other errors keep the back end's
	// native error reachable with errors.As.
	Query(ctx context.Context, q Query) (Result, error)
}

// ProviderFunc adapts a function to the Provider interface.
type ProviderFunc func(ctx context.Context, q Query) (Result, error)

// Query calls f(ctx, q).
func (f ProviderFunc) Query(ctx context.Context, q Query) (Result, error) { return f(ctx, q) }
