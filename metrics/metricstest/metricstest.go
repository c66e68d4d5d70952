package metricstest

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// Fixture is one driver, through the portable [metrics.Source], with
// queries whose answers the back end is known to give.
type Fixture struct {
	// Source is the driver under test, built with [metrics.NewSource] (or
	// the adapter's constructor, which does). Set Source or Provider.
	Source *metrics.Source
	// Provider is a [metrics.Provider] that is not a driver, for the tests
	// of the Provider contract alone; the range tests skip. Ignored when
	// Source is set.
	Provider metrics.Provider
	// Value is a query whose answer is Want within Tolerance (absolute).
	Value     metrics.Query
	Want      float64
	Tolerance float64
	// Empty is a query the back end answers with an empty result.
	Empty metrics.Query
	// NaN is a query the back end answers with NaN (for example 0/0). A
	// zero Query skips that test (for back ends that cannot produce NaN).
	NaN metrics.Query
	// Several is a query the back end answers with several series. A
	// zero Query skips that test (for back ends with one series a query).
	Several metrics.Query
	// Failing is a query the back end answers with an error, and Target a
	// pointer for errors.As that the error must match (the adapter's
	// native error type). A zero Failing skips that test.
	Failing metrics.Query
	Target  any
	// Slow is a query the back end answers only after a long delay, to
	// check that a deadline is honoured. A zero Slow skips that test.
	Slow metrics.Query
	// Range is a range query whose every point is Want within Tolerance;
	// the empty range test asks Empty's text over a range as long, ending
	// at Empty.End. A zero Range skips the range tests.
	Range metrics.RangeQuery
}

// provider is what the Provider tests query.
func (f Fixture) provider(t *testing.T) metrics.Provider {
	t.Helper()
	switch {
	case f.Source != nil:
		return f.Source
	case f.Provider != nil:
		return f.Provider
	}
	t.Fatal("metricstest: Fixture.Source and Fixture.Provider are both nil")
	return nil
}

// ranged returns the fixture's Source, or skips t when the fixture has no
// Source or no Range.
func (f Fixture) ranged(t *testing.T) *metrics.Source {
	t.Helper()
	if f.Source == nil {
		t.Skip("Fixture.Source is nil: not a driver")
	}
	if f.Range == (metrics.RangeQuery{}) {
		t.Skip("Fixture.Range is zero")
	}
	return f.Source
}

// Run runs every test of the suite, each as a subtest named after its
// function; newFixture is called once per subtest.
func Run(t *testing.T, newFixture func(ctx context.Context, t *testing.T) Fixture) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, func(context.Context, *testing.T) Fixture)
	}{
		{"KnownValue", TestKnownValue},
		{"EmptyIsNoData", TestEmptyIsNoData},
		{"NaNIsNoData", TestNaNIsNoData},
		{"SeveralSeries", TestSeveralSeries},
		{"InvalidQueryRefused", TestInvalidQueryRefused},
		{"CancelledContext", TestCancelledContext},
		{"Deadline", TestDeadline},
		{"NativeErrorReachable", TestNativeErrorReachable},
		{"RangeKnownValue", TestRangeKnownValue},
		{"RangeEmptyIsNoData", TestRangeEmptyIsNoData},
		{"RangeInvalidRefused", TestRangeInvalidRefused},
		{"RangeCancelledContext", TestRangeCancelledContext},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newFixture) })
	}
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestKnownValue: Value answers Want within Tolerance, twice alike, with
// no NaN or ±Inf in the value or the samples and no negative count.
func TestKnownValue(t *testing.T, newFixture func(context.Context, *testing.T) Fixture) {
	c := testCtx(t)
	f := newFixture(c, t)
	p := f.provider(t)
	r, err := p.Query(c, f.Value)
	if err != nil {
		t.Fatalf("Query(%q): %v", f.Value.Text, err)
	}
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		t.Fatalf("Query returned %v; NaN and ±Inf must never be values", r.Value)
	}
	if math.Abs(r.Value-f.Want) > f.Tolerance {
		t.Errorf("Query(%q) = %v, want %v ± %v", f.Value.Text, r.Value, f.Want, f.Tolerance)
	}
	for i, s := range r.Samples {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			t.Errorf("Samples[%d] = %v; NaN and ±Inf must never be samples", i, s)
		}
	}
	if r.Count < 0 {
		t.Errorf("Count = %d, must not be negative", r.Count)
	}
	again, err := p.Query(c, f.Value)
	if err != nil {
		t.Fatalf("second Query: %v", err)
	}
	if math.Abs(again.Value-r.Value) > f.Tolerance {
		t.Errorf("the same query over the same window gave %v then %v", r.Value, again.Value)
	}
}

