package rollback_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/traffic"
)

// fakeRollout is the configuration the examples below share: a canary v2
// against stable v1 on the in-memory router and metrics provider of
// providers/fake, judged by the default preset (analysis.Rates on the
// error rate) with the policy it was tuned with. The service takes 3,000
// requests a minute, split as the router says; stable fails 0.5 % of its
// requests and the canary canaryErrors.
func fakeRollout(canaryErrors float64) (rollback.Config, *fake.Router) {
	router := fake.NewRouter()
	provider := fake.NewProvider(router) // answers by the router's split
	tmpl := metrics.MustParse(metrics.PromQL, "error-rate", `error_rate{version="{{version}}",window="{{window}}"}`)
	q := func(v string) string { s, _ := tmpl.Render(metrics.Vars{Version: v, Window: time.Minute}); return s }
	provider.Script(q("v2"), fake.PerRequests(canaryErrors, 3000, true))
	provider.Script(q("v1"), fake.PerRequests(0.005, 3000, false))
	preset := analysis.DefaultPreset(analysis.PresetMetrics{ErrorRate: "error-rate"})
	return rollback.Config{
		Name:     "checkout",
		Plan:     rollback.Plan{Stages: rollback.Weights(10, 25, 50), Interval: time.Minute},
		Policy:   rollback.PresetPolicy(preset),
		Target:   rollback.Target{Stable: rollback.Workload{Version: "v1"}, Canary: rollback.Workload{Version: "v2"}},
		Metrics:  []rollback.Metric{{Name: "error-rate", Provider: provider, Query: tmpl}},
		Analyzer: preset.Analyzer,
		Router:   router,
	}, router
}

// transitions prints each change of phase, minutes from start.
func transitions(start time.Time) rollback.Sink {
	return rollback.SinkFunc(func(_ context.Context, e rollback.Event) error {
		if e.Kind == rollback.KindTransition {
			fmt.Printf("+%v %s → %s, canary %d %%\n", e.Time.Sub(start), e.From, e.To, e.WeightTo)
		}
		return nil
	})
}

// Driving a rollout: the caller owns the loop and the clock. Step does
// one round (measure, judge, write the split) and says when to call
// again; a canary as good as stable is promoted stage by stage.
func Example_promote() {
	cfg, router := fakeRollout(0.005)
	start := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	cfg.Sink = transitions(start)
	r, err := rollback.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	for now := start; ; {
		st, err := r.Step(context.Background(), now)
		if err != nil {
			fmt.Println(err) // a failed write or query; the next Step retries
		}
		if st.Phase.Final() {
			fmt.Printf("%s after %d analyses; router: %v\n", st.Phase, r.State().Looks, router.Current())
			return
		}
		now = st.Next // in production: sleep until st.Next
	}
	// Output:
	// +0s pending → progressing, canary 10 %
	// +1m0s progressing → progressing, canary 25 %
	// +2m0s progressing → progressing, canary 50 %
	// +7m0s progressing → promoting, canary 100 %
	// +7m0s promoting → succeeded, canary 100 %
	// succeeded after 7 analyses; router: stable 0% / canary 100%
}

// Resuming from a store: with Config.Store set, every decision is saved
// before it is acted on, so a driver that stops (a crash, a deploy of the
// controller) loses nothing. rollback.Open, given the same configuration
// and store, continues the rollout where it stopped. store.Memory is the
// in-memory store; store.File and a caller's own Store work the same way.
func ExampleOpen() {
	var st store.Memory
	cfg, router := fakeRollout(0.005)
	cfg.Store, cfg.Key = &st, "checkout-v2"
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

	first, err := rollback.Open(ctx, cfg) // nothing under the key: a new rollout
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 3 {
		s, _ := first.Step(ctx, now)
		now = s.Next
	}
	fmt.Printf("first driver stops: %s at %d %% (analysis %d)\n", first.State().Phase, router.CanaryWeight(), first.State().Looks)

	second, err := rollback.Open(ctx, cfg) // the same key: resumed
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("second driver resumes: %s at %d %% (analysis %d)\n", second.State().Phase, second.State().Weight, second.State().Looks)
	for {
		s, _ := second.Step(ctx, now)
		if s.Phase.Final() {
			fmt.Printf("%s; router: %v\n", s.Phase, router.Current())
			break
		}
		now = s.Next
	}
	_, err = rollback.Open(ctx, cfg) // finished: a new deployment needs its own key
	fmt.Println("open again:", errors.Is(err, rollback.ErrFinished))
	// Output:
	// first driver stops: progressing at 50 % (analysis 2)
	// second driver resumes: progressing at 50 % (analysis 2)
	// succeeded; router: stable 0% / canary 100%
	// open again: true
}

