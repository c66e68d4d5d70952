package metrics

import (
	"context"
	"time"

	"github.com/meshcanary/canary"
)

// Driver is what a metric back end adapter implements: sending one query
// and translating the answer. Everything the adapters share — validating
// the query before any I/O, refusing a done context, the rate-limit
// budget, turning an empty answer, NaN or ±Inf into [ErrNoData], refusing
// several series with [ErrSeveralSeries], giving every error a
// [canary.Code] — is done once, by the [Source] over the Driver, in the
// manner of gocloud.dev's driver.Bucket under blob.Bucket (and of
// traffic.Driver under traffic.Router).
//
// A Driver is used through [NewSource], never directly. It must be safe
// for concurrent use and honour ctx's cancellation and deadline.
type Driver interface {
	// Instant returns the series the back end answers for q.Text over the
	// window (q.End-q.Window, q.End], each with its value (and, where the
	// back end has them, its Samples and Count) in Series.Result. q has
	// been validated. An empty answer is no series (or an error wrapping
	// [ErrNoData]); the Source refuses several series and reads NaN and
	// ±Inf as no data, so the driver passes them on as the back end gave
	// them. The Source adds nothing to the text of the driver's errors
	// (but a sentinel where one applies), so they name the back end and
	// the query themselves.
	Instant(ctx context.Context, q Query) ([]Series, error)
	// ErrorCode classifies an error returned by Instant or Range,
	// typically from the back end's native error (an HTTP status, an API
	// error type). Returning [canary.Unknown] lets the Source fall back to
	// [canary.Code].
	ErrorCode(error) canary.ErrorCode
}

// Ranger is implemented by a Driver whose back end evaluates a query at
// many instants in one request (Prometheus's query_range, a time series
// API). Range returns the series the back end answers, each with its
// points in Series.Points, oldest first: a point at q.Start, q.Start+Step,
// … up to q.End, each the value over the Window ending at it; a point the
// back end has no value for is left out. q has been validated. A Ranger
// that cannot answer q in one request (a back end whose buckets are one
// step wide, asked for a window that is not the step) returns an error
// wrapping [errors.ErrUnsupported] before any I/O, and the Source sends
// one Instant query per point instead, as it does for a Driver that does
// not implement Ranger.
type Ranger interface {
	Range(ctx context.Context, q RangeQuery) ([]Series, error)
}

// Series is one series of a back end's answer: one label set (a
// Prometheus series, a Datadog tag group, a New Relic facet).
type Series struct {
	// Labels names the series as the back end shows it, for example
	// {pod="cart-0"}; it is shown in the error of several series. Empty
	// for an answer without labels (a scalar).
	Labels string
	// Result is the value over the window of an Instant query.
	Result Result
	// Points are the values of a Range query, oldest first.
	Points []Point
}

// Point is one value of a range query: the value of the query over the
// window ending at Time.
type Point struct {
	Time  time.Time
	Value float64
	// Count is how many events (usually requests) Value rests on, where
	// the back end knows; 0 when it does not.
	Count int64
}

// RetryDelayer is implemented by a driver's error for an answer refused
// by the back end's rate limit that says how long the back end asked the
// client to wait (Retry-After, X-RateLimit-Reset…). The Source finds it
// with errors.As in an error whose code is [canary.RateLimited]; without
// one, or when RetryDelay is zero (the back end did not say), it backs
// off by itself, from one second doubling up to 64 s (see [Config]).
type RetryDelayer interface {
	RetryDelay() time.Duration
}

// MaxPoints is the most points a range query may ask for: Prometheus's
// limit on the points of one series of a range query (11,000), which the
// Source applies to every back end so that no query asks for an unbounded
// number of points.
const MaxPoints = 11000

// RangeQuery asks for the value of Text over a Window ending at each of
// Start, Start+Step, … up to End.
type RangeQuery struct {
	// Text is the query in the back end's own language, normally rendered
	// by a Template whose {{window}} is Window.
	Text string
	// Window is the length of each point's window; it must be positive.
	Window time.Duration
	// Start and End are the first and the last instant asked for; both
	// must be set and End must not be before Start.
	Start, End time.Time
	// Step is the distance between two points; it must be positive, and
	// the range must hold at most MaxPoints points.
	Step time.Duration
}

// Validate reports the first bad field of q.
func (q RangeQuery) Validate() error {
	switch {
	case q.Text == "":
		return canary.Invalid("RangeQuery.Text", q.Text, "must not be empty")
	case q.Window <= 0:
		return canary.Invalid("RangeQuery.Window", q.Window, "must be positive")
	case q.Step <= 0:
		return canary.Invalid("RangeQuery.Step", q.Step, "must be positive")
	case q.Start.IsZero():
		return canary.Invalid("RangeQuery.Start", q.Start, "must be set")
	case q.End.IsZero():
		return canary.Invalid("RangeQuery.End", q.End, "must be set")
	case q.End.Before(q.Start):
		return canary.Invalid("RangeQuery.End", q.End, "must not be before RangeQuery.Start (%v)", q.Start)
	case q.End.Sub(q.Start)/q.Step >= MaxPoints:
		return canary.Invalid("RangeQuery.Step", q.Step, "gives more than %d points from %v to %v", MaxPoints, q.Start, q.End)
	}
	return nil
}

// Times returns the instants q asks for: Start, Start+Step, … up to End.
func (q RangeQuery) Times() []time.Time {
	if q.Step <= 0 || q.End.Before(q.Start) {
		return nil
	}
	n := int(q.End.Sub(q.Start)/q.Step) + 1
	out := make([]time.Time, 0, min(n, MaxPoints))
	for t := q.Start; !t.After(q.End) && len(out) < MaxPoints; t = t.Add(q.Step) {
		out = append(out, t)
	}
	return out
}