// TestEmptyIsNoData: an empty result is [metrics.ErrNoData], never zero.
func TestEmptyIsNoData(t *testing.T, newFixture func(context.Context, *testing.T) Fixture) {
	c := testCtx(t)
	f := newFixture(c, t)
	r, err := f.provider(t).Query(c, f.Empty)
	if !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("Query of an empty result = (%+v, %v), want metrics.ErrNoData", r, err)
	}
}

// TestNaNIsNoData: a NaN result is [metrics.ErrNoData]. Skipped without
// Fixture.NaN.
func TestNaNIsNoData(t *testing.T, newFixture func(context.Context, *testing.T) Fixture) {
	c := testCtx(t)
	f := newFixture(c, t)
	if f.NaN == (metrics.Query{}) {
		t.Skip("the back end cannot produce NaN")
	}
	r, err := f.provider(t).Query(c, f.NaN)
	if !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("Query of a NaN result = (%+v, %v), want metrics.ErrNoData", r, err)
	}
}

// TestSeveralSeries: several series are [metrics.ErrSeveralSeries] with
// the code [canary.InvalidArgument], never one of them. Skipped without
// Fixture.Several.
func TestSeveralSeries(t *testing.T, newFixture func(context.Context, *testing.T) Fixture) {
	c := testCtx(t)
	f := newFixture(c, t)
	if f.Several == (metrics.Query{}) {
		t.Skip("no query of several series in the fixture")
	}
	r, err := f.provider(t).Query(c, f.Several)
	if !errors.Is(err, metrics.ErrSeveralSeries) || canary.Code(err) != canary.InvalidArgument {
		t.Errorf("Query of several series = (%+v, %v), want metrics.ErrSeveralSeries", r, err)
	}
}

// TestInvalidQueryRefused: an invalid query is a *[canary.FieldError].
func TestInvalidQueryRefused(t *testing.T, newFixture func(context.Context, *testing.T) Fixture) {
	c := testCtx(t)
	f := newFixture(c, t)
	p := f.provider(t)
	bad := []metrics.Query{
		{Text: "", Window: f.Value.Window, End: f.Value.End},
		{Text: f.Value.Text, Window: 0, End: f.Value.End},
		{Text: f.Value.Text, Window: -time.Minute, End: f.Value.End},
		{Text: f.Value.Text, Window: f.Value.Window},
	}
	for _, q := range bad {
		_, err := p.Query(c, q)
		var fe *canary.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("Query(%+v) = %v, want a *canary.FieldError", q, err)
		}
	}
}

// TestCancelledContext: a cancelled context is context.Canceled.
func TestCancelledContext(t *testing.T, newFixture func(context.Context, *testing.T) Fixture) {
	c := testCtx(t)
	f := newFixture(c, t)
	cancelled, cancel := context.WithCancel(c)
	cancel()
	_, err := f.provider(t).Query(cancelled, f.Value)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Query with a cancelled context = %v, want context.Canceled", err)
	}
}

