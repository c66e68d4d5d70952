// Story-like rollout tests (a healthy canary promoted, a bad one rolled
// back, gates, validation, readiness, manual operations, a deleted or
// edited route) are transcripts in testdata/transcripts; the tests here
// check properties, failures of the back ends, and bad input.

package rollback_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/workload"
)

var ctx = context.Background()

func stepsPlan(w ...int) rollback.Plan {
	return rollback.Plan{Stages: rollback.Weights(w...), Interval: time.Minute, Hold: 2 * time.Minute}
}

func TestRollbackRetriesUntilRouterAndScalerConfirm(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.004, 500))
	r := h.build(t)
	if _, err := r.Step(ctx, t0); err != nil {
		t.Fatal(err)
	}
	boom := &fake.Error{Verb: "set", Msg: "mesh unavailable"}
	h.router.Fail("set", boom, boom)
	h.scaler.Fail("scale", errors.New("api server timeout"))
	now := t0.Add(10 * time.Second)
	st, err := r.Abort(ctx, now, "alice", "customer complaints")
	if !errors.As(err, new(*fake.Error)) {
		t.Fatalf("Abort error %v, want the router's native error", err)
	}
	if st.Phase != rollback.RollingBack || st.CanaryWeight != 0 {
		t.Fatalf("after a failed abort: %+v", st)
	}
	for i := 0; i < 5 && st.Phase != rollback.RolledBack; i++ {
		now = now.Add(time.Second)
		st, _ = r.Step(ctx, now)
		if st.CanaryWeight != 0 {
			t.Fatalf("canary weight %d after a rollback decision", st.CanaryWeight)
		}
		if _, err := r.SetWeight(ctx, now, 10, "bob", "try again"); !errors.Is(err, rollback.ErrNotAllowed) {
			t.Fatalf("SetWeight after rollback = %v, want ErrNotAllowed", err)
		}
		if _, err := r.Promote(ctx, now, "bob", "ship it"); !errors.Is(err, rollback.ErrNotAllowed) {
			t.Fatalf("Promote after rollback = %v, want ErrNotAllowed", err)
		}
	}
	if st.Phase != rollback.RolledBack {
		t.Fatalf("phase %v after retries, want rolled-back", st.Phase)
	}
	if h.router.Current().Canary != 0 || h.scaler.Current(workload.Canary) != 0 {
		t.Fatalf("not rolled back: router %v, canary replicas %d", h.router.Current(), h.scaler.Current(workload.Canary))
	}
	if _, err := r.Abort(ctx, now, "carol", "again"); err != nil {
		t.Errorf("a second Abort = %v, want harmless", err)
	}
	var manual *rollback.Event
	for i := range h.events {
		if h.events[i].Kind == rollback.KindManual {
			manual = &h.events[i]
		}
	}
	if manual == nil || manual.Actor != "alice" || manual.Reason != "customer complaints" {
		t.Errorf("the abort is not recorded with actor and reason: %+v", manual)
	}
}

func TestVerifyMismatchIsRetried(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.004, 500))
	drifting := &driftingRouter{Router: h.router, left: 1}
	h.cfg.Router = drifting
	r := h.build(t)
	st, err := r.Step(ctx, t0)
	if !errors.Is(err, traffic.ErrVerify) {
		t.Fatalf("Step with a router whose write did not take = %v, want ErrVerify", err)
	}
	if st.Split != (traffic.Split{}) {
		t.Fatalf("an unconfirmed split is reported as in force: %v", st.Split)
	}
	st, err = r.Step(ctx, t0.Add(time.Second))
	if err != nil || st.Split != traffic.Weighted(10) {
		t.Fatalf("after the mesh recovers: %+v %v", st, err)
	}
	if n := h.router.Count("set"); n != 2 {
		t.Errorf("%d writes, want 2 (the failed one and its retry)", n)
	}
	if n := h.router.Count("get"); n != 0 {
		t.Errorf("%d reads; SetSplit verifies its own write, so the rollout needs none before the first analysis", n)
	}
}

