package rollback_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/workload"
)

var (
	beta    = traffic.Match{Header: "x-beta", Kind: traffic.Regex, Value: ".*insider.*"}
	cookieM = traffic.Match{Cookie: "canary", Value: "always"}
)

func abPlan(iterations int, ms ...traffic.Match) rollback.Plan {
	return rollback.Plan{Interval: time.Minute, Strategy: rollback.StrategyABTest,
		ABTest: &rollback.ABTest{Cohort: ms, Iterations: iterations}}
}

func bgPlan(bg rollback.BlueGreen) rollback.Plan {
	return rollback.Plan{Interval: time.Minute, Strategy: rollback.StrategyBlueGreen, BlueGreen: &bg}
}

func affPlan() rollback.Plan {
	return rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute,
		SessionAffinity: &rollback.SessionAffinity{Cookie: "canary-session", MaxAge: time.Hour}}
}

func TestStrategyPlanErrors(t *testing.T) {
	tests := []struct {
		name  string
		plan  rollback.Plan
		field string
	}{
		{"unknown strategy", rollback.Plan{Interval: time.Minute, Stages: rollback.Weights(10), Strategy: "shadow"}, "Plan.Strategy"},
		{"abTest without its strategy", rollback.Plan{Interval: time.Minute, Stages: rollback.Weights(10), ABTest: &rollback.ABTest{Cohort: []traffic.Match{beta}}}, "Plan.ABTest"},
		{"abtest without ABTest", rollback.Plan{Interval: time.Minute, Strategy: rollback.StrategyABTest}, "Plan.ABTest"},
		{"negative iterations", abPlan(-1, beta), "Plan.ABTest.Iterations"},
		{"empty cohort", abPlan(0), "Plan.ABTest.Cohort"},
		{"five matches", abPlan(0, beta, beta, beta, beta, beta), "Plan.ABTest.Cohort"},
		{"cookie by regex", abPlan(0, traffic.Match{Cookie: "c", Kind: traffic.Regex, Value: "x"}), "Plan.ABTest.Cohort[0].Kind"},
		{"bad regex", abPlan(0, cookieM, traffic.Match{Header: "x-a", Kind: traffic.Regex, Value: "("}), "Plan.ABTest.Cohort[1].Value"},
		{"A/B with stages", func() rollback.Plan { p := abPlan(0, beta); p.Stages = rollback.Weights(10); return p }(), "Plan.Stages"},
		{"blueGreen without its strategy", rollback.Plan{Interval: time.Minute, Stages: rollback.Weights(10), BlueGreen: &rollback.BlueGreen{}}, "Plan.BlueGreen"},
		{"bluegreen without BlueGreen", rollback.Plan{Interval: time.Minute, Strategy: rollback.StrategyBlueGreen}, "Plan.BlueGreen"},
		{"mirror 101", bgPlan(rollback.BlueGreen{Mirror: 101}), "Plan.BlueGreen.Mirror"},
		{"bad preview header", bgPlan(rollback.BlueGreen{Preview: traffic.HeaderRoute{Name: "x y", Value: "1"}}), "Plan.BlueGreen.Preview.Name"},
		{"negative post-promotion", bgPlan(rollback.BlueGreen{PostPromotion: -time.Second}), "Plan.BlueGreen.PostPromotion"},
		{"negative scale-down delay", bgPlan(rollback.BlueGreen{ScaleDownDelay: -time.Second}), "Plan.BlueGreen.ScaleDownDelay"},
		{"blue/green with a zero-traffic phase", func() rollback.Plan {
			p := bgPlan(rollback.BlueGreen{})
			p.ZeroTraffic = &rollback.ZeroTraffic{Duration: time.Minute}
			return p
		}(), "Plan.ZeroTraffic"},
		{"blue/green with ApproveIncrease", func() rollback.Plan { p := bgPlan(rollback.BlueGreen{}); p.ApproveIncrease = true; return p }(), "Plan.ApproveIncrease"},
		{"affinity on an A/B test", func() rollback.Plan {
			p := abPlan(0, beta)
			p.SessionAffinity = &rollback.SessionAffinity{Cookie: "s"}
			return p
		}(), "Plan.SessionAffinity"},
		{"affinity cookie not a token", func() rollback.Plan { p := affPlan(); p.SessionAffinity.Cookie = "a b"; return p }(), "Plan.SessionAffinity.Cookie"},
		{"affinity age below a second", func() rollback.Plan { p := affPlan(); p.SessionAffinity.MaxAge = time.Millisecond; return p }(), "Plan.SessionAffinity.MaxAge"},
		{"affinity age above a week", func() rollback.Plan { p := affPlan(); p.SessionAffinity.MaxAge = 8 * 24 * time.Hour; return p }(), "Plan.SessionAffinity.MaxAge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.plan.Validate()
			var fe *canary.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate = %v, want a FieldError for %s", err, tt.field)
			}
			h := newHarness(tt.plan, rollback.Policy{}, fake.Constant(0.001, 500))
			if _, err := rollback.New(h.cfg); !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("New = %v, want a FieldError for %s", err, tt.field)
			}
		})
	}
}

