package fake_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/metrics/metricstest"
	"github.com/meshcanary/canary/providers/fake"
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
			Provider: p,
			Value:    q("error_rate"), Want: 0.015, Tolerance: 1e-12,
			Empty:   q("empty"),
			NaN:     q("nan"),
			Failing: q("not scripted"), Target: new(*fake.Error),
			Slow: q("slow"),
		}
	})
}