// driftingRouter's first writes do not take: another controller puts the
// route back, and SetSplit reports it as a failed verification.
type driftingRouter struct {
	*fake.Router
	left int
}

func (d *driftingRouter) SetSplit(ctx context.Context, s traffic.Split) error {
	if err := d.Router.SetSplit(ctx, s); err != nil {
		return err
	}
	if d.left > 0 {
		d.left--
		return fmt.Errorf("drifting router: %w", traffic.ErrVerify)
	}
	return nil
}

func TestRouterWrittenOnlyOnChange(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.004, 500))
	r := h.build(t)
	for i := 0; i < 50; i++ {
		r.Step(ctx, t0.Add(time.Duration(i)*time.Second))
	}
	if n := h.router.Count("set"); n != 1 {
		t.Errorf("%d writes over 50 steps at one weight, want 1", n)
	}
}

func TestFailureCounting(t *testing.T) {
	// The canary fails, passes, fails, passes… at every analysis.
	flap := func(p fake.Point) (float64, int64, bool) {
		if (p.End.Sub(t0)/time.Minute)%2 == 1 {
			return 0.05, 500, true
		}
		return 0.001, 500, true
	}
	plan := rollback.Plan{Stages: rollback.Weights(10, 20, 30, 40, 50), Interval: time.Minute, Hold: 3 * time.Minute}
	for _, tc := range []struct {
		policy rollback.Policy
		want   rollback.Phase
	}{
		{rollback.Policy{}, rollback.RolledBack},                              // cumulative, limit 2
		{rollback.Policy{Counting: rollback.Consecutive}, rollback.Succeeded}, // never 2 in a row
		{rollback.Policy{Counting: rollback.Consecutive, FailureLimit: 1}, rollback.RolledBack},
		{rollback.Policy{FailureLimit: 100}, rollback.Succeeded},
		{rollback.Policy{OnFailure: rollback.PauseOnFailure}, rollback.Paused},
	} {
		t.Run(fmt.Sprintf("%+v", tc.policy), func(t *testing.T) {
			h := newHarness(plan, tc.policy, flap)
			r := h.build(t)
			seen := run(t, r, t0, t0.Add(2*time.Hour))
			if got := seen[len(seen)-1].Phase; got != tc.want {
				t.Errorf("final phase %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNoDataPolicy(t *testing.T) {
	plan := rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute, ProgressDeadline: 5 * time.Minute}
	for _, tc := range []struct {
		policy  rollback.Policy
		want    rollback.Phase
		decided time.Duration
	}{
		// Hold: nothing passes; at the progress deadline (hold 1m + 5m)
		// the rollout pauses for a person (AskPerson, the default) or rolls
		// back (RollBackInconclusive).
		{rollback.Policy{}, rollback.Paused, 6 * time.Minute},
		{rollback.Policy{OnInconclusive: rollback.RollBackInconclusive}, rollback.RolledBack, 6 * time.Minute},
		{rollback.Policy{NoData: analysis.FailOnNoData}, rollback.RolledBack, 2 * time.Minute},
		{rollback.Policy{NoData: analysis.FailAfterNoData, NoDataAfter: 2}, rollback.RolledBack, 4 * time.Minute},
	} {
		t.Run(fmt.Sprintf("%+v", tc.policy), func(t *testing.T) {
			h := newHarness(plan, tc.policy, fake.NoData())
			r := h.build(t)
			run(t, r, t0, t0.Add(time.Hour))
			if ph := r.Status(t0).Phase; ph != tc.want {
				t.Errorf("ended in %v, want %v", ph, tc.want)
			}
			var decided time.Time
			for _, e := range h.events {
				if e.Kind == rollback.KindTransition && (e.To == rollback.RollingBack || e.To == rollback.Paused) && decided.IsZero() {
					decided = e.Time
				}
				if e.Kind == rollback.KindAnalysis && e.Verdict.Outcome == analysis.Pass {
					t.Errorf("no data gave a pass at %v", e.Time)
				}
			}
			if got := decided.Sub(t0); got != tc.decided {
				t.Errorf("rollback decided after %v, want %v", got, tc.decided)
			}
		})
	}
}

func TestSinkFailureLosesNothing(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.05, 500))
	var got []rollback.Event
	down := true
	h.cfg.Sink = rollback.SinkFunc(func(_ context.Context, e rollback.Event) error {
		if down {
			return errors.New("disk full")
		}
		got = append(got, e)
		return nil
	})
	r := h.build(t)
	now := t0
	for i := 0; i < 4; i++ {
		if _, err := r.Step(ctx, now); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("Step with a failing sink = %v", err)
		}
		now = now.Add(time.Minute)
	}
	// Restart from a snapshot while the sink is still down: nothing is lost.
	r2, err := rollback.Restore(h.cfg, mustSnapshot(t, r))
	if err != nil {
		t.Fatal(err)
	}
	down = false
	run(t, r2, now, now.Add(time.Hour))
	if len(got) == 0 {
		t.Fatal("no events delivered")
	}
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has Seq %d: events were lost or reordered", i, e.Seq)
		}
	}
	if last := got[len(got)-1]; last.To != rollback.RolledBack {
		t.Errorf("last event %+v, want the rollback", last)
	}
}

