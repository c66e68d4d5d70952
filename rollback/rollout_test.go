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
)

var ctx = context.Background()

func stepsPlan(w ...int) rollback.Plan {
	return rollback.Plan{Steps: rollback.Weights(w...), Interval: time.Minute, Hold: 2 * time.Minute}
}

func TestHealthyCanaryIsPromoted(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.004, 500))
	r := h.build(t)
	seen := run(t, r, t0, t0.Add(time.Hour))
	last := seen[len(seen)-1]
	if last.Phase != rollback.Succeeded || last.Split != traffic.Weighted(100) {
		t.Fatalf("final status %+v, want succeeded at 100 %%", last)
	}
	want := []string{"progressing", "progressing", "promoting", "succeeded"}
	if got := transitions(h.events); !reflect.DeepEqual(got, want) {
		t.Errorf("transitions %v, want %v", got, want)
	}
	// 10 % holds 2 min, 50 % holds 2 min: promotion at t0+4m.
	for _, e := range h.events {
		if e.Kind == rollback.Transition && e.To == rollback.Promoting && !e.Time.Equal(t0.Add(4*time.Minute)) {
			t.Errorf("promoted at %v, want %v", e.Time, t0.Add(4*time.Minute))
		}
	}
	// Writes: 10, 50, 100 and one release; never anything else.
	var writes []traffic.Split
	for _, a := range h.router.Actions() {
		if a.Verb == "set" {
			writes = append(writes, a.Arg.(traffic.Split))
		}
	}
	if want := []traffic.Split{traffic.Weighted(10), traffic.Weighted(50), traffic.Weighted(100)}; !reflect.DeepEqual(writes, want) {
		t.Errorf("router writes %v, want %v", writes, want)
	}
	if h.scaler.Current(rollback.Canary) != 1 {
		t.Errorf("a promoted canary must not be scaled down")
	}
}

