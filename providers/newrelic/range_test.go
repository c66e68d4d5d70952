package newrelic_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/newrelic"
)

// bucket is one TIMESERIES row: [begin, begin+step) in seconds.
func bucket(begin time.Time, step time.Duration, v any) map[string]any {
	return map[string]any{
		"beginTimeSeconds": float64(begin.Unix()),
		"endTimeSeconds":   float64(begin.Add(step).Unix()),
		"value":            v,
	}
}

// A range query whose window is its step is one TIMESERIES query over
// (Start-Window, End]; each bucket is a point at its end, and a null
// bucket is left out.
func TestRangeTimeseries(t *testing.T) {
	s := newServer(t)
	start := time.Date(2026, 3, 14, 9, 1, 0, 0, time.UTC)
	end := start.Add(3 * time.Minute)
	s.setWindow(end, 4*time.Minute)
	s.anyWindow = true
	text := "SELECT percentage(count(*), WHERE error IS true) AS 'value' FROM Transaction"
	from := start.Add(-time.Minute)
	s.handle(text, rowsAnswer(
		bucket(from, time.Minute, 1.0),
		bucket(from.Add(time.Minute), time.Minute, nil),
		bucket(from.Add(2*time.Minute), time.Minute, 3.0),
		bucket(from.Add(3*time.Minute), time.Minute, 4.0),
	))
	p := newProvider(t, s, nil)
	pts, err := p.Range(context.Background(), metrics.RangeQuery{Text: text, Window: time.Minute, Step: time.Minute, Start: start, End: end})
	if err != nil {
		t.Fatal(err)
	}
	want := []metrics.Point{{Time: start, Value: 1}, {Time: start.Add(2 * time.Minute), Value: 3}, {Time: end, Value: 4}}
	if fmt.Sprint(pts) != fmt.Sprint(want) {
		t.Errorf("Range = %v, want %v", pts, want)
	}
	if len(s.windows) != 1 || s.windows[0] != (window{from.UnixMilli(), end.UnixMilli(), "60"}) {
		t.Errorf("requests %v, want one TIMESERIES 60 seconds query SINCE %d UNTIL %d", s.windows, from.UnixMilli(), end.UnixMilli())
	}
}

// A range query whose window is not its step is one query per point, each
// for exactly its own window.
func TestRangeQueryPerPoint(t *testing.T) {
	s := newServer(t)
	s.anyWindow = true
	start := time.Date(2026, 3, 14, 9, 5, 0, 0, time.UTC)
	s.handle("SELECT count(*) FROM Transaction", rowsAnswer(map[string]any{"count": 7.0}))
	p := newProvider(t, s, nil)
	pts, err := p.Range(context.Background(), metrics.RangeQuery{Text: "SELECT count(*) FROM Transaction", Window: 5 * time.Minute, Step: time.Minute, Start: start, End: start.Add(2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 3 || len(s.windows) != 3 {
		t.Fatalf("Range = %v after requests %v, want 3 points from 3 queries", pts, s.windows)
	}
	for i, w := range s.windows {
		at := start.Add(time.Duration(i) * time.Minute)
		if w != (window{at.Add(-5 * time.Minute).UnixMilli(), at.UnixMilli(), ""}) || !pts[i].Time.Equal(at) || pts[i].Value != 7 {
			t.Errorf("query %d: %v, point %v; want the 5 min window ending at %v", i, w, pts[i], at)
		}
	}
	// The Source is the Provider's: one TIMESERIES query cannot carry
	// another window (errors.ErrUnsupported, before any request), and the
	// Source falls back to one query per point.
	again, err := p.Source().Range(context.Background(), metrics.RangeQuery{Text: "SELECT count(*) FROM Transaction", Window: 5 * time.Minute, Step: time.Minute, Start: start, End: start.Add(2 * time.Minute)})
	if err != nil || fmt.Sprint(again) != fmt.Sprint(pts) || len(s.windows) != 6 {
		t.Errorf("Source().Range with Window ≠ Step = (%v, %v) after %d requests, want %v after 3", again, err, len(s.windows)-3, pts)
	}
}

func TestRangeRefusals(t *testing.T) {
	s := newServer(t)
	s.anyWindow = true
	start := time.Date(2026, 3, 14, 9, 1, 0, 0, time.UTC)
	s.handle("empty", rowsAnswer())
	s.handle("facets", rowsAnswer(
		map[string]any{"facet": "a", "beginTimeSeconds": float64(start.Add(-time.Minute).Unix()), "endTimeSeconds": float64(start.Unix()), "value": 1.0},
		map[string]any{"facet": "b", "beginTimeSeconds": float64(start.Add(-time.Minute).Unix()), "endTimeSeconds": float64(start.Unix()), "value": 2.0},
	))
	s.handle("nulls", rowsAnswer(bucket(start.Add(-time.Minute), time.Minute, nil)))
	s.handle("limited", func(t *testing.T, w http.ResponseWriter, _ *http.Request, n int) {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, gqlErrors("Too many requests"))
	})
	p := newProvider(t, s, func(c *newrelic.Config) { c.MaxRetries = -1 })
	rq := func(text string) metrics.RangeQuery {
		return metrics.RangeQuery{Text: text, Window: time.Minute, Step: time.Minute, Start: start, End: start.Add(time.Minute)}
	}
	for _, c := range []struct {
		text string
		want error
	}{{"empty", metrics.ErrNoData}, {"nulls", metrics.ErrNoData}, {"facets", metrics.ErrSeveralSeries}, {"limited", metrics.ErrRateLimited}} {
		if _, err := p.Range(context.Background(), rq(c.text)); !errors.Is(err, c.want) {
			t.Errorf("%s: Range = %v, want %v", c.text, err, c.want)
		}
	}
	before := len(s.windows)
	for _, bad := range []metrics.RangeQuery{
		{Text: "x SINCE 1 hour ago", Window: time.Minute, Step: time.Minute, Start: start, End: start},
		{Text: "x", Window: 1500 * time.Millisecond, Step: 1500 * time.Millisecond, Start: start, End: start},
		{Text: "x", Window: time.Second, Step: time.Second, Start: start, End: start.Add(time.Hour)},
	} {
		var fe *canary.FieldError
		if _, err := p.Range(context.Background(), bad); !errors.As(err, &fe) {
			t.Errorf("Range(%+v) = %v, want a *canary.FieldError", bad, err)
		}
	}
	if len(s.windows) != before {
		t.Errorf("refused range queries sent %d requests", len(s.windows)-before)
	}
}