func mustSnapshot(t testing.TB, r *rollback.Rollout) []byte {
	t.Helper()
	b, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBadInput(t *testing.T) {
	base := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0, 1)).cfg
	for _, tc := range []struct {
		field string
		edit  func(c *rollback.Config)
	}{
		{"Plan.Stages", func(c *rollback.Config) { c.Plan.Stages = nil }},
		{"Plan.Stages[1].Weight", func(c *rollback.Config) { c.Plan.Stages = rollback.Weights(50, 10) }},
		{"Plan.Stages[1].Weight", func(c *rollback.Config) { c.Plan.Stages = rollback.Weights(50, 50) }},
		{"Plan.Stages[0].Weight", func(c *rollback.Config) { c.Plan.Stages = rollback.Weights(120) }},
		{"Plan.Stages[0].Weight", func(c *rollback.Config) { c.Plan.Stages = rollback.Weights(0, 10) }},
		{"Plan.Stages[0].Hold", func(c *rollback.Config) { c.Plan.Stages = []rollback.Stage{{Weight: 5, Hold: -1}} }},
		{"Plan.Interval", func(c *rollback.Config) { c.Plan.Interval = 0 }},
		{"Plan.Interval", func(c *rollback.Config) { c.Plan.Interval = -time.Second }},
		{"Plan.Hold", func(c *rollback.Config) { c.Plan.Hold = -time.Second }},
		{"Plan.ProgressDeadline", func(c *rollback.Config) { c.Plan.ProgressDeadline = -1 }},
		{"Plan.StageWeight", func(c *rollback.Config) { c.Plan.StageWeight = 10 }},
		{"Plan.MaxWeight", func(c *rollback.Config) { c.Plan.Stages, c.Plan.StageWeight, c.Plan.MaxWeight = nil, 10, 110 }},
		{"Plan.StageWeight", func(c *rollback.Config) { c.Plan.Stages, c.Plan.StageWeight, c.Plan.MaxWeight = nil, -5, 50 }},
		{"Plan.ZeroTraffic.Mirror", func(c *rollback.Config) { c.Plan.ZeroTraffic = &rollback.ZeroTraffic{Duration: time.Hour, Mirror: 101} }},
		{"Split.TestRoute.Name", func(c *rollback.Config) {
			c.Plan.ZeroTraffic = &rollback.ZeroTraffic{Duration: time.Hour, TestRoute: traffic.HeaderRoute{Name: "a b", Value: "x"}}
		}},
		{"Policy.FailureLimit", func(c *rollback.Config) { c.Policy.FailureLimit = -1 }},
		{"Policy.NoDataAfter", func(c *rollback.Config) { c.Policy.NoData = analysis.FailAfterNoData }},
		{"Policy.Counting", func(c *rollback.Config) { c.Policy.Counting = 7 }},
		{"Config.Router", func(c *rollback.Config) { c.Router = nil }},
		{"Config.Analyzer", func(c *rollback.Config) { c.Analyzer = nil }},
		{"Config.Metrics[0].Provider", func(c *rollback.Config) { c.Metrics = []rollback.Metric{{Name: "x", Query: errTmpl}} }},
		{"Vars.Version", func(c *rollback.Config) { c.Target.Canary.Version = `v2"} or vector(0) #` }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			c := base
			c.Plan.Stages = append([]rollback.Stage(nil), base.Plan.Stages...)
			tc.edit(&c)
			_, err := rollback.New(c)
			var fe *canary.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("New = %v, want a *canary.FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("error names %q (%v), want %q", fe.Field, err, tc.field)
			}
		})
	}
}

