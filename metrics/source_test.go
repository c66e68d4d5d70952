package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/metrics/metricstest"
)

// scripted is a Driver whose answers the test sets: series by query text,
// then errs, one per call, before them.
type scripted struct {
	mu     sync.Mutex
	calls  int
	errs   []error
	series map[string][]metrics.Series
	code   canary.ErrorCode
	ranges int
}

func (d *scripted) Instant(ctx context.Context, q metrics.Query) ([]metrics.Series, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	if len(d.errs) > 0 {
		err := d.errs[0]
		d.errs = d.errs[1:]
		if err != nil {
			return nil, err
		}
	}
	return d.series[q.Text], nil
}

func (d *scripted) ErrorCode(error) canary.ErrorCode { return d.code }

// ranging adds a native Range to scripted.
type ranging struct{ *scripted }

func (d ranging) Range(ctx context.Context, q metrics.RangeQuery) ([]metrics.Series, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ranges++
	return d.series[q.Text], nil
}

// declining is a Ranger whose back end cannot answer any range in one
// request: every Range is errors.ErrUnsupported.
type declining struct{ *scripted }

func (d declining) Range(context.Context, metrics.RangeQuery) ([]metrics.Series, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ranges++
	return nil, fmt.Errorf("one request cannot carry this window: %w", errors.ErrUnsupported)
}

type throttled struct{ wait time.Duration }

func (e *throttled) Error() string               { return fmt.Sprintf("429, wait %v", e.wait) }
func (e *throttled) ErrorCode() canary.ErrorCode { return canary.RateLimited }
func (e *throttled) RetryDelay() time.Duration   { return e.wait }
func one(v float64, count int64) []metrics.Series {
	return []metrics.Series{{Result: metrics.Result{Value: v, Count: count}}}
}
func newScripted(m map[string][]metrics.Series) *scripted { return &scripted{series: m} }

var end = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func TestSourceValidatesBeforeIO(t *testing.T) {
	d := newScripted(map[string][]metrics.Series{"x": one(1, 1)})
	s := metrics.NewSource(d, metrics.Config{Resolution: 10 * time.Second})
	ctx := context.Background()
	for _, c := range []struct {
		q     metrics.Query
		field string
	}{
		{metrics.Query{Window: time.Minute, End: end}, "Query.Text"},
		{metrics.Query{Text: "x", End: end}, "Query.Window"},
		{metrics.Query{Text: "x", Window: time.Minute}, "Query.End"},
		{metrics.Query{Text: "x", Window: 5 * time.Second, End: end}, "Query.Window"},
	} {
		_, err := s.Query(ctx, c.q)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("Query(%+v) = %v, want a FieldError on %s", c.q, err, c.field)
		}
	}
	for _, c := range []struct {
		q     metrics.RangeQuery
		field string
	}{
		{metrics.RangeQuery{Window: time.Minute, Start: end, End: end, Step: time.Minute}, "RangeQuery.Text"},
		{metrics.RangeQuery{Text: "x", Window: time.Minute, Start: end, End: end}, "RangeQuery.Step"},
		{metrics.RangeQuery{Text: "x", Window: time.Minute, End: end, Step: time.Minute}, "RangeQuery.Start"},
		{metrics.RangeQuery{Text: "x", Window: time.Minute, Start: end, End: end.Add(-time.Second), Step: time.Minute}, "RangeQuery.End"},
		{metrics.RangeQuery{Text: "x", Window: time.Minute, Start: end, End: end.Add(metrics.MaxPoints * time.Second), Step: time.Second}, "RangeQuery.Step"},
		{metrics.RangeQuery{Text: "x", Window: time.Second, Start: end, End: end, Step: time.Second}, "RangeQuery.Window"},
	} {
		_, err := s.Range(ctx, c.q)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("Range(%+v) = %v, want a FieldError on %s", c.q, err, c.field)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Query(cancelled, metrics.Query{Text: "x", Window: time.Minute, End: end}); !errors.Is(err, context.Canceled) {
		t.Errorf("Query with a cancelled context = %v, want context.Canceled", err)
	}
	if d.calls != 0 {
		t.Errorf("the driver was called %d times for refused queries", d.calls)
	}
	var zero *metrics.Source
	if _, err := zero.Query(ctx, metrics.Query{Text: "x", Window: time.Minute, End: end}); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("nil Source: %v, want ErrInvalid", err)
	}
	// MaxPoints-1 steps past Start is MaxPoints points: accepted.
	q := metrics.RangeQuery{Text: "x", Window: time.Minute, Start: end, End: end.Add((metrics.MaxPoints - 1) * time.Second), Step: time.Second}
	if err := q.Validate(); err != nil {
		t.Errorf("a range of MaxPoints points: %v", err)
	}
	if n := len(q.Times()); n != metrics.MaxPoints {
		t.Errorf("Times() = %d instants, want %d", n, metrics.MaxPoints)
	}
}