// Replaying a policy on recorded data: Replay runs a configuration's
// plan, policy and analyzer over what a Recording says was observed,
// stepping at the instants the rollout asks for, and reports what it
// would have decided and when; no router or metrics back end is touched.
// Here the record is of a canary that was fine for ten minutes and then
// failed 4 % of its requests; the question is how soon the default preset
// would have rolled it back.
func ExampleReplay() {
	start := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	rec := func(now time.Time, split traffic.Split) []analysis.Observation {
		canary, stable := int64(30*split.Canary), int64(30*split.Stable) // 3,000 requests a minute
		rate := 0.005
		if now.Sub(start) > 10*time.Minute {
			rate = 0.04
		}
		return []analysis.Observation{{
			Metric: "error-rate",
			Canary: analysis.Observed(rate, canary),
			Stable: analysis.Observed(0.005, stable),
		}}
	}
	preset := analysis.DefaultPreset(analysis.PresetMetrics{ErrorRate: "error-rate"})
	cfg := rollback.Config{
		Name:     "checkout",
		Plan:     rollback.Plan{Stages: rollback.Weights(5, 10, 25, 50), Interval: time.Minute, Hold: 5 * time.Minute},
		Policy:   rollback.PresetPolicy(preset),
		Analyzer: preset.Analyzer,
	}
	res, err := rollback.Replay(context.Background(), cfg, start, start.Add(time.Hour), rec)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s, decided at +%v after %d analyses\n", res.Final.Phase, res.Decided.Sub(start), res.Looks)
	// Output:
	// rolled-back, decided at +11m0s after 11 analyses
}

// Unit-testing a policy with the fakes: a test builds the rollout over
// providers/fake, scripts a faulty canary, steps a simulated clock (no
// sleeping, no flakiness) and checks what the policy did: that the canary
// was rolled back, how soon, and how much traffic it was given on the
// way. The fakes record every call, so the test can also count the
// router's writes.
func Example_testAPolicy() {
	cfg, router := fakeRollout(0.05) // 10 × stable's error rate
	r, err := rollback.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	now, most := start, 0
	for {
		st, err := r.Step(context.Background(), now)
		if err != nil {
			fmt.Println("step:", err)
			return
		}
		most = max(most, router.CanaryWeight())
		if st.Phase.Final() {
			break
		}
		if now.Sub(start) > time.Hour {
			fmt.Println("FAIL: no decision within the hour")
			return
		}
		now = st.Next
	}
	// In a test these would be t.Errorf.
	s := r.State()
	switch {
	case s.Phase != rollback.RolledBack:
		fmt.Println("FAIL: not rolled back:", s.Phase)
	case now.Sub(start) > 5*time.Minute:
		fmt.Println("FAIL: rolled back only after", now.Sub(start))
	case most > 10:
		fmt.Printf("FAIL: the faulty canary was given %d %% of the traffic\n", most)
	case router.Current() != traffic.AllStable():
		fmt.Println("FAIL: the router was left at", router.Current())
	}
	fmt.Printf("%s after %v (failed analyses: %d)\n", s.Phase, now.Sub(start), s.Failed)
	fmt.Printf("the canary never had more than %d %% of the traffic; writes: %d; router: %v\n", most, router.Count("set"), router.Current())
	// Output:
	// rolled-back after 2m0s (failed analyses: 1)
	// the canary never had more than 10 % of the traffic; writes: 2; router: stable 100% / canary 0%
}