// memDriver is an in-memory traffic.Driver with no Featurer (it carries
// no cohort nor affinity) that refuses a mirror, as App Mesh does.
type memDriver struct {
	mu    sync.Mutex
	split traffic.Split
	n     int
}

func (d *memDriver) Read(context.Context) (traffic.Split, traffic.Revision, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.split, d.n, nil
}

func (d *memDriver) Write(_ context.Context, v traffic.Revision, s traffic.Split) (traffic.Split, traffic.Revision, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.split = s
	d.n++
	return s, d.n, nil
}

func (d *memDriver) ErrorCode(err error) canary.ErrorCode { return canary.Code(err) }

func (d *memDriver) Check(s traffic.Split) error {
	if s.Mirror != 0 {
		return canary.Invalid("Split.Mirror", s.Mirror, "the mem route cannot mirror requests")
	}
	return nil
}

// A router that cannot express a shape refuses the plan at New and Open,
// naming the plan's field and the router, before anything is written.
func TestStrategyRouterRefusesPlan(t *testing.T) {
	tests := []struct {
		name  string
		plan  rollback.Plan
		field string
		why   string
	}{
		{"cookie cohort", abPlan(0, beta, cookieM), "Plan.ABTest.Cohort[0].Header", "VirtualService shop/reviews cannot route by header"},
		{"session affinity", affPlan(), "Plan.SessionAffinity", "VirtualService shop/reviews cannot keep sessions on a version"},
		{"blue/green mirror", bgPlan(rollback.BlueGreen{Mirror: 10}), "Plan.BlueGreen.Mirror", "the mem route cannot mirror requests"},
		{"zero-traffic mirror", rollback.Plan{Stages: rollback.Weights(10), Interval: time.Minute,
			ZeroTraffic: &rollback.ZeroTraffic{Duration: time.Minute, Mirror: 5}}, "Plan.ZeroTraffic.Mirror", "cannot mirror"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &memDriver{split: traffic.AllStable()}
			h := newHarness(tt.plan, rollback.Policy{}, fake.Constant(0.001, 500))
			h.cfg.Router = traffic.NewRouter(d, traffic.Config{Name: "VirtualService shop/reviews"})
			var fe *canary.FieldError
			_, err := rollback.New(h.cfg)
			if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("New = %v, want a FieldError for %s saying %q", err, tt.field, tt.why)
			}
			h.cfg.Store = &store.Memory{}
			if _, err := rollback.Open(context.Background(), h.cfg); !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Open = %v, want a FieldError for %s", err, tt.field)
			}
			if d.n != 0 {
				t.Fatalf("%d writes before the refusal", d.n)
			}
			// The in-memory fake carries every shape.
			h.cfg.Router, h.cfg.Store = fake.NewRouter(), nil
			if _, err := rollback.New(h.cfg); err != nil {
				t.Fatalf("New over fake.Router: %v", err)
			}
		})
	}
	// A weighted canary without a mirror still runs over the limited router.
	h := newHarness(rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute}, rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Router = traffic.NewRouter(&memDriver{split: traffic.AllStable()}, traffic.Config{Name: "VirtualService shop/reviews"})
	if _, err := rollback.New(h.cfg); err != nil {
		t.Fatalf("New of a plain canary: %v", err)
	}
}