func TestRestoreRefusesBadSnapshots(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	r := h.build(t)
	r.Step(ctx, t0)
	good := string(mustSnapshot(t, r))
	for name, snap := range map[string]string{
		"unknown phase":    strings.Replace(good, `"phase":"progressing"`, `"phase":"exploding"`, 1),
		"unknown field":    strings.Replace(good, `{"format":2`, `{"format":2,"colour":"blue"`, 1),
		"step out of plan": strings.Replace(good, `"stage":0`, `"stage":9`, 1),
		"weight over 100":  strings.Replace(good, `"weight":10`, `"weight":101`, 1),
		"other format":     strings.Replace(good, `"format":2`, `"format":1`, 1),
		// Issue 9: states that used to be accepted and then panicked.
		"progressing before the first stage":           strings.Replace(good, `"stage":0`, `"stage":-1`, 1),
		"a weight the plan does not have":              strings.Replace(good, `"weight":10`, `"weight":70`, 1),
		"paused, resuming to validation without one":   strings.Replace(good, `"phase":"progressing"`, `"phase":"paused","resumeTo":"validating"`, 1),
		"paused, resuming to a gate without a request": strings.Replace(good, `"phase":"progressing"`, `"phase":"paused","resumeTo":"awaiting-approval"`, 1),
		"awaiting approval without a request":          strings.Replace(good, `"phase":"progressing"`, `"phase":"awaiting-approval"`, 1),
		"another plan":                                 strings.Replace(good, `"plan":"`, `"plan":"0`, 1),
		"a wrong intent":                               strings.Replace(good, `"phase":"progressing"`, `"phase":"progressing","intent":{"stable":50,"canary":50}`, 1),
		"not json":                                     "{",
		"trailing data":                                good + "{}",
	} {
		if snap == good {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		if _, err := rollback.Restore(h.cfg, []byte(snap)); !errors.Is(err, canary.ErrInvalid) {
			t.Errorf("%s: Restore = %v, want ErrInvalid", name, err)
		}
	}
	h.cfg.Name = "payments"
	if _, err := rollback.Restore(h.cfg, []byte(good)); !errors.Is(err, canary.ErrInvalid) {
		t.Error("restoring another rollout's snapshot succeeded")
	}
}

// randomScenario builds a random plan, policy and canary series from seed.
func randomScenario(seed uint64) (rollback.Plan, rollback.Policy, fake.Series) {
	rng := rand.New(rand.NewPCG(seed, 7))
	var w []int
	for x := 0; ; {
		x += 1 + rng.IntN(30)
		if x >= 100 || len(w) == 6 {
			break
		}
		w = append(w, x)
	}
	if len(w) == 0 {
		w = []int{50}
	}
	plan := rollback.Plan{Stages: rollback.Weights(w...), Interval: time.Minute, Hold: time.Duration(1+rng.IntN(3)) * time.Minute,
		ProgressDeadline: time.Duration(2+rng.IntN(5)) * time.Minute}
	if rng.IntN(3) == 0 {
		plan.ZeroTraffic = &rollback.ZeroTraffic{Duration: time.Duration(1+rng.IntN(10)) * time.Minute}
	}
	policy := rollback.Policy{FailureLimit: 1 + rng.IntN(3), Counting: rollback.Counting(rng.IntN(2)), NoData: []analysis.NoDataPolicy{analysis.HoldOnNoData, analysis.FailOnNoData}[rng.IntN(2)]}
	failFrom := time.Duration(rng.IntN(40)) * time.Minute
	bad := rng.IntN(2) == 0
	gap := rng.IntN(4) == 0
	series := func(p fake.Point) (float64, int64, bool) {
		el := p.End.Sub(t0)
		if gap && el%(5*time.Minute) == 0 {
			return 0, 0, false
		}
		if bad && el >= failFrom {
			return 0.03 + float64(el%(7*time.Minute))/float64(time.Hour), 400, true
		}
		return 0.01 * float64(el%(3*time.Minute)) / float64(3*time.Minute), 400, true
	}
	return plan, policy, series
}

// TestProperties checks, over many random scenarios: the canary's weight
// never exceeds the plan's maximum before promotion; after a rollback
// decision the canary's weight is 0 at the end of every later step; and a
// rollout snapshotted, restored and continued takes the same actions as
// one that ran uninterrupted.
func TestProperties(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		plan, policy, series := randomScenario(seed)
		maxW := plan.Stages[len(plan.Stages)-1].Weight
		h := newHarness(plan, policy, series)
		r := h.build(t)
		decided := false
		now := t0
		var statuses []rollback.Status
		for i := 0; i < 200; i++ {
			st, _ := r.Step(ctx, now)
			statuses = append(statuses, st)
			if st.Phase == rollback.RollingBack || st.Phase == rollback.RolledBack {
				decided = true
			}
			if decided && (st.CanaryWeight != 0 || h.router.Current().Canary != 0) {
				t.Fatalf("seed %d: canary weight %d (router %v) after the rollback decision", seed, st.CanaryWeight, h.router.Current())
			}
			if st.Phase != rollback.Promoting && st.Phase != rollback.Succeeded && h.router.Current().Canary > maxW {
				t.Fatalf("seed %d: canary weight %d above the plan's maximum %d", seed, h.router.Current().Canary, maxW)
			}
			if st.Phase.Final() {
				break
			}
			now = st.Next
		}
		// Replay the same scenario, restoring from a snapshot at every step.
		h2 := newHarness(plan, policy, series)
		r2 := h2.build(t)
		now = t0
		for i, want := range statuses {
			st, _ := r2.Step(ctx, now)
			if !reflect.DeepEqual(st, want) {
				t.Fatalf("seed %d step %d: restored rollout status\n%+v\nwant\n%+v", seed, i, st, want)
			}
			snap := mustSnapshot(t, r2)
			var err error
			if r2, err = rollback.Restore(h2.cfg, snap); err != nil {
				t.Fatalf("seed %d: Restore: %v", seed, err)
			}
			now = st.Next
		}
		if a, b := splitsWritten(h.router), splitsWritten(h2.router); !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: restored run wrote %v, uninterrupted run %v", seed, b, a)
		}
		if !reflect.DeepEqual(eventKeys(h.events), eventKeys(h2.events)) {
			t.Fatalf("seed %d: the restored run's events differ", seed)
		}
	}
}

func splitsWritten(r *fake.Router) []traffic.Split {
	var out []traffic.Split
	for _, a := range r.Actions() {
		if a.Verb == "set" {
			out = append(out, a.Arg.(traffic.Split))
		}
	}
	return out
}

func eventKeys(ev []rollback.Event) []string {
	out := make([]string, len(ev))
	for i, e := range ev {
		b, _ := json.Marshal(e)
		out[i] = string(b)
	}
	return out
}