// TestDeadline: a query past its deadline returns (soon) an error matching
// context.DeadlineExceeded. Skipped without Fixture.Slow.
func TestDeadline(t *testing.T, newFixture func(context.Context, *testing.T) Fixture) {
	c := testCtx(t)
	f := newFixture(c, t)
	if f.Slow == (metrics.Query{}) {
		t.Skip("no slow query in the fixture")
	}
	short, cancel := context.WithTimeout(c, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.provider(t).Query(short, f.Slow)
	if err == nil {
		t.Fatal("a query past its deadline returned no error")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Query past its deadline = %v, want context.DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Errorf("Query returned %v after its deadline", waited)
	}
}

// TestNativeErrorReachable: a back-end error is not no data, has a code
// other than OK, and reaches the adapter's native error with errors.As.
// Skipped without Fixture.Failing.
func TestNativeErrorReachable(t *testing.T, newFixture func(context.Context, *testing.T) Fixture) {
	c := testCtx(t)
	f := newFixture(c, t)
	if f.Failing == (metrics.Query{}) {
		t.Skip("no failing query in the fixture")
	}
	_, err := f.provider(t).Query(c, f.Failing)
	if err == nil {
		t.Fatal("a failing query returned no error")
	}
	if errors.Is(err, metrics.ErrNoData) {
		t.Errorf("a back-end error must not read as no data: %v", err)
	}
	if !errors.As(err, f.Target) {
		t.Errorf("errors.As(%v, %T) = false; the native error must stay reachable", err, f.Target)
	}
}

// TestRangeKnownValue: every point of Fixture.Range is Want within
// Tolerance, finite, inside [Start, End] and later than the one before.
// Skipped without Fixture.Source or Fixture.Range.
func TestRangeKnownValue(t *testing.T, newFixture func(context.Context, *testing.T) Fixture) {
	c := testCtx(t)
	f := newFixture(c, t)
	s := f.ranged(t)
	q := f.Range
	pts, err := s.Range(c, q)
	if err != nil {
		t.Fatalf("Range(%q): %v", q.Text, err)
	}
	if len(pts) == 0 {
		t.Fatal("Range returned no point and no error")
	}
	for i, p := range pts {
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			t.Errorf("point %d = %v; NaN and ±Inf must never be values", i, p.Value)
		}
		if math.Abs(p.Value-f.Want) > f.Tolerance {
			t.Errorf("point %d at %v = %v, want %v ± %v", i, p.Time, p.Value, f.Want, f.Tolerance)
		}
		if p.Time.Before(q.Start) || p.Time.After(q.End) {
			t.Errorf("point %d at %v lies outside [%v, %v]", i, p.Time, q.Start, q.End)
		}
		if i > 0 && !p.Time.After(pts[i-1].Time) {
			t.Errorf("point %d at %v is not after point %d at %v", i, p.Time, i-1, pts[i-1].Time)
		}
		if p.Count < 0 {
			t.Errorf("point %d: Count = %d, must not be negative", i, p.Count)
		}
	}
}

// TestRangeEmptyIsNoData: Empty's text over a range with no data is
// [metrics.ErrNoData]. Skipped without Fixture.Source or Fixture.Range.
func TestRangeEmptyIsNoData(t *testing.T, newFixture func(context.Context, *testing.T) Fixture) {
	c := testCtx(t)
	f := newFixture(c, t)
	s := f.ranged(t)
	q := metrics.RangeQuery{Text: f.Empty.Text, Window: f.Empty.Window, Step: f.Range.Step,
		Start: f.Empty.End.Add(-f.Range.End.Sub(f.Range.Start)), End: f.Empty.End}
	pts, err := s.Range(c, q)
	if !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("Range of an empty result = (%v, %v), want metrics.ErrNoData", pts, err)
	}
}

// TestRangeInvalidRefused: an invalid range query is a
// *[canary.FieldError]. Skipped without Fixture.Source or Fixture.Range.
func TestRangeInvalidRefused(t *testing.T, newFixture func(context.Context, *testing.T) Fixture) {
	c := testCtx(t)
	f := newFixture(c, t)
	s := f.ranged(t)
	q := f.Range
	with := func(change func(*metrics.RangeQuery)) metrics.RangeQuery { r := q; change(&r); return r }
	for _, bad := range []metrics.RangeQuery{
		with(func(r *metrics.RangeQuery) { r.Text = "" }),
		with(func(r *metrics.RangeQuery) { r.Window = 0 }),
		with(func(r *metrics.RangeQuery) { r.Step = 0 }),
		with(func(r *metrics.RangeQuery) { r.Start = time.Time{} }),
		with(func(r *metrics.RangeQuery) { r.End = r.Start.Add(-time.Second) }),
		with(func(r *metrics.RangeQuery) {
			r.Step = r.End.Sub(r.Start)/metrics.MaxPoints + 1
			r.Start = r.End.Add(-r.Step * metrics.MaxPoints)
		}),
	} {
		_, err := s.Range(c, bad)
		var fe *canary.FieldError
		if !errors.As(err, &fe) {
			t.Errorf("Range(%+v) = %v, want a *canary.FieldError", bad, err)
		}
	}
}

// TestRangeCancelledContext: a cancelled context is context.Canceled.
// Skipped without Fixture.Source or Fixture.Range.
func TestRangeCancelledContext(t *testing.T, newFixture func(context.Context, *testing.T) Fixture) {
	c := testCtx(t)
	f := newFixture(c, t)
	s := f.ranged(t)
	cancelled, cancel := context.WithCancel(c)
	cancel()
	if _, err := s.Range(cancelled, f.Range); !errors.Is(err, context.Canceled) {
		t.Errorf("Range with a cancelled context = %v, want context.Canceled", err)
	}
}