// switchedBad is a canary series that is good (0.1 %) until the canary
// takes every request, and bad (5 %) then.
func switchedBad(p fake.Point) (float64, int64, bool) {
	if p.CanaryWeight == 100 {
		return 0.05, 500, true
	}
	return 0.001, 500, true
}

// splits returns the splits written to r, in order.
func splits(r *fake.Router) []traffic.Split {
	var out []traffic.Split
	for _, a := range r.Actions() {
		if a.Verb == "set" && a.Err == nil {
			out = append(out, a.Arg.(traffic.Split))
		}
	}
	return out
}

func TestStrategies(t *testing.T) {
	cohort, _ := traffic.NewCohort(beta, cookieM)
	preview := traffic.HeaderRoute{Name: "x-preview", Value: "yes"}
	tests := []struct {
		name   string
		plan   rollback.Plan
		canary fake.Series
		want   rollback.Phase
		// writes are the splits written, in order (affinity values
		// left out: checked on their own).
		writes []traffic.Split
		// stable is the stable version's replicas at the end.
		stable int32
	}{
		{"A/B, good", abPlan(3, beta, cookieM), fake.Constant(0.001, 500), rollback.Succeeded,
			[]traffic.Split{{Stable: 100, Cohort: cohort}, traffic.Weighted(100)}, 4},
		{"A/B, bad", abPlan(3, beta, cookieM), fake.Constant(0.05, 500), rollback.RolledBack,
			[]traffic.Split{{Stable: 100, Cohort: cohort}, traffic.AllStable()}, 4},
		{"blue/green, good", bgPlan(rollback.BlueGreen{Preview: preview, Mirror: 10, PrePromotion: 2 * time.Minute, PostPromotion: 2 * time.Minute, ScaleDownDelay: 3 * time.Minute}),
			fake.Constant(0.001, 500), rollback.Succeeded,
			[]traffic.Split{{Stable: 100, Mirror: 10, TestRoute: preview}, traffic.Weighted(100)}, 0},
		{"blue/green, bad before the switch", bgPlan(rollback.BlueGreen{Preview: preview, PrePromotion: 5 * time.Minute}),
			fake.Constant(0.05, 500), rollback.RolledBack,
			[]traffic.Split{{Stable: 100, TestRoute: preview}, traffic.AllStable()}, 4},
		{"blue/green, bad after the switch", bgPlan(rollback.BlueGreen{Preview: preview, PostPromotion: 5 * time.Minute}),
			switchedBad, rollback.RolledBack,
			[]traffic.Split{{Stable: 100, TestRoute: preview}, traffic.Weighted(100), traffic.AllStable()}, 4},
		{"session affinity, good", affPlan(), fake.Constant(0.001, 500), rollback.Succeeded,
			[]traffic.Split{traffic.Weighted(10), traffic.Weighted(50), traffic.Weighted(100)}, 4},
		{"session affinity, bad", affPlan(), fake.Constant(0.05, 500), rollback.RolledBack,
			[]traffic.Split{traffic.Weighted(10), traffic.AllStable()}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(tt.plan, rollback.Policy{}, tt.canary)
			r := h.build(t)
			seen := run(t, r, t0, t0.Add(2*time.Hour))
			last := seen[len(seen)-1]
			if last.Phase != tt.want {
				t.Fatalf("ended %v (%s), want %v", last.Phase, last.Reason, tt.want)
			}
			if last.Strategy == "" || last.Strategy == rollback.StrategyCanary && tt.plan.SessionAffinity == nil {
				t.Errorf("Status.Strategy = %q", last.Strategy)
			}
			got := splits(h.router)
			value := r.State().AffinityValue
			for i := range got {
				if a := got[i].Affinity; !a.IsZero() {
					if a.Cookie != "canary-session" || a.Value != value || a.MaxAge != 3600 || len(value) != 16 {
						t.Errorf("write %d carries affinity %+v, want cookie canary-session=%s for 3600 s", i, a, value)
					}
					if got[i].Canary == 0 || got[i].Canary == 100 {
						t.Errorf("write %d: affinity on %v", i, got[i])
					}
					got[i].Affinity = traffic.Affinity{}
				} else if tt.plan.SessionAffinity != nil && got[i].Canary > 0 && got[i].Canary < 100 {
					t.Errorf("write %d: %v carries no affinity", i, got[i])
				}
			}
			if len(got) != len(tt.writes) {
				t.Fatalf("writes %v, want %v", got, tt.writes)
			}
			for i := range got {
				if got[i] != tt.writes[i] {
					t.Fatalf("write %d is %v, want %v (all: %v)", i, got[i], tt.writes[i], got)
				}
			}
			if n := h.scaler.Current(workload.Stable); n != tt.stable {
				t.Errorf("stable has %d replicas, want %d", n, tt.stable)
			}
			// Blue/green: the old version is scaled down only after the
			// switch was analysed, never before a switch back.
			switched, scaledDown := false, false
			for _, e := range h.events {
				if e.Kind == rollback.KindAction && e.Action == "set-split" && strings.HasPrefix(e.Reason, "switch back") {
					if scaledDown {
						t.Errorf("switched back after the old version was scaled down")
					}
				}
				if e.Kind == rollback.KindAction && e.Action == "set-split" && strings.HasPrefix(e.Reason, "switch:") {
					switched = true
				}
				if e.Kind == rollback.KindAction && e.Action == "scale-stable" {
					scaledDown = true
				}
			}
			bg := tt.plan.Strategy == rollback.StrategyBlueGreen
			if wantSwitch := bg && tt.writes[1] == traffic.Weighted(100); switched != wantSwitch {
				t.Errorf("switch event %v, want %v", switched, wantSwitch)
			}
			if scaledDown != (bg && tt.want == rollback.Succeeded) {
				t.Errorf("scale-stable event %v", scaledDown)
			}
		})
	}
}

