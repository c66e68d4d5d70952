package fake_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/traffic"
)

// The fakes record every call and accept injected errors, like client-go's.
func ExampleRouter() {
	ctx := context.Background()
	r := fake.NewRouter()
	r.Fail("set", &fake.Error{Verb: "set", Msg: "mesh unavailable"}) // the next write fails
	fmt.Println(r.SetSplit(ctx, traffic.Weighted(10)))
	fmt.Println(r.SetSplit(ctx, traffic.Weighted(10)))
	fmt.Println(r.SetSplit(ctx, traffic.Weighted(120)))
	for _, a := range r.Actions() {
		fmt.Println(a.Verb, a.Arg, a.Err != nil)
	}
	fmt.Println("in force:", r.Current())
	// Output:
	// set split of fake route: fake set: mesh unavailable
	// <nil>
	// invalid Split.Canary (120): must be between 0 and 100
	// set stable 90% / canary 10% true
	// set stable 90% / canary 10% false
	// set stable -20% / canary 120% true
	// in force: stable 90% / canary 10%
}

// A provider's series can depend on time and on the canary's weight: here
// the canary's error rate jumps at 09:05, and its request count follows
// its share of 600 requests a minute.
func ExampleProvider() {
	ctx := context.Background()
	router := fake.NewRouter()
	p := fake.NewProvider(router)
	fault := time.Date(2026, 11, 24, 9, 5, 0, 0, time.UTC)
	p.Script("errors canary", fake.From(fault, fake.PerRequests(0.004, 600, true), fake.PerRequests(0.08, 600, true)))

	ask := func(at time.Time) {
		res, err := p.Query(ctx, metrics.Query{Text: "errors canary", Window: time.Minute, End: at})
		switch {
		case errors.Is(err, metrics.ErrNoData):
			fmt.Println(at.Format("15:04"), "no data")
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Println(at.Format("15:04"), res.Value, "over", res.Count, "requests")
		}
	}
	ask(fault.Add(-2 * time.Minute)) // the canary takes no traffic yet
	router.SetSplit(ctx, traffic.Weighted(10))
	ask(fault.Add(-time.Minute))
	ask(fault)
	// Output:
	// 09:03 no data
	// 09:04 0.004 over 60 requests
	// 09:05 0.08 over 60 requests
}
