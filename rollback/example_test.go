package rollback_test

import (
	"context"
	"fmt"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
)

// A canary whose error rate is 5 % is rolled back after two failed
// analyses. The caller owns time: here it steps a simulated clock, and
// prints each transition with display.Event.
func Example() {
	router := fake.NewRouter()
	provider := fake.NewProvider(router)
	tmpl := metrics.MustParse(metrics.PromQL, "error-rate",
		`sum(rate(http_errors_total{version="{{version}}"}[{{window}}])) / sum(rate(http_requests_total{version="{{version}}"}[{{window}}]))`)
	q := func(v string) string {
		s, _ := tmpl.Render(metrics.Vars{Version: v, Window: time.Minute})
		return s
	}
	provider.Script(q("v2"), fake.Constant(0.05, 800))
	provider.Script(q("v1"), fake.Constant(0.002, 8000))

	r, err := rollback.New(rollback.Config{
		Name:     "checkout",
		Plan:     rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute, Hold: 2 * time.Minute},
		Target:   rollback.Target{Stable: rollback.Workload{Version: "v1"}, Canary: rollback.Workload{Version: "v2"}},
		Metrics:  []rollback.Metric{{Name: "error-rate", Provider: provider, Query: tmpl}},
		Analyzer: analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("error-rate", 0.02)}},
		Router:   router,
		Sink: rollback.SinkFunc(func(_ context.Context, e rollback.Event) error {
			if e.Kind == rollback.KindTransition {
				fmt.Println(display.Event(e, nil)) // nil: Europe/London
			}
			return nil
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for {
		st, err := r.Step(context.Background(), now)
		if err != nil {
			fmt.Println(err)
		}
		if st.Phase.Final() {
			fmt.Println("router:", router.Current())
			return
		}
		now = st.Next
	}
	// Output:
	// 24/11/2026 09:00:00 GMT  progressing       pending → progressing, canary 0 % → 10 % — rollout started
	// 24/11/2026 09:02:00 GMT  rolling-back      progressing → rolling-back, canary 10 % → 0 % by policy — 2 failed analyses (cumulative limit 2): 1 of 1 limits broken
	// 24/11/2026 09:02:00 GMT  rolled-back       rolling-back → rolled-back — every request goes to the stable version; 2 failed analyses (cumulative limit 2): 1 of 1 limits broken
	// router: stable 100% / canary 0%
}