// A/B: no promotion before Iterations analyses, however good the canary.
func TestABTestIterations(t *testing.T) {
	h := newHarness(abPlan(4, beta), rollback.Policy{}, fake.Constant(0.001, 500))
	r := h.build(t)
	seen := run(t, r, t0, t0.Add(time.Hour))
	if last := seen[len(seen)-1]; last.Phase != rollback.Succeeded {
		t.Fatalf("ended %v", last.Phase)
	}
	for _, e := range h.events {
		if e.Kind == rollback.KindTransition && e.To == rollback.Promoting {
			if e.Time.Sub(t0) != 4*time.Minute {
				t.Errorf("promoted at +%v, want +4m (four analyses)", e.Time.Sub(t0))
			}
		}
	}
}

// Blue/green: a failure after the switch switches back in one write,
// while the old version still runs all its replicas; a restart after the
// switch back writes no canary traffic again.
func TestBlueGreenSwitchBackRestart(t *testing.T) {
	ctx := context.Background()
	h := newHarness(bgPlan(rollback.BlueGreen{PostPromotion: 10 * time.Minute}), rollback.Policy{FailureLimit: 1}, switchedBad)
	h.cfg.Store = &store.Memory{}
	r := h.build(t)
	now := t0
	for i := 0; i < 100; i++ {
		st, err := r.Step(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if st.Phase == rollback.RollingBack || st.Phase.Final() {
			break
		}
		now = st.Next
	}
	got := splits(h.router)
	if len(got) != 3 || got[0] != traffic.AllStable() || got[1] != traffic.Weighted(100) || got[2] != traffic.AllStable() {
		t.Fatalf("writes %v, want preview, the switch, the switch back", got)
	}
	for _, a := range h.scaler.Actions() {
		if a.Verb == "scale" && a.Arg == "stable=0" {
			t.Fatalf("the old version was scaled down: %v", h.scaler.Actions())
		}
	}
	if n := h.scaler.Current(workload.Stable); n != 4 {
		t.Fatalf("the old version runs %d replicas, want its 4", n)
	}
	writes := h.router.Writes()
	r2, err := rollback.Open(ctx, h.cfg)
	if err != nil && !errors.Is(err, rollback.ErrFinished) {
		t.Fatal(err)
	}
	run(t, r2, now.Add(time.Second), now.Add(time.Hour))
	if h.router.Current() != traffic.AllStable() || h.router.Writes() != writes {
		t.Fatalf("after the restart: %d writes (was %d), %v in force", h.router.Writes(), writes, h.router.Current())
	}
}

// Session affinity: the cookie's value is chosen once per rollout, kept
// across a restart, and differs between rollouts.
func TestSessionAffinityValue(t *testing.T) {
	ctx := context.Background()
	h := newHarness(affPlan(), rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Store = &store.Memory{}
	r := h.build(t)
	if _, err := r.Step(ctx, t0); err != nil {
		t.Fatal(err)
	}
	v := r.State().AffinityValue
	if len(v) != 16 || h.router.Current().Affinity.Value != v {
		t.Fatalf("value %q, in force %+v", v, h.router.Current().Affinity)
	}
	r2, err := rollback.Open(ctx, h.cfg) // a new process
	if err != nil {
		t.Fatal(err)
	}
	if got := r2.State().AffinityValue; got != v {
		t.Fatalf("after a restart the value is %q, was %q", got, v)
	}
	run(t, r2, t0.Add(time.Minute), t0.Add(time.Hour))
	for _, s := range splits(h.router) {
		if s.Canary > 0 && s.Canary < 100 && s.Affinity.Value != v {
			t.Fatalf("a write after the restart carries %q, want %q", s.Affinity.Value, v)
		}
	}
	h2 := newHarness(affPlan(), rollback.Policy{}, fake.Constant(0.001, 500))
	r3 := h2.build(t)
	r3.Step(ctx, t0.Add(24*time.Hour))
	if w := r3.State().AffinityValue; w == v || len(w) != 16 {
		t.Fatalf("another rollout's value %q (this one's %q)", w, v)
	}
}

// The shapes' plans leave a weighted canary's fingerprint as it was: a
// state saved before strategies existed still opens.
func TestStrategyFingerprintUnchanged(t *testing.T) {
	h := newHarness(rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute}, rollback.Policy{}, fake.Constant(0.001, 500))
	r := h.build(t)
	// 5e98692d263159d8 is this plan's fingerprint before strategies
	// existed (commit 7a42205).
	if got := r.State().Plan; got != "5e98692d263159d8" {
		t.Errorf("a weighted canary's fingerprint is %s, was 5e98692d263159d8", got)
	}
	for _, p := range []rollback.Plan{abPlan(0, beta), bgPlan(rollback.BlueGreen{}), affPlan()} {
		h := newHarness(p, rollback.Policy{}, fake.Constant(0.001, 500))
		if fp := h.build(t).State().Plan; fp == r.State().Plan {
			t.Errorf("plan %+v has a weighted canary's fingerprint", p)
		}
	}
}

// Blue/green's post-promotion analysis is Config.PostPromotionAnalyzer's,
// from an empty memory; before the switch, Config.Analyzer's.
func TestPostPromotionAnalyzer(t *testing.T) {
	var pre, post []int
	var postMemory []string
	h := newHarness(bgPlan(rollback.BlueGreen{PostPromotion: 3 * time.Minute}), rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.Analyzer = analysis.AnalyzerFunc(func(_ context.Context, in analysis.Input) (analysis.Verdict, error) {
		pre = append(pre, in.CanaryWeight)
		return analysis.Verdict{Outcome: analysis.Pass, Memory: []byte(`{"pre":1}`)}, nil
	})
	h.cfg.PostPromotionAnalyzer = analysis.AnalyzerFunc(func(_ context.Context, in analysis.Input) (analysis.Verdict, error) {
		post = append(post, in.CanaryWeight)
		postMemory = append(postMemory, string(in.Memory))
		return analysis.Verdict{Outcome: analysis.Pass, Memory: []byte(`{"post":1}`)}, nil
	})
	r := h.build(t)
	if st := r.Status(t0); st.Strategy != rollback.StrategyBlueGreen || !strings.HasPrefix(st.Shape, "blue/green: the new version is analysed before the switch") {
		t.Errorf("a pending blue/green's status: %q, %q", st.Strategy, st.Shape)
	}
	seen := run(t, r, t0, t0.Add(time.Hour))
	if last := seen[len(seen)-1]; last.Phase != rollback.Succeeded {
		t.Fatalf("ended %v", last.Phase)
	}
	if len(pre) != 1 || pre[0] != 0 || len(post) != 3 || post[0] != 100 || postMemory[0] != "" || postMemory[1] != `{"post":1}` {
		t.Fatalf("before the switch %v, after %v with memory %q", pre, post, postMemory)
	}
	// Only a blue/green plan has one.
	h = newHarness(affPlan(), rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.PostPromotionAnalyzer = h.cfg.Analyzer
	var fe *canary.FieldError
	if _, err := rollback.New(h.cfg); !errors.As(err, &fe) || fe.Field != "Config.PostPromotionAnalyzer" {
		t.Fatalf("New = %v", err)
	}
	h = newHarness(bgPlan(rollback.BlueGreen{}), rollback.Policy{}, fake.Constant(0.001, 500))
	h.cfg.PostPromotionAnalyzer = analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("latency", 0.5)}}
	if _, err := rollback.New(h.cfg); !errors.As(err, &fe) || fe.Field != "Config.PostPromotionAnalyzer" {
		t.Fatalf("New with an analyzer reading an unmeasured metric = %v", err)
	}
}

// A started rollout is resumed over a router that cannot express its
// plan (a rollback must reach it): Open succeeds, the next Step reports
// the refusal, and an Abort writes all-stable to it. One that has not
// started is refused.
func TestResumeOverLimitedRouter(t *testing.T) {
	ctx := context.Background()
	h := newHarness(abPlan(5, cookieM), rollback.Policy{}, fake.Constant(0.001, 500))
	st := &store.Memory{}
	h.cfg.Store = st
	r := h.build(t)
	if _, err := r.Step(ctx, t0); err != nil {
		t.Fatal(err)
	}
	d := &memDriver{split: h.router.Current()}
	h.cfg.Router = traffic.NewRouter(d, traffic.Config{Name: "VirtualService shop/reviews"})
	r2, err := rollback.Open(ctx, h.cfg)
	if err != nil {
		t.Fatalf("Open of a started rollout: %v", err)
	}
	var fe *canary.FieldError
	if _, err := r2.Step(ctx, t0.Add(time.Second)); !errors.As(err, &fe) || fe.Field != "Plan.ABTest.Cohort[0].Cookie" {
		t.Fatalf("first Step = %v, want the router's refusal", err)
	}
	if st, err := r2.Abort(ctx, t0.Add(2*time.Second), "alice", "router changed"); err != nil || st.Phase != rollback.RolledBack {
		t.Fatalf("Abort = %v, %v", st.Phase, err)
	}
	if d.split != traffic.AllStable() {
		t.Fatalf("the limited router holds %v", d.split)
	}
	// Not started: refused.
	h2 := newHarness(abPlan(5, cookieM), rollback.Policy{}, fake.Constant(0.001, 500))
	snap, _ := h2.build(t).Snapshot()
	h2.cfg.Router = traffic.NewRouter(&memDriver{split: traffic.AllStable()}, traffic.Config{Name: "VirtualService shop/reviews"})
	if _, err := rollback.Restore(h2.cfg, snap); !errors.As(err, &fe) {
		t.Fatalf("Restore of a pending rollout = %v", err)
	}
}