func TestBadCanaryIsRolledBack(t *testing.T) {
	h := newHarness(stepsPlan(2, 5, 10, 20, 30, 50), rollback.Policy{}, fake.Constant(0.05, 500))
	r := h.build(t)
	seen := run(t, r, t0, t0.Add(time.Hour))
	last := seen[len(seen)-1]
	if last.Phase != rollback.RolledBack {
		t.Fatalf("final phase %v, want rolled-back; reason %q", last.Phase, last.Reason)
	}
	if got := h.router.Current(); !got.Equal(traffic.AllStable()) {
		t.Errorf("router split %v, want all stable", got)
	}
	if h.scaler.Current(rollback.Canary) != 0 || h.scaler.Current(rollback.Stable) != 4 {
		t.Errorf("replicas canary %d stable %d, want 0 and 4", h.scaler.Current(rollback.Canary), h.scaler.Current(rollback.Stable))
	}
	// Two failed analyses at t0+1m and t0+2m: the rollback decision at t0+2m.
	var decided time.Time
	for _, e := range h.events {
		if e.Kind == rollback.Transition && e.To == rollback.RollingBack {
			decided = e.Time
		}
	}
	if !decided.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("rollback decided at %v, want %v", decided, t0.Add(2*time.Minute))
	}
	// The rollback is one write sending everything to stable.
	sets := 0
	for _, a := range h.router.Actions() {
		if a.Verb == "set" {
			sets++
		}
	}
	if sets != 2 {
		t.Errorf("%d router writes, want 2 (2 %%, then all stable)", sets)
	}
	if !strings.Contains(last.Reason, "2 failed analyses") {
		t.Errorf("reason %q does not say why", last.Reason)
	}
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
	if h.router.Current().Canary != 0 || h.scaler.Current(rollback.Canary) != 0 {
		t.Fatalf("not rolled back: router %v, canary replicas %d", h.router.Current(), h.scaler.Current(rollback.Canary))
	}
	if _, err := r.Abort(ctx, now, "carol", "again"); err != nil {
		t.Errorf("a second Abort = %v, want harmless", err)
	}
	var manual *rollback.Event
	for i := range h.events {
		if h.events[i].Kind == rollback.Manual {
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
	plan := rollback.Plan{Steps: rollback.Weights(10, 20, 30, 40, 50), Interval: time.Minute, Hold: 3 * time.Minute}
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
	plan := rollback.Plan{Steps: rollback.Weights(10, 50), Interval: time.Minute, ProgressDeadline: 5 * time.Minute}
	for _, tc := range []struct {
		policy  rollback.Policy
		want    rollback.Phase
		decided time.Duration
	}{
		// Hold: nothing passes; the progress deadline (hold 1m + 5m) rolls
		// back with RollBackAtDeadline (by default it pauses for a person).
		{rollback.Policy{AtDeadline: rollback.RollBackAtDeadline}, rollback.RolledBack, 6 * time.Minute},
		{rollback.Policy{NoData: rollback.FailNoData}, rollback.RolledBack, 2 * time.Minute},
		{rollback.Policy{NoData: rollback.FailAfter, NoDataAfter: 2}, rollback.RolledBack, 4 * time.Minute},
	} {
		t.Run(fmt.Sprintf("%+v", tc.policy), func(t *testing.T) {
			h := newHarness(plan, tc.policy, fake.NoData())
			r := h.build(t)
			run(t, r, t0, t0.Add(time.Hour))
			var decided time.Time
			for _, e := range h.events {
				if e.Kind == rollback.Transition && e.To == rollback.RollingBack {
					decided = e.Time
				}
				if e.Kind == rollback.Verdict && e.Verdict.Outcome == analysis.Pass {
					t.Errorf("no data gave a pass at %v", e.Time)
				}
			}
			if got := decided.Sub(t0); got != tc.decided {
				t.Errorf("rollback decided after %v, want %v", got, tc.decided)
			}
		})
	}
}

func TestGates(t *testing.T) {
	plan := stepsPlan(10, 50)
	plan.ApproveIncrease, plan.ApprovePromotion = true, true
	h := newHarness(plan, rollback.Policy{}, fake.Constant(0.001, 500))
	r := h.build(t)
	st, _ := r.Step(ctx, t0)
	if st.Phase != rollback.AwaitingApproval || st.Gate.Kind != rollback.BeforeIncrease || st.Gate.To != 10 {
		t.Fatalf("first step: %+v, want awaiting approval to 10 %%", st)
	}
	if st.Split != traffic.AllStable() {
		t.Fatalf("a gated rollout sent traffic to the canary: %v", st.Split)
	}
	st, err := r.Approve(ctx, t0.Add(time.Minute), "alice", "CAB-1234")
	if err != nil || st.Phase != rollback.Progressing || st.Split != traffic.Weighted(10) {
		t.Fatalf("after Approve: %+v %v", st, err)
	}
	// The next rise waits for the fake gate (a ticket system).
	h.cfg.Gate = h.gate
	r2, _ := rollback.Restore(h.cfg, mustSnapshot(t, r))
	now := t0.Add(time.Minute)
	for i := 0; i < 10; i++ {
		now = now.Add(time.Minute)
		st, _ = r2.Step(ctx, now)
	}
	if st.Phase != rollback.AwaitingApproval || st.Gate.To != 50 {
		t.Fatalf("without approval: %+v", st)
	}
	h.gate.Approve(rollback.BeforeIncrease, "ticket-bot", "CHG-42 approved")
	st, _ = r2.Step(ctx, now.Add(time.Second))
	if st.Phase != rollback.Progressing || st.CanaryWeight != 50 {
		t.Fatalf("after the gate approved: %+v", st)
	}
	seen := run(t, r2, now.Add(time.Second), now.Add(time.Hour))
	if last := seen[len(seen)-1]; last.Phase != rollback.AwaitingApproval || last.Gate.Kind != rollback.BeforePromotion {
		t.Fatalf("promotion not gated: %+v", last)
	}
	if _, err := r.Resume(ctx, now, "x", "y"); !errors.Is(err, rollback.ErrNotAllowed) {
		t.Errorf("Resume of an unpaused rollout = %v, want ErrNotAllowed", err)
	}
}

func TestZeroTrafficValidation(t *testing.T) {
	plan := stepsPlan(10, 50)
	route := &traffic.HeaderRoute{Name: "x-canary", Value: "smoke"}
	plan.ZeroTraffic = &rollback.ZeroTraffic{Duration: 48 * time.Hour, TestRoute: route}
	h := newHarness(plan, rollback.Policy{}, fake.Constant(0.001, 20))
	r := h.build(t)
	st, _ := r.Step(ctx, t0)
	want := traffic.Split{Stable: 100, TestRoute: route}
	if st.Phase != rollback.Validating || !st.Split.Equal(want) {
		t.Fatalf("first step %+v, want validating with the test route", st)
	}
	st, _ = r.Step(ctx, t0.Add(47*time.Hour))
	if st.Phase != rollback.Validating {
		t.Fatalf("left validation early: %v", st.Phase)
	}
	st, _ = r.Step(ctx, t0.Add(48*time.Hour))
	if st.Phase != rollback.Progressing || !st.Split.Equal(traffic.Weighted(10)) {
		t.Fatalf("after 48 h: %+v, want progressing at 10 %% without the test route", st)
	}
	plan.ZeroTraffic.Duration = 169 * time.Hour
	h.cfg.Plan = plan
	if _, err := rollback.New(h.cfg); !errors.Is(err, canary.ErrInvalid) || !strings.Contains(err.Error(), "ZeroTraffic.Duration") {
		t.Errorf("169 h validation = %v, want an error naming Plan.ZeroTraffic.Duration", err)
	}
}

func TestBadCanaryDuringValidationIsRolledBack(t *testing.T) {
	plan := stepsPlan(10)
	plan.ZeroTraffic = &rollback.ZeroTraffic{Duration: 24 * time.Hour, Mirror: 5}
	h := newHarness(plan, rollback.Policy{}, fake.Constant(0.3, 50))
	seen := run(t, h.build(t), t0, t0.Add(time.Hour))
	if last := seen[len(seen)-1]; last.Phase != rollback.RolledBack {
		t.Fatalf("final %v, want rolled-back", last.Phase)
	}
	for _, a := range h.router.Actions() {
		if s, ok := a.Arg.(traffic.Split); ok && a.Verb == "set" && s.Canary > 0 {
			t.Fatalf("production traffic reached a canary that failed validation: %v", s)
		}
	}
}

func TestReadinessDeadline(t *testing.T) {
	plan := stepsPlan(10, 50)
	plan.ProgressDeadline = 3 * time.Minute
	h := newHarness(plan, rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Readiness = h.scaler
	h.scaler.SetNotReady(rollback.Canary, "0 of 1 replicas available")
	seen := run(t, h.build(t), t0, t0.Add(time.Hour))
	last := seen[len(seen)-1]
	if last.Phase != rollback.RolledBack || !strings.Contains(last.Reason, "not ready") {
		t.Fatalf("final %+v, want rolled back for readiness", last)
	}
}

func TestManualOperations(t *testing.T) {
	h := newHarness(stepsPlan(10, 20, 30, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	r := h.build(t)
	r.Step(ctx, t0)
	st, err := r.SetWeight(ctx, t0.Add(time.Second), 25, "alice", "hold at 25 for the sale")
	if err != nil || st.Phase != rollback.Paused || st.Split != traffic.Weighted(25) {
		t.Fatalf("SetWeight: %+v %v", st, err)
	}
	if _, err := r.SetWeight(ctx, t0, 80, "alice", ""); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("SetWeight above the plan = %v, want ErrInvalid", err)
	}
	for i := 0; i < 20; i++ { // a paused rollout does not move
		st, _ = r.Step(ctx, t0.Add(time.Duration(i)*time.Minute))
	}
	if st.Phase != rollback.Paused || st.CanaryWeight != 25 {
		t.Fatalf("paused rollout moved: %+v", st)
	}
	now := t0.Add(30 * time.Minute)
	st, _ = r.Resume(ctx, now, "alice", "sale over")
	if st.Phase != rollback.Progressing || st.CanaryWeight != 25 {
		t.Fatalf("Resume: %+v", st)
	}
	st, _ = r.Step(ctx, now.Add(2*time.Minute))
	if st.CanaryWeight != 30 {
		t.Fatalf("after resume and a hold: weight %d, want 30 (the next step above 25)", st.CanaryWeight)
	}
	r.Pause(ctx, now.Add(3*time.Minute), "bob", "incident elsewhere")
	st, err = r.Promote(ctx, now.Add(4*time.Minute), "carol", "hotfix needed now")
	if err != nil || st.Phase != rollback.Succeeded || st.Split != traffic.Weighted(100) {
		t.Fatalf("Promote: %+v %v", st, err)
	}
	if _, err := r.Abort(ctx, now.Add(5*time.Minute), "dave", "too late"); !errors.Is(err, rollback.ErrNotAllowed) {
		t.Errorf("Abort after success = %v, want ErrNotAllowed", err)
	}
	actors := map[string]bool{}
	for _, e := range h.events {
		if e.Kind == rollback.Manual {
			actors[e.Actor+": "+e.Reason] = true
		}
	}
	for _, want := range []string{"alice: hold at 25 for the sale", "alice: sale over", "bob: incident elsewhere", "carol: hotfix needed now"} {
		if !actors[want] {
			t.Errorf("manual operation %q not in the audit trail", want)
		}
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
		{"Plan.Steps", func(c *rollback.Config) { c.Plan.Steps = nil }},
		{"Plan.Steps[1].Weight", func(c *rollback.Config) { c.Plan.Steps = rollback.Weights(50, 10) }},
		{"Plan.Steps[1].Weight", func(c *rollback.Config) { c.Plan.Steps = rollback.Weights(50, 50) }},
		{"Plan.Steps[0].Weight", func(c *rollback.Config) { c.Plan.Steps = rollback.Weights(120) }},
		{"Plan.Steps[0].Weight", func(c *rollback.Config) { c.Plan.Steps = rollback.Weights(0, 10) }},
		{"Plan.Steps[0].Hold", func(c *rollback.Config) { c.Plan.Steps = []rollback.Step{{Weight: 5, Hold: -1}} }},
		{"Plan.Interval", func(c *rollback.Config) { c.Plan.Interval = 0 }},
		{"Plan.Interval", func(c *rollback.Config) { c.Plan.Interval = -time.Second }},
		{"Plan.Hold", func(c *rollback.Config) { c.Plan.Hold = -time.Second }},
		{"Plan.ProgressDeadline", func(c *rollback.Config) { c.Plan.ProgressDeadline = -1 }},
		{"Plan.StepWeight", func(c *rollback.Config) { c.Plan.StepWeight = 10 }},
		{"Plan.MaxWeight", func(c *rollback.Config) { c.Plan.Steps, c.Plan.StepWeight, c.Plan.MaxWeight = nil, 10, 110 }},
		{"Plan.StepWeight", func(c *rollback.Config) { c.Plan.Steps, c.Plan.StepWeight, c.Plan.MaxWeight = nil, -5, 50 }},
		{"Plan.ZeroTraffic.Mirror", func(c *rollback.Config) { c.Plan.ZeroTraffic = &rollback.ZeroTraffic{Duration: time.Hour, Mirror: 101} }},
		{"Split.TestRoute.Name", func(c *rollback.Config) {
			c.Plan.ZeroTraffic = &rollback.ZeroTraffic{Duration: time.Hour, TestRoute: &traffic.HeaderRoute{Name: "a b", Value: "x"}}
		}},
		{"Policy.FailureLimit", func(c *rollback.Config) { c.Policy.FailureLimit = -1 }},
		{"Policy.NoDataAfter", func(c *rollback.Config) { c.Policy.NoData = rollback.FailAfter }},
		{"Policy.Counting", func(c *rollback.Config) { c.Policy.Counting = 7 }},
		{"Config.Router", func(c *rollback.Config) { c.Router = nil }},
		{"Config.Analyzer", func(c *rollback.Config) { c.Analyzer = nil }},
		{"Config.Metrics[0].Provider", func(c *rollback.Config) { c.Metrics = []rollback.Metric{{Name: "x", Query: errTmpl}} }},
		{"Vars.Version", func(c *rollback.Config) { c.Target.Canary.Version = `v2"} or vector(0) #` }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			c := base
			c.Plan.Steps = append([]rollback.Step(nil), base.Plan.Steps...)
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
		"unknown field":    strings.Replace(good, `{"format":1`, `{"format":1,"colour":"blue"`, 1),
		"step out of plan": strings.Replace(good, `"step":0`, `"step":9`, 1),
		"weight over 100":  strings.Replace(good, `"weight":10`, `"weight":101`, 1),
		"other format":     strings.Replace(good, `"format":1`, `"format":2`, 1),
		"not json":         "{",
		"trailing data":    good + "{}",
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
	plan := rollback.Plan{Steps: rollback.Weights(w...), Interval: time.Minute, Hold: time.Duration(1+rng.IntN(3)) * time.Minute,
		ProgressDeadline: time.Duration(2+rng.IntN(5)) * time.Minute}
	if rng.IntN(3) == 0 {
		plan.ZeroTraffic = &rollback.ZeroTraffic{Duration: time.Duration(1+rng.IntN(10)) * time.Minute}
	}
	policy := rollback.Policy{FailureLimit: 1 + rng.IntN(3), Counting: rollback.Counting(rng.IntN(2)), NoData: rollback.NoData(rng.IntN(2))}
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
		maxW := plan.Steps[len(plan.Steps)-1].Weight
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

func TestDeletedRouteRollsBack(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	r := h.build(t)
	r.Step(ctx, t0)
	r.Step(ctx, t0.Add(time.Minute))
	r.Step(ctx, t0.Add(2*time.Minute)) // 10 % → 50 %
	h.router.Delete()
	st, err := r.Step(ctx, t0.Add(3*time.Minute)) // an analysis is due: the route is read first
	if !errors.Is(err, traffic.ErrNotFound) {
		t.Fatalf("Step after the route was deleted = %v, want ErrNotFound", err)
	}
	if st.Phase != rollback.RollingBack || st.CanaryWeight != 0 || !strings.Contains(st.Reason, "route is gone") {
		t.Fatalf("after the route was deleted: %+v, want rolling back", st)
	}
	// The route cannot be written, but the canary is scaled down anyway.
	if h.scaler.Current(rollback.Canary) != 0 {
		t.Errorf("canary not scaled down while its route is missing")
	}
	if st, _ = r.Step(ctx, t0.Add(5*time.Minute)); st.Phase != rollback.RollingBack {
		t.Errorf("a rollback that could not write its route reports %v", st.Phase)
	}
	if n := h.scaler.Count("scale"); n != 2 {
		t.Errorf("%d scale calls, want 2 (canary down, stable restored), each once", n)
	}
}

func TestSplitChangedOutsideIsSetAgainNotJudged(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	r := h.build(t)
	r.Step(ctx, t0)
	// Someone edits the route by hand to 60 % canary.
	if err := h.router.SetSplit(ctx, traffic.Weighted(60)); err != nil {
		t.Fatal(err)
	}
	st, err := r.Step(ctx, t0.Add(time.Minute))
	if !errors.Is(err, traffic.ErrVerify) {
		t.Fatalf("Step over a changed split = %v, want ErrVerify", err)
	}
	if got := h.router.Current(); !got.Equal(traffic.Weighted(10)) {
		t.Errorf("the rollout did not set its split again: %v", got)
	}
	if st.Verdict != nil {
		t.Errorf("the canary was judged on a split the rollout did not set: %+v", st.Verdict)
	}
}
