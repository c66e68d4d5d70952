package rollback_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

// exampleRun builds a rollout of plan over the fakes (the canary's error
// rate is canaryErrors, stable's 0.2 %), steps it to the end on a
// simulated clock and prints every split it writes.
func exampleRun(plan rollback.Plan, canaryErrors fake.Series, post analysis.Analyzer) {
	router := fake.NewRouter()
	provider := fake.NewProvider(router)
	tmpl := metrics.MustParse(metrics.PromQL, "error-rate", `error_rate{version="{{version}}"}`)
	q := func(v string) string { s, _ := tmpl.Render(metrics.Vars{Version: v, Window: time.Minute}); return s }
	provider.Script(q("v2"), canaryErrors)
	provider.Script(q("v1"), fake.Constant(0.002, 8000))
	r, err := rollback.New(rollback.Config{
		Name:                  "checkout",
		Plan:                  plan,
		Target:                rollback.Target{Stable: rollback.Workload{Version: "v1"}, Canary: rollback.Workload{Version: "v2"}},
		Metrics:               []rollback.Metric{{Name: "error-rate", Provider: provider, Query: tmpl}},
		Analyzer:              analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("error-rate", 0.02)}},
		PostPromotionAnalyzer: post,
		Router:                router,
		Scaler:                fake.NewScaler(4, 4),
		Sink: rollback.SinkFunc(func(_ context.Context, e rollback.Event) error {
			switch {
			case e.Kind == rollback.KindAction && e.Split != nil:
				fmt.Println(strings.TrimSpace(fmt.Sprintf("+%v write %v %s", e.Time.Sub(t0), *e.Split, e.Reason)))
			case e.Kind == rollback.KindAction && e.Action == "scale-stable":
				fmt.Printf("+%v %s\n", e.Time.Sub(t0), e.Reason)
			}
			return nil
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := t0
	for i := 0; i < 1000; i++ {
		st, _ := r.Step(context.Background(), now)
		if st.Phase.Final() {
			fmt.Printf("%s: %s\n", st.Phase, st.Shape)
			return
		}
		now = st.Next
	}
	fmt.Println("not final after 1000 steps")
}

// An A/B test: the cohort (a header or a cookie) goes to the canary,
// every other request to stable; after three passing analyses it is
// promoted in one write.
func ExamplePlan_abTest() {
	exampleRun(rollback.Plan{Interval: time.Minute, Strategy: rollback.StrategyABTest,
		ABTest: &rollback.ABTest{Iterations: 3, Cohort: []traffic.Match{
			{Header: "x-canary", Kind: traffic.Regex, Value: ".*insider.*"},
			{Cookie: "canary", Value: "always"},
		}}}, fake.Constant(0.001, 500), nil)
	// Output:
	// +0s write stable 100% / canary 0%, cohort header x-canary~=.*insider.* | cookie canary=always
	// +3m0s write stable 0% / canary 100%
	// succeeded: A/B test: the cohort header x-canary~=.*insider.* | cookie canary=always goes to the canary
}

// Blue/green: the new version, bad once it takes the traffic, passes its
// analysis on the preview route and the mirror, is switched to in one
// write, fails the post-promotion analysis and is switched back in one
// write, the old version never scaled down.
func ExamplePlan_blueGreen() {
	badOnceSwitched := func(p fake.Point) (float64, int64, bool) {
		if p.CanaryWeight == 100 {
			return 0.05, 5000, true
		}
		return 0.001, 500, true
	}
	exampleRun(rollback.Plan{Interval: time.Minute, Strategy: rollback.StrategyBlueGreen,
		BlueGreen: &rollback.BlueGreen{Preview: traffic.HeaderRoute{Name: "x-preview", Value: "yes"}, Mirror: 10,
			PrePromotion: 2 * time.Minute, PostPromotion: 5 * time.Minute}},
		badOnceSwitched, analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("error-rate", 0.02)}})
	// Output:
	// +0s write stable 100% / canary 0%, mirror 10%, test route x-preview=yes
	// +2m0s write stable 0% / canary 100% switch: every request goes to the new version, the old one is kept warm
	// +4m0s write stable 100% / canary 0% switch back: every request goes to the old version again
	// rolled-back: blue/green: every request on the old version
}

// A weighted canary with session affinity: every stage's split carries
// the rollout's cookie; the promotion does not.
func ExamplePlan_sessionAffinity() {
	exampleRun(rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute,
		SessionAffinity: &rollback.SessionAffinity{Cookie: "canary-session", MaxAge: time.Hour}},
		fake.Constant(0.001, 500), nil)
	// Output:
	// +0s write stable 90% / canary 10%, affinity cookie canary-session (3600 s)
	// +1m0s write stable 50% / canary 50%, affinity cookie canary-session (3600 s)
	// +2m0s write stable 0% / canary 100%
	// succeeded: canary with session affinity (cookie canary-session, 1h0m0s)
}

// A router that cannot route by cookie refuses the A/B test when the
// rollout is built, naming the plan's field.
func ExampleSplitChecker() {
	router := traffic.NewRouter(&memDriver{split: traffic.AllStable()}, traffic.Config{Name: "VirtualService shop/reviews"})
	_, err := rollback.New(rollback.Config{Name: "checkout", Router: router,
		Plan: rollback.Plan{Interval: time.Minute, Strategy: rollback.StrategyABTest,
			ABTest: &rollback.ABTest{Cohort: []traffic.Match{{Cookie: "canary", Value: "always"}}}}})
	var fe *canary.FieldError
	fmt.Println(errors.As(err, &fe), fe.Field)
	fmt.Println(err)
	// Output:
	// true Plan.ABTest.Cohort[0].Cookie
	// invalid Plan.ABTest.Cohort[0].Cookie (canary): VirtualService shop/reviews cannot route by cookie
}