func TestSourceNoDataAndSeveralSeries(t *testing.T) {
	d := newScripted(map[string][]metrics.Series{
		"empty": nil,
		"nan":   one(math.NaN(), 3),
		"inf":   one(math.Inf(-1), 3),
		"ok":    {{Result: metrics.Result{Value: 2, Samples: []float64{1, math.NaN(), 3}, Count: 5}}},
		"seven": make([]metrics.Series, 7),
	})
	for i := range d.series["seven"] {
		d.series["seven"][i].Labels = fmt.Sprintf(`{pod="cart-%d"}`, i)
	}
	s := metrics.NewSource(d, metrics.Config{Name: "test"})
	ctx := context.Background()
	q := func(text string) metrics.Query { return metrics.Query{Text: text, Window: time.Minute, End: end} }
	for _, text := range []string{"empty", "nan", "inf"} {
		r, err := s.Query(ctx, q(text))
		if !errors.Is(err, metrics.ErrNoData) || canary.Code(err) != canary.NotFound {
			t.Errorf("%s: (%+v, %v), want ErrNoData", text, r, err)
		}
	}
	r, err := s.Query(ctx, q("ok"))
	if err != nil || r.Value != 2 || r.Count != 5 || len(r.Samples) != 2 {
		t.Errorf("ok: (%+v, %v), want 2 on 5 with the NaN sample dropped", r, err)
	}
	_, err = s.Query(ctx, q("seven"))
	if !errors.Is(err, metrics.ErrSeveralSeries) || canary.Code(err) != canary.InvalidArgument {
		t.Fatalf("seven series: %v, want ErrSeveralSeries", err)
	}
	for _, want := range []string{`test: "seven" at 2026-12-07T12:00:00Z`, `pod="cart-0"`, `pod="cart-4"`, "7 series", "and 2 more"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "cart-5") {
		t.Errorf("%q lists more than five series", err)
	}
}

// native is a back end's own error type.
type native struct{ status int }

func (e *native) Error() string { return fmt.Sprintf("status %d", e.status) }

func TestSourceClassifies(t *testing.T) {
	ctx := context.Background()
	q := metrics.Query{Text: "x", Window: time.Minute, End: end}
	for _, c := range []struct {
		code     canary.ErrorCode
		sentinel error
	}{
		{canary.Unauthorized, metrics.ErrUnauthorized},
		{canary.Unavailable, nil},
		{canary.Unknown, nil},
	} {
		d := newScripted(nil)
		d.errs, d.code = []error{&native{500}}, c.code
		_, err := metrics.NewSource(d, metrics.Config{MaxRetries: -1}).Query(ctx, q)
		if got := canary.Code(err); got != c.code {
			t.Errorf("driver code %v: canary.Code = %v", c.code, got)
		}
		var n *native
		if !errors.As(err, &n) {
			t.Errorf("driver code %v: the native error is not reachable from %v", c.code, err)
		}
		if c.sentinel != nil && !errors.Is(err, c.sentinel) {
			t.Errorf("driver code %v: %v does not match %v", c.code, err, c.sentinel)
		}
		if err.Error() != "status 500" && c.sentinel == nil {
			t.Errorf("the Source changed the text of a driver's error: %q", err)
		}
	}
	// An error that already has a code keeps it whatever ErrorCode says.
	d := newScripted(nil)
	d.errs, d.code = []error{fmt.Errorf("wrapped: %w", metrics.ErrNoData)}, canary.Unavailable
	if _, err := metrics.NewSource(d, metrics.Config{}).Query(ctx, q); canary.Code(err) != canary.NotFound {
		t.Errorf("a coded error was reclassified: %v (%v)", err, canary.Code(err))
	}
}

