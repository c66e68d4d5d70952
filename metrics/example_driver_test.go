package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// counters is a minimal Driver: error and request counts per version,
// kept in memory, answering queries of the form error_rate{version="v"}.
type counters struct {
	mu     sync.Mutex
	errors map[string]int64
	reqs   map[string]int64
}

// Instant answers one series, or none when the version served no request.
// It need not validate q, check ctx before its work, or look for NaN: the
// Source does.
func (c *counters) Instant(ctx context.Context, q metrics.Query) ([]metrics.Series, error) {
	var version string
	if _, err := fmt.Sscanf(q.Text, "error_rate{version=%q}", &version); err != nil {
		return nil, canary.Invalid("Query.Text", q.Text, `want error_rate{version="<version>"}`)
	}
	c.mu.Lock()
	errs, n := c.errors[version], c.reqs[version]
	c.mu.Unlock()
	if n == 0 {
		return nil, nil // no request is no data (the Source says ErrNoData), never a zero error rate
	}
	r := metrics.Result{Value: float64(errs) / float64(n), Count: n}
	return []metrics.Series{{Labels: fmt.Sprintf("{version=%q}", version), Result: r}}, nil
}

// ErrorCode has nothing to classify: counters' only error is a
// *canary.FieldError, which has its code.
func (c *counters) ErrorCode(error) canary.ErrorCode { return canary.Unknown }

// A driver implements two methods, Instant and ErrorCode; NewSource makes
// it a metrics.Provider that validates queries, says "no data" with
// ErrNoData rather than zero, refuses several series, and answers range
// queries too (one instant query per point, since counters has no native
// range query). Its test runs the metricstest conformance suite over it.
func Example_writeADriver() {
	d := &counters{errors: map[string]int64{"canary": 3}, reqs: map[string]int64{"canary": 200}}
	var p metrics.Provider = metrics.NewSource(d, metrics.Config{Name: "counters", Dialect: metrics.PromQL})
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
	_, err := p.Query(context.Background(), metrics.Query{Text: "error_rate", End: end})
	fmt.Println(err)
	// Output:
	// canary 0.015 over 200 requests
	// stable no data
	// invalid Query.Window (0s): must be positive
}

// A range query over a driver without a native one: the Source asks for
// each point's window in turn, and leaves out the points with no data.
func ExampleSource_Range() {
	d := &counters{errors: map[string]int64{"canary": 1}, reqs: map[string]int64{"canary": 50}}
	src := metrics.NewSource(d, metrics.Config{Name: "counters"})
	end := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	pts, err := src.Range(context.Background(), metrics.RangeQuery{
		Text: `error_rate{version="canary"}`, Window: time.Minute,
		Start: end.Add(-2 * time.Minute), End: end, Step: time.Minute,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range pts {
		fmt.Printf("%s %.2f over %d requests\n", p.Time.Format("15:04"), p.Value, p.Count)
	}
	_, err = src.Range(context.Background(), metrics.RangeQuery{
		Text: `error_rate{version="stable"}`, Window: time.Minute,
		Start: end.Add(-2 * time.Minute), End: end, Step: time.Minute,
	})
	fmt.Println(errors.Is(err, metrics.ErrNoData))
	// Output:
	// 11:58 0.02 over 50 requests
	// 11:59 0.02 over 50 requests
	// 12:00 0.02 over 50 requests
	// true
}
