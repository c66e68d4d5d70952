package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/meshcanary/canary/metrics"
)

// counters is a minimal Provider: error and request counts per version,
// kept in memory, answering queries of the form error_rate{version="v"}.
type counters struct {
	mu     sync.Mutex
	errors map[string]int64
	reqs   map[string]int64
}

func (c *counters) Query(ctx context.Context, q metrics.Query) (metrics.Result, error) {
	if err := q.Validate(); err != nil {
		return metrics.Result{}, err // a *canary.FieldError, before any work
	}
	if err := ctx.Err(); err != nil {
		return metrics.Result{}, err
	}
	var version string
	if _, err := fmt.Sscanf(q.Text, "error_rate{version=%q}", &version); err != nil {
		return metrics.Result{}, fmt.Errorf("counters: %q: want error_rate{version=\"<version>\"}", q.Text)
	}
	c.mu.Lock()
	errs, n := c.errors[version], c.reqs[version]
	c.mu.Unlock()
	v := float64(errs) / float64(n)
	if n == 0 || math.IsNaN(v) {
		// No request is no data, never a zero error rate.
		return metrics.Result{}, fmt.Errorf("counters: %s: %w", q.Text, metrics.ErrNoData)
	}
	return metrics.Result{Value: v, Count: n}, nil
}

// A provider implements one method, Query; it renders nothing itself
// (templates do), says "no data" with ErrNoData rather than zero, and
// reports how many requests a value rests on. Its test calls
// metricstest.Run with a Fixture over it.
func Example_writeAProvider() {
	p := &counters{errors: map[string]int64{"canary": 3}, reqs: map[string]int64{"canary": 200}}
	tmpl := metrics.MustParse(metrics.PromQL, "error-rate", `error_rate{version="{{version}}"}`)
	end := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, v := range []string{"canary", "stable"} {
		text, _ := tmpl.Render(metrics.Vars{Version: v})
		r, err := p.Query(context.Background(), metrics.Query{Text: text, Window: time.Minute, End: end})
		switch {
		case errors.Is(err, metrics.ErrNoData):
			fmt.Println(v, "no data")
		case err != nil:
			fmt.Println(v, err)
		default:
			fmt.Printf("%s %.3f over %d requests\n", v, r.Value, r.Count)
		}
	}
	// Output:
	// canary 0.015 over 200 requests
	// stable no data
}