func TestSourceRateBudget(t *testing.T) {
	ctx := context.Background()
	q := metrics.Query{Text: "x", Window: time.Minute, End: end}
	record := func(slept *[]time.Duration) func(context.Context, time.Duration) error {
		return func(_ context.Context, d time.Duration) error { *slept = append(*slept, d); return nil }
	}
	t.Run("RetriesAsAsked", func(t *testing.T) {
		d := newScripted(map[string][]metrics.Series{"x": one(4, 1)})
		d.errs = []error{&throttled{7 * time.Second}, &throttled{2 * time.Second}}
		var slept []time.Duration
		r, err := metrics.NewSource(d, metrics.Config{Sleep: record(&slept)}).Query(ctx, q)
		if err != nil || r.Value != 4 {
			t.Fatalf("Query = (%+v, %v), want 4 after two waits", r, err)
		}
		if len(slept) != 2 || slept[0] != 7*time.Second || slept[1] != 2*time.Second || d.calls != 3 {
			t.Errorf("slept %v over %d calls, want [7s 2s] over 3", slept, d.calls)
		}
	})
	t.Run("BacksOffWithoutAdvice", func(t *testing.T) {
		d := newScripted(nil)
		d.code = canary.RateLimited
		d.errs = []error{&native{429}, &native{429}, &native{429}, &native{429}}
		var slept []time.Duration
		_, err := metrics.NewSource(d, metrics.Config{Sleep: record(&slept)}).Query(ctx, q)
		if !errors.Is(err, metrics.ErrRateLimited) || canary.Code(err) != canary.RateLimited {
			t.Fatalf("err = %v, want ErrRateLimited", err)
		}
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
		if fmt.Sprint(slept) != fmt.Sprint(want) || d.calls != metrics.DefaultMaxRetries+1 {
			t.Errorf("slept %v over %d calls, want %v over %d", slept, d.calls, want, metrics.DefaultMaxRetries+1)
		}
	})
	// A driver's error that implements RetryDelayer but whose back end
	// did not say how long to wait (RetryDelay 0) is backed off like one
	// without advice, not retried after a flat second.
	t.Run("BacksOffWhenTheDelayIsZero", func(t *testing.T) {
		d := newScripted(nil)
		d.errs = []error{&throttled{}, &throttled{}, &throttled{}, &throttled{}}
		var slept []time.Duration
		_, err := metrics.NewSource(d, metrics.Config{Sleep: record(&slept)}).Query(ctx, q)
		if !errors.Is(err, metrics.ErrRateLimited) {
			t.Fatalf("err = %v, want ErrRateLimited", err)
		}
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
		if fmt.Sprint(slept) != fmt.Sprint(want) {
			t.Errorf("slept %v, want %v", slept, want)
		}
	})
	t.Run("GivesUp", func(t *testing.T) {
		for _, c := range []struct {
			name     string
			o        metrics.Config
			deadline bool
		}{
			{"NoRetries", metrics.Config{MaxRetries: -1}, false},
			{"WaitTooLong", metrics.Config{MaxWait: 5 * time.Second}, false},
			{"NegativeMaxWait", metrics.Config{MaxWait: -1}, false},
			// The deadline is an hour away by the real clock and 3 s away
			// by the Source's: only the Source's clock decides.
			{"PastDeadline", metrics.Config{Now: func() time.Time { return time.Now().Add(time.Hour - 3*time.Second) }}, true},
		} {
			t.Run(c.name, func(t *testing.T) {
				d := newScripted(map[string][]metrics.Series{"x": one(4, 1)})
				d.errs = []error{&throttled{7 * time.Second}}
				var slept []time.Duration
				c.o.Sleep = record(&slept)
				cx := ctx
				if c.deadline {
					var cancel context.CancelFunc
					cx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Hour))
					defer cancel()
				}
				_, err := metrics.NewSource(d, c.o).Query(cx, q)
				var th *throttled
				if !errors.Is(err, metrics.ErrRateLimited) || !errors.As(err, &th) {
					t.Errorf("err = %v, want ErrRateLimited reaching the driver's error", err)
				}
				if len(slept) != 0 || d.calls != 1 {
					t.Errorf("slept %v over %d calls, want no wait and one call", slept, d.calls)
				}
			})
		}
	})
	t.Run("CancelledWhileWaiting", func(t *testing.T) {
		d := newScripted(nil)
		d.errs = []error{&throttled{time.Second}}
		cx, cancel := context.WithCancel(ctx)
		sleep := func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }
		_, err := metrics.NewSource(d, metrics.Config{Sleep: sleep}).Query(cx, q)
		if !errors.Is(err, context.Canceled) || d.calls != 1 {
			t.Errorf("err = %v after %d calls, want context.Canceled after one", err, d.calls)
		}
	})
}

