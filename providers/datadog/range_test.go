package datadog_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/datadog"
)

// A range query whose window is its step is one timeseries request over
// (Start-Window, End] at an interval of Step; each complete bucket is a
// point at its end, and a null bucket is left out.
func TestRangeOneRequest(t *testing.T) {
	s := newServer(t)
	start := time.Date(2026, 3, 14, 9, 1, 0, 0, time.UTC)
	end := start.Add(4 * time.Minute)
	s.setWindow(end, 5*time.Minute) // from 09:00:00 to 09:05:00
	s.handle("sum:requests{service:web}", func(t *testing.T, w http.ResponseWriter, _ *http.Request, kind string, req request, _ int) {
		a := req.Data.Attributes
		if kind != "timeseries" || *a.Interval != time.Minute.Milliseconds() {
			t.Errorf("%s request at interval %v, want timeseries at 60000 ms", kind, a.Interval)
		}
		ts := buckets(a.From, a.To, *a.Interval)
		writeJSON(w, http.StatusOK, timeseriesBody(ts, []*float64{f(1), f(2), nil, f(4), f(5)}))
	})
	p := newProvider(t, s, nil)
	pts, err := p.Range(context.Background(), metrics.RangeQuery{Text: "sum:requests{service:web}", Window: time.Minute, Step: time.Minute, Start: start, End: end})
	if err != nil {
		t.Fatal(err)
	}
	want := []metrics.Point{{Time: start, Value: 1}, {Time: start.Add(time.Minute), Value: 2}, {Time: start.Add(3 * time.Minute), Value: 4}, {Time: end, Value: 5}}
	if len(pts) != len(want) {
		t.Fatalf("Range = %v, want %v", pts, want)
	}
	for i := range want {
		if !pts[i].Time.Equal(want[i].Time) || pts[i].Value != want[i].Value {
			t.Errorf("point %d = %v, want %v", i, pts[i], want[i])
		}
	}
	if n := s.count("sum:requests{service:web}"); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// A range query whose window is not its step is one instant query per
// point, each for exactly its own window.
func TestRangeInstantPerPoint(t *testing.T) {
	s := newServer(t)
	s.anyWindow = true
	start := time.Date(2026, 3, 14, 9, 5, 0, 0, time.UTC)
	s.handle("avg:latency{service:web}", func(t *testing.T, w http.ResponseWriter, _ *http.Request, kind string, req request, _ int) {
		a := req.Data.Attributes
		if kind != "scalar" || a.To-a.From != (5*time.Minute).Milliseconds() {
			t.Errorf("%s request for [%d, %d], want a scalar request for 5 min", kind, a.From, a.To)
		}
		writeJSON(w, http.StatusOK, scalarBody(nil, f(float64(time.UnixMilli(a.To).Minute()))))
	})
	p := newProvider(t, s, nil)
	pts, err := p.Range(context.Background(), metrics.RangeQuery{Text: "avg:latency{service:web}", Window: 5 * time.Minute, Step: time.Minute, Start: start, End: start.Add(2 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 3 {
		t.Fatalf("Range = %v, want 3 points", pts)
	}
	for i, pt := range pts {
		if at := start.Add(time.Duration(i) * time.Minute); !pt.Time.Equal(at) || pt.Value != float64(at.Minute()) {
			t.Errorf("point %d = %v, want %v at %v", i, pt, at.Minute(), at)
		}
	}
	// The Source is the Provider's: the driver's one timeseries request
	// cannot carry another window (errors.ErrUnsupported, before any
	// request), and the Source falls back to one query per point.
	before := s.requests.Load()
	again, err := p.Source().Range(context.Background(), metrics.RangeQuery{Text: "avg:latency{service:web}", Window: 5 * time.Minute, Step: time.Minute, Start: start, End: start.Add(2 * time.Minute)})
	if err != nil || fmt.Sprint(again) != fmt.Sprint(pts) {
		t.Errorf("Source().Range with Window ≠ Step = (%v, %v), want %v", again, err, pts)
	}
	if n := s.requests.Load() - before; n != 3 {
		t.Errorf("Source().Range sent %d requests, want 3 (one a point)", n)
	}
}

func TestRangeNoDataAndGroups(t *testing.T) {
	s := newServer(t)
	start := time.Date(2026, 3, 14, 9, 1, 0, 0, time.UTC)
	end := start.Add(4 * time.Minute)
	s.setWindow(end, 5*time.Minute)
	s.handle("empty", emptyAnswer)
	s.handle("null", nullAnswer)
	s.handle("groups", func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ string, req request, _ int) {
		a := req.Data.Attributes
		ts := buckets(a.From, a.To, *a.Interval)
		one := make([]*float64, len(ts))
		for i := range one {
			one[i] = f(1)
		}
		writeJSON(w, http.StatusOK, timeseriesBody(ts, one, one))
	})
	p := newProvider(t, s, func(c *datadog.Config) { c.Value = datadog.LatestPoint })
	for _, c := range []struct {
		text string
		want error
	}{{"empty", metrics.ErrNoData}, {"null", metrics.ErrNoData}, {"groups", metrics.ErrSeveralSeries}} {
		_, err := p.Range(context.Background(), metrics.RangeQuery{Text: c.text, Window: time.Minute, Step: time.Minute, Start: start, End: end})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: Range = %v, want %v", c.text, err, c.want)
		}
	}
	if _, err := p.Range(context.Background(), metrics.RangeQuery{Text: "x", Window: time.Second, Step: time.Second, Start: start, End: end}); err == nil {
		t.Error("a window shorter than the resolution was accepted")
	}
}
