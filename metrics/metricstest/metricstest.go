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

// Fixture is one Provider with queries whose answers the back end is known
// to give.
type Fixture struct {
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
	// Failing is a query the back end answers with an error, and Target a
	// pointer for errors.As that the error must match (the adapter's
	// native error type). A zero Failing skips that test.
	Failing metrics.Query
	Target  any
	// Slow is a query the back end answers only after a long delay, to
	// check that a deadline is honoured. A zero Slow skips that test.
	Slow metrics.Query
}

// Run runs the conformance suite; newFixture is called once per subtest.
func Run(t *testing.T, newFixture func(ctx context.Context, t *testing.T) Fixture) {
	t.Helper()
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		return c
	}
	t.Run("KnownValue", func(t *testing.T) {
		c := ctx(t)
		f := newFixture(c, t)
		r, err := f.Provider.Query(c, f.Value)
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
		again, err := f.Provider.Query(c, f.Value)
		if err != nil {
			t.Fatalf("second Query: %v", err)
		}
		if math.Abs(again.Value-r.Value) > f.Tolerance {
			t.Errorf("the same query over the same window gave %v then %v", r.Value, again.Value)
		}
	})
	t.Run("EmptyIsNoData", func(t *testing.T) {
		c := ctx(t)
		f := newFixture(c, t)
		r, err := f.Provider.Query(c, f.Empty)
		if !errors.Is(err, metrics.ErrNoData) {
			t.Errorf("Query of an empty result = (%+v, %v), want metrics.ErrNoData", r, err)
		}
	})
	t.Run("NaNIsNoData", func(t *testing.T) {
		c := ctx(t)
		f := newFixture(c, t)
		if f.NaN == (metrics.Query{}) {
			t.Skip("the back end cannot produce NaN")
		}
		r, err := f.Provider.Query(c, f.NaN)
		if !errors.Is(err, metrics.ErrNoData) {
			t.Errorf("Query of a NaN result = (%+v, %v), want metrics.ErrNoData", r, err)
		}
	})
	t.Run("InvalidQueryRefused", func(t *testing.T) {
		c := ctx(t)
		f := newFixture(c, t)
		bad := []metrics.Query{
			{Text: "", Window: f.Value.Window, End: f.Value.End},
			{Text: f.Value.Text, Window: 0, End: f.Value.End},
			{Text: f.Value.Text, Window: -time.Minute, End: f.Value.End},
			{Text: f.Value.Text, Window: f.Value.Window},
		}
		for _, q := range bad {
			_, err := f.Provider.Query(c, q)
			var fe *canary.FieldError
			if !errors.As(err, &fe) {
				t.Errorf("Query(%+v) = %v, want a *canary.FieldError", q, err)
			}
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		c := ctx(t)
		f := newFixture(c, t)
		cancelled, cancel := context.WithCancel(c)
		cancel()
		_, err := f.Provider.Query(cancelled, f.Value)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Query with a cancelled context = %v, want context.Canceled", err)
		}
	})
	t.Run("Deadline", func(t *testing.T) {
		c := ctx(t)
		f := newFixture(c, t)
		if f.Slow == (metrics.Query{}) {
			t.Skip("no slow query in the fixture")
		}
		short, cancel := context.WithTimeout(c, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := f.Provider.Query(short, f.Slow)
		if err == nil {
			t.Fatal("a query past its deadline returned no error")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Query past its deadline = %v, want context.DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited > 10*time.Second {
			t.Errorf("Query returned %v after its deadline", waited)
		}
	})
	t.Run("NativeErrorReachable", func(t *testing.T) {
		c := ctx(t)
		f := newFixture(c, t)
		if f.Failing == (metrics.Query{}) {
			t.Skip("no failing query in the fixture")
		}
		_, err := f.Provider.Query(c, f.Failing)
		if err == nil {
			t.Fatal("a failing query returned no error")
		}
		if errors.Is(err, metrics.ErrNoData) {
			t.Errorf("a back-end error must not read as no data: %v", err)
		}
		if !errors.As(err, f.Target) {
			t.Errorf("errors.As(%v, %T) = false; the native error must stay reachable", err, f.Target)
		}
	})
}
