package cloudwatch_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/cloudwatch"
)

// A range query whose window is its step is one GetMetricData request at
// a period of the step: each complete period a point at its end, with the
// count of the same period; the period still in progress is not read.
func TestRangeOneRequest(t *testing.T) {
	f := newFakeCloudWatch(t)
	publish(f, "tg-canary", 100, 2, 0, 40) // 09:55 to 09:59, and 10:00:10 in progress
	p := newProvider(t, f, "cbor", time.Millisecond)
	text := render(t, latticeQueries(t).ErrorRate, "tg-canary")
	start := time.Date(2026, 11, 28, 9, 56, 0, 0, time.UTC)
	pts, err := p.Range(context.Background(), metrics.RangeQuery{Text: text, Window: time.Minute, Step: time.Minute, Start: start, End: end})
	if err != nil {
		t.Fatal(err)
	}
	var want []metrics.Point
	for m := range 5 {
		want = append(want, metrics.Point{Time: start.Add(time.Duration(m) * time.Minute), Value: 0.02, Count: 100})
	}
	if fmt.Sprint(pts) != fmt.Sprint(want) {
		t.Errorf("Range = %v, want %v", pts, want)
	}
	log := f.requestLog()
	if len(log) != 1 {
		t.Fatalf("%d requests, want 1", len(log))
	}
	if in := log[0]; !in.StartTime.Time.Equal(start.Add(-time.Minute)) || !in.EndTime.Time.Equal(time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("request from %v to %v, want 09:55 to 10:00", in.StartTime.Time, in.EndTime.Time)
	}
}

// A range query whose window is not its step is one Query per point: the
// driver's one request cannot carry it (errors.ErrUnsupported, before any
// request) and the Source falls back.
func TestRangeQueryPerPoint(t *testing.T) {
	f := newFakeCloudWatch(t)
	publish(f, "tg-canary", 100, 2, 0, 40)
	p := newProvider(t, f, "cbor", time.Millisecond)
	text := render(t, latticeQueries(t).ErrorRate, "tg-canary")
	q := metrics.RangeQuery{Text: text, Window: 2 * time.Minute, Step: time.Minute,
		Start: time.Date(2026, 11, 28, 9, 57, 0, 0, time.UTC), End: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}
	pts, err := p.Range(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 4 || len(f.requestLog()) != 4 {
		t.Fatalf("Range = %v after %d requests, want 4 points from 4 queries", pts, len(f.requestLog()))
	}
	for i, pt := range pts {
		if at := q.Start.Add(time.Duration(i) * time.Minute); !pt.Time.Equal(at) || pt.Value != 0.02 || pt.Count != 200 {
			t.Errorf("point %d = %v, want 0.02 over 200 requests at %v", i, pt, at)
		}
	}
}

func TestRangeRefusedBeforeAnyRequest(t *testing.T) {
	f := newFakeCloudWatch(t)
	p := newProvider(t, f, "cbor", time.Millisecond)
	text := render(t, latticeQueries(t).ErrorRate, "tg-canary")
	start := time.Date(2026, 11, 28, 9, 56, 0, 0, time.UTC)
	for _, bad := range []metrics.RangeQuery{
		{Text: text, Window: 30 * time.Second, Step: 30 * time.Second, Start: start, End: end},
		{Text: text, Window: 90 * time.Second, Step: 90 * time.Second, Start: start, End: end},
		{Text: "[]", Window: time.Minute, Step: time.Minute, Start: start, End: end},
	} {
		var fe *canary.FieldError
		if _, err := p.Range(context.Background(), bad); !errors.As(err, &fe) {
			t.Errorf("Range(%+v) = %v, want a *canary.FieldError", bad, err)
		}
	}
	if n := len(f.requestLog()); n != 0 {
		t.Errorf("%d requests for refused range queries", n)
	}
}

// canary.Code classifies the SDK's errors, and the shared sentinels match.
func TestErrorCodes(t *testing.T) {
	f := newFakeCloudWatch(t)
	p := newProvider(t, f, "cbor", time.Hour)
	for _, c := range []struct {
		name     string
		text     string
		throttle int
		code     canary.ErrorCode
		sentinel error
	}{
		{"invalid", rawStat("Test/Invalid", "RequestCount", "tg-canary"), 0, canary.InvalidArgument, nil},
		{"denied", rawStat("Test/Denied", "RequestCount", "tg-canary"), 0, canary.Unauthorized, metrics.ErrUnauthorized},
		{"throttled", rawStat(lattice, "TotalRequestCount", "tg-canary"), 1000, canary.RateLimited, metrics.ErrRateLimited},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.mu.Lock()
			f.throttle, f.throttleCode = c.throttle, "Throttling"
			f.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := p.Query(ctx, query(c.text))
			if got := canary.Code(err); got != c.code {
				t.Errorf("canary.Code(%v) = %v, want %v", err, got, c.code)
			}
			if c.sentinel != nil && !errors.Is(err, c.sentinel) {
				t.Errorf("%v does not match %v", err, c.sentinel)
			}
			if c.name == "throttled" && !errors.Is(err, cloudwatch.ErrThrottled) {
				t.Errorf("%v does not match ErrThrottled", err)
			}
		})
	}
}