func TestSourceRange(t *testing.T) {
	ctx := context.Background()
	q := metrics.RangeQuery{Text: "x", Window: time.Minute, Start: end, End: end.Add(4 * time.Minute), Step: time.Minute}
	pts := []metrics.Point{{Time: end, Value: 1}, {Time: end.Add(time.Minute), Value: math.NaN()}, {Time: end.Add(2 * time.Minute), Value: 3, Count: 9}}
	// A Ranger that cannot answer a range's shape in one request says
	// errors.ErrUnsupported, and the Source asks one instant a point.
	t.Run("RangerDeclines", func(t *testing.T) {
		d := declining{newScripted(map[string][]metrics.Series{"x": one(2, 5)})}
		got, err := metrics.NewSource(d, metrics.Config{}).Range(ctx, q)
		if err != nil || len(got) != 5 || got[4].Value != 2 || got[4].Count != 5 || d.ranges != 1 || d.calls != 5 {
			t.Errorf("Range = (%+v, %v) after %d range and %d instant requests, want 5 points from 5 instant queries", got, err, d.ranges, d.calls)
		}
	})
	t.Run("Ranger", func(t *testing.T) {
		d := ranging{newScripted(map[string][]metrics.Series{"x": {{Points: pts}}, "two": {{Labels: "{a}"}, {Labels: "{b}"}}, "none": {{}}})}
		s := metrics.NewSource(d, metrics.Config{})
		got, err := s.Range(ctx, q)
		if err != nil || len(got) != 2 || got[0].Value != 1 || got[1].Value != 3 || got[1].Count != 9 || d.ranges != 1 || d.calls != 0 {
			t.Errorf("Range = (%+v, %v) in %d range and %d instant requests, want two points in one range request", got, err, d.ranges, d.calls)
		}
		q2 := q
		q2.Text = "two"
		if _, err := s.Range(ctx, q2); !errors.Is(err, metrics.ErrSeveralSeries) || !strings.Contains(err.Error(), "{a}, {b}") {
			t.Errorf("two series: %v, want ErrSeveralSeries naming them", err)
		}
		q2.Text = "none"
		if _, err := s.Range(ctx, q2); !errors.Is(err, metrics.ErrNoData) {
			t.Errorf("a series without points: %v, want ErrNoData", err)
		}
	})
	t.Run("Fallback", func(t *testing.T) {
		// One instant query per point; the driver answers by the window's end.
		d := &byEnd{values: map[time.Time]float64{end: 1, end.Add(time.Minute): math.NaN(), end.Add(3 * time.Minute): 4}}
		got, err := metrics.NewSource(d, metrics.Config{}).Range(ctx, q)
		want := []metrics.Point{{Time: end, Value: 1, Count: 1}, {Time: end.Add(3 * time.Minute), Value: 4, Count: 1}}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) || d.calls != 5 {
			t.Errorf("Range = (%v, %v) in %d queries, want %v in 5", got, err, d.calls, want)
		}
		d.values = nil
		if _, err := metrics.NewSource(d, metrics.Config{}).Range(ctx, q); !errors.Is(err, metrics.ErrNoData) {
			t.Errorf("no point at all: %v, want ErrNoData", err)
		}
	})
}

type byEnd struct {
	calls  int
	values map[time.Time]float64
}

func (d *byEnd) Instant(_ context.Context, q metrics.Query) ([]metrics.Series, error) {
	d.calls++
	v, ok := d.values[q.End]
	if !ok {
		return nil, nil
	}
	return one(v, 1), nil
}

func (d *byEnd) ErrorCode(error) canary.ErrorCode { return canary.Unknown }

func TestSourceRender(t *testing.T) {
	s := metrics.NewSource(newScripted(nil), metrics.Config{Name: "prometheus", Dialect: metrics.PromQL})
	nrql := metrics.MustParse(metrics.NRQL, "n", `SELECT count(*) FROM T WHERE v = '{{version}}'`)
	if _, err := s.Render(nrql, metrics.Vars{Version: "v1"}); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("Render of an NRQL template = %v, want ErrInvalid", err)
	}
	prom := metrics.MustParse(metrics.PromQL, "p", `up{version="{{version}}"}`)
	if got, err := s.Render(prom, metrics.Vars{Version: "v1"}); err != nil || got != `up{version="v1"}` {
		t.Errorf("Render = %q, %v", got, err)
	}
}

// TestConformanceOfAScriptedDriver runs the conformance suite over a
// driver with no native range query: the Source's range queries (one
// instant query per point) must pass it too.
func TestConformanceOfAScriptedDriver(t *testing.T) {
	q := func(text string) metrics.Query { return metrics.Query{Text: text, Window: time.Minute, End: end} }
	metricstest.Run(t, func(context.Context, *testing.T) metricstest.Fixture {
		d := newScripted(map[string][]metrics.Series{
			"value":   one(0.015, 1200),
			"empty":   nil,
			"nan":     one(math.NaN(), 0),
			"several": {{Labels: "{a}"}, {Labels: "{b}"}},
		})
		return metricstest.Fixture{
			Source: metrics.NewSource(d, metrics.Config{}),
			Value:  q("value"), Want: 0.015, Tolerance: 1e-12,
			Empty: q("empty"), NaN: q("nan"), Several: q("several"),
			Range: metrics.RangeQuery{Text: "value", Window: time.Minute, Start: end.Add(-5 * time.Minute), End: end, Step: time.Minute},
		}
	})
}
