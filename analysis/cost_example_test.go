package analysis_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/meshcanary/canary/analysis"
)

// The canary's cost per million requests against stable's, in pounds.
func ExampleCost() {
	c := analysis.Cost{
		Prices: analysis.Prices{VCPUHour: 0.04, GiBHour: 0.005},
		CPU:    "cpu", Memory: "memory", Requests: "requests", Window: time.Minute, Share: 0.2,
	}
	obs := func(name string, canary, stable float64) analysis.Observation {
		return analysis.Observation{Metric: name, Canary: analysis.Observed(canary, 0), Stable: analysis.Observed(stable, 0)}
	}
	v, err := c.Analyze(context.Background(), analysis.Input{Observations: []analysis.Observation{
		obs("cpu", 0.5, 2), obs("memory", 1<<30, 4<<30), obs("requests", 10000, 90000),
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	cost, _, _ := strings.Cut(v.Details[0].Reason, ";")
	fmt.Println(cost)
	// Output:
	// £0.04 per million requests against stable's £0.02 (+£0.02, +125 %)
}
