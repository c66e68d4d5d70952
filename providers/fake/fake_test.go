package fake_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/metrics/metricstest"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/traffic"
)

func TestProviderConformance(t *testing.T) {
	end := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
	q := func(text string) metrics.Query { return metrics.Query{Text: text, Window: time.Minute, End: end} }
	metricstest.Run(t, func(context.Context, *testing.T) metricstest.Fixture {
		p := fake.NewProvider(nil)
		p.Script("error_rate", fake.Constant(0.015, 1200))
		p.Script("empty", fake.NoData())
		p.Script("nan", func(fake.Point) (float64, int64, bool) { return math.NaN(), 0, true })
		p.Script("slow", fake.Constant(1, 1))
		p.Delay("slow", time.Minute)
		return metricstest.Fixture{
			Source: p.Source(),
			Value:  q("error_rate"), Want: 0.015, Tolerance: 1e-12,
			Empty:   q("empty"),
			NaN:     q("nan"),
			Failing: q("not scripted"), Target: new(*fake.Error),
			Slow:  q("slow"),
			Range: metrics.RangeQuery{Text: "error_rate", Window: time.Minute, Start: end.Add(-10 * time.Minute), End: end, Step: time.Minute},
		}
	})
}

// TestProviderRange: a range query is one call, recorded as "range",
// answered from the series at each point (gaps and NaN left out), and
// takes the errors injected for "range".
func TestProviderRange(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	router := fake.NewRouter()
	if err := router.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	p := fake.NewProvider(router)
	p.Script("errors canary", func(pt fake.Point) (float64, int64, bool) {
		switch pt.End.Sub(t0) {
		case time.Minute:
			return 0, 0, false // a gap
		case 2 * time.Minute:
			return math.Inf(1), 5, true
		}
		return float64(pt.CanaryWeight) / 100, 60, true
	})
	q := metrics.RangeQuery{Text: "errors canary", Window: time.Minute, Start: t0, End: t0.Add(3 * time.Minute), Step: time.Minute}
	pts, err := p.Range(ctx, q)
	want := []metrics.Point{{Time: t0, Value: 0.1, Count: 60}, {Time: t0.Add(3 * time.Minute), Value: 0.1, Count: 60}}
	if err != nil || fmt.Sprint(pts) != fmt.Sprint(want) {
		t.Errorf("Range = (%v, %v), want %v", pts, err, want)
	}
	if p.Count("range") != 1 || p.Count("query") != 0 {
		t.Errorf("recorded %d range and %d query calls, want one range", p.Count("range"), p.Count("query"))
	}
	injected := canary.WithCode(canary.Unavailable, errors.New("down"))
	p.Fail("range", injected)
	if _, err := p.Range(ctx, q); !errors.Is(err, injected) || canary.Code(err) != canary.Unavailable {
		t.Errorf("Range after Fail = %v, want the injected error", err)
	}
	if _, err := p.Range(ctx, q); err != nil {
		t.Errorf("Range after the injected error was used = %v", err)
	}
	q.Text = "not scripted"
	var fe *fake.Error
	if _, err := p.Range(ctx, q); !errors.As(err, &fe) {
		t.Errorf("Range of an unscripted query = %v, want a *fake.Error", err)
	}
	q.Step = 0
	if _, err := p.Range(ctx, q); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("Range with no step = %v, want ErrInvalid", err)
	}
	if a := p.Actions(); a[len(a)-1].Verb != "range" || a[len(a)-1].Err == nil {
		t.Errorf("the refused range was not recorded: %+v", a[len(a)-1])
	}
}
