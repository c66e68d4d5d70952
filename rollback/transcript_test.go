package rollback_test

// Rollouts as transcripts, in the manner of etcd-io/raft's datadriven
// tests (github.com/cockroachdb/datadriven's file format): each file in
// testdata/transcripts is a story of commands, each followed by "----" and
// the transcript it must produce — the rounds (each round's value, as the
// machine handed it to the driver: the saves, writes, scalings and
// deliveries it asks for, in order; rounds that only save are left out),
// verdicts, router writes, scalings, transitions and failures with their
// time offsets from the start. Run
// with -rewrite to regenerate the expected transcripts after a deliberate
// change, and read the diff.
//
// internal/datadriven reads and rewrites the files; the driver below
// parses each directive's arguments itself.
//
// Commands:
//
//	new stages=10,50 [hold=2m] [interval=1m] [deadline=10m] [limit=2]
//	    [zero=5m] [gate=increase|promotion|both] [on-failure=pause]
//	    [on-inconclusive=rollback] [counting=consecutive] [readiness] [store]
//	    [affinity=<cookie>]
//	new strategy=abtest cohort=header:x-beta:exact:yes[,cookie:canary:exact:always] [iterations=3] ...
//	new strategy=bluegreen [preview=x-preview:yes] [mirror=10] [pre=2m] [post=3m] [scale-down=5m] ...
//	traffic [canary-errors=5%] [stable-errors=0.5%] [requests=500] [canary=none]
//	    [switched-errors=5%] (the canary's errors once it takes 100 %)
//	step [until=<phase>|until=final] [for=10m] [to=+5m]
//	pause|resume|approve|promote|abort [actor=alice] [reason=...]
//	set-weight weight=20 [actor=alice]
//	gate approve=before-increase|before-promotion
//	ready no reason=CrashLoopBackOff | ready yes
//	route delete | route set canary=60 | route fail (the next write fails)
//	crash        (the process dies: the Rollout is dropped; needs store)
//	restore      (a new process opens the rollout from the store)
//	status

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/internal/datadriven"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/workload"
)

func TestTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata/transcripts", func(t *testing.T, path string) {
		d := &driver{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			d.t = t
			return d.run(td.Directive)
		})
	})
}

// driver runs one transcript.
type driver struct {
	t       *testing.T
	h       *harness
	r       *rollback.Rollout
	now     time.Time
	seen    int
	store   *store.Memory
	canary  fake.Series
	stable  fake.Series
	crashed bool
	rounds  []roundLine
}

// roundLine is a round's value as the rollout computed it, and how many
// events the sink had received then.
type roundLine struct {
	events int
	text   string
}

// watch has the transcript show r's rounds: each round that asks for
// more than a save, on one line, its tasks joined by "; ", before the
// events it delivers.
func (d *driver) watch(r *rollback.Rollout) {
	rollback.TraceRounds(r, func(round string) {
		tasks := strings.Split(strings.TrimSuffix(round, "\n"), "\n")
		for _, t := range tasks {
			if !strings.HasPrefix(t, "save ") && t != "nothing" {
				d.rounds = append(d.rounds, roundLine{len(d.h.events), "round: " + strings.Join(tasks, "; ")})
				return
			}
		}
	})
}

type args struct {
	pos []string
	kv  map[string]string
}

func parseArgs(fields []string) args {
	a := args{kv: map[string]string{}}
	for _, f := range fields {
		if k, v, ok := strings.Cut(f, "="); ok {
			a.kv[k] = v
		} else {
			a.pos = append(a.pos, f)
		}
	}
	return a
}

func (a args) has(k string) bool { _, ok := a.kv[k]; return ok || a.flag(k) }

func (a args) flag(k string) bool {
	for _, p := range a.pos {
		if p == k {
			return true
		}
	}
	return false
}

func (a args) dur(k string, def time.Duration) time.Duration {
	if v, ok := a.kv[k]; ok {
		d, err := time.ParseDuration(v)
		if err == nil {
			return d
		}
	}
	return def
}

func (a args) pct(k string, def float64) float64 {
	if v, ok := a.kv[k]; ok {
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if err == nil {
			return f / 100
		}
	}
	return def
}

func (a args) int(k string, def int) int {
	if v, ok := a.kv[k]; ok {
		n, err := strconv.Atoi(v)
		if err == nil {
			return n
		}
	}
	return def
}

func (d *driver) run(line string) string {
	fields := strings.Fields(line)
	cmd, a := fields[0], parseArgs(fields[1:])
	switch cmd {
	case "new":
		return d.new(a)
	case "traffic":
		req := int64(a.int("requests", 500))
		d.canary = fake.Constant(a.pct("canary-errors", 0.001), req)
		if a.kv["canary"] == "none" {
			d.canary = fake.NoData()
		}
		if a.has("switched-errors") {
			before, after := d.canary, fake.Constant(a.pct("switched-errors", 0), req)
			d.canary = func(p fake.Point) (float64, int64, bool) {
				if p.CanaryWeight == 100 {
					return after(p)
				}
				return before(p)
			}
		}
		d.stable = fake.Constant(a.pct("stable-errors", 0.005), 10*req)
		d.h.provider.Script(d.h.canaryQuery(), d.canary)
		d.h.provider.Script(d.h.stableQuery(), d.stable)
		return ""
	case "step":
		return d.step(a)
	case "pause", "resume", "approve", "promote", "abort", "set-weight":
		return d.manual(cmd, a)
	case "gate":
		d.h.gate.Approve(workload.GateKind(a.kv["approve"]), "gatekeeper", "ticket approved")
		return ""
	case "ready":
		reason := ""
		if a.flag("no") {
			reason = a.kv["reason"]
		}
		d.h.scaler.SetNotReady(workload.Canary, reason)
		return ""
	case "route":
		if a.flag("delete") {
			d.h.router.Delete()
			return ""
		}
		if a.flag("fail") { // the next write fails
			d.h.router.Fail("set", &fake.Error{Verb: "set", Msg: "connection reset"})
			return ""
		}
		if err := d.h.router.SetSplit(context.Background(), traffic.Weighted(a.int("canary", 0))); err != nil {
			return "error: " + err.Error()
		}
		return ""
	case "crash":
		d.r, d.crashed = nil, true
		return ""
	case "restore":
		r, err := rollback.Open(context.Background(), d.h.cfg)
		if err != nil {
			return "error: " + err.Error()
		}
		d.r, d.crashed = r, false
		d.watch(r)
		st := r.Status(d.now)
		return fmt.Sprintf("restored: %s at %d %%", st.Phase, st.CanaryWeight)
	case "status":
		st := d.r.Status(d.now)
		s := fmt.Sprintf("%s, stage %d of %d, canary %d %%, split %v, failures %d/%d", st.Phase, st.StageNumber, st.Stages,
			st.CanaryWeight, st.Split, st.Failures, st.FailureLimit)
		if st.More != 0 {
			s += fmt.Sprintf(", %d more canary requests (~%v)", st.More, st.Estimate)
		}
		if st.Shape != "" {
			s += "\nshape: " + display.Shape(st, nil)
		}
		return s + "\nreason: " + display.Reason(st, nil)
	}
	d.t.Fatalf("unknown command %q", cmd)
	return ""
}

func (d *driver) new(a args) string {
	stages := []int{}
	if a.has("stages") {
		for _, s := range strings.Split(a.kv["stages"], ",") {
			n, _ := strconv.Atoi(s)
			stages = append(stages, n)
		}
	}
	plan := rollback.Plan{Interval: a.dur("interval", time.Minute),
		Hold: a.dur("hold", 0), ProgressDeadline: a.dur("deadline", 0)}
	if len(stages) > 0 {
		plan.Stages = rollback.Weights(stages...)
	}
	plan.Strategy = rollback.Strategy(a.kv["strategy"])
	if c := a.kv["cohort"]; c != "" {
		plan.ABTest = &rollback.ABTest{Iterations: a.int("iterations", 0)}
		for _, m := range strings.Split(c, ",") {
			p := strings.SplitN(m, ":", 4)
			if len(p) != 4 {
				d.t.Fatalf("cohort match %q: want header|cookie:name:kind:value", m)
			}
			tm := traffic.Match{Kind: traffic.MatchKind(p[2]), Value: p[3]}
			if p[0] == "cookie" {
				tm.Cookie = p[1]
			} else {
				tm.Header = p[1]
			}
			plan.ABTest.Cohort = append(plan.ABTest.Cohort, tm)
		}
	}
	if plan.Strategy == rollback.StrategyBlueGreen {
		bg := &rollback.BlueGreen{Mirror: a.int("mirror", 0), PrePromotion: a.dur("pre", 0),
			PostPromotion: a.dur("post", 0), ScaleDownDelay: a.dur("scale-down", 0)}
		if p := a.kv["preview"]; p != "" {
			n, v, _ := strings.Cut(p, ":")
			bg.Preview = traffic.HeaderRoute{Name: n, Value: v}
		}
		plan.BlueGreen = bg
	}
	if c := a.kv["affinity"]; c != "" {
		plan.SessionAffinity = &rollback.SessionAffinity{Cookie: c, MaxAge: a.dur("max-age", 0)}
	}
	if a.has("zero") {
		plan.ZeroTraffic = &rollback.ZeroTraffic{Duration: a.dur("zero", 5*time.Minute)}
	}
	switch a.kv["gate"] {
	case "increase":
		plan.ApproveIncrease = true
	case "promotion":
		plan.ApprovePromotion = true
	case "both":
		plan.ApproveIncrease, plan.ApprovePromotion = true, true
	}
	pol := rollback.Policy{FailureLimit: a.int("limit", 0)}
	if a.kv["on-failure"] == "pause" {
		pol.OnFailure = rollback.PauseOnFailure
	}
	if a.kv["on-inconclusive"] == "rollback" {
		pol.OnInconclusive = rollback.RollBackInconclusive
	}
	if a.kv["counting"] == "consecutive" {
		pol.Counting = rollback.Consecutive
	}
	d.h = newHarness(plan, pol, fake.Constant(0.001, 500))
	if a.flag("readiness") {
		d.h.cfg.Readiness = d.h.scaler
	}
	if a.has("gate") {
		d.h.cfg.Gate = d.h.gate
	}
	if a.flag("store") {
		d.store = &store.Memory{}
		d.h.cfg.Store = d.store
	}
	d.now, d.seen, d.rounds = t0, 0, nil
	r, err := rollback.New(d.h.cfg)
	if err != nil {
		return "error: " + err.Error()
	}
	d.r = r
	d.watch(r)
	return ""
}

// step steps the rollout at the instants it asks for: once, until a phase
// (or final), or for a duration.
func (d *driver) step(a args) string {
	if d.crashed {
		return "error: crashed; restore first"
	}
	until, limit := a.kv["until"], d.now.Add(a.dur("for", 0))
	var errs []string
	for i := 0; ; i++ {
		if i == 200 {
			errs = append(errs, fmt.Sprintf("%s still %s after 200 steps", offset(d.now), d.r.Status(d.now).Phase))
			break
		}
		st, err := d.r.Step(context.Background(), d.now)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s step error: %v", offset(d.now), err))
		}
		done := false
		switch {
		case until == "final":
			done = st.Phase.Final()
		case until != "":
			done = st.Phase.String() == until
		case a.has("for"):
			done = !st.Next.Before(limit) || st.Phase.Final()
		default:
			done = true
		}
		next := st.Next
		if next.IsZero() || !next.After(d.now) {
			next = d.now.Add(time.Second)
		}
		if done {
			if a.has("for") && !st.Phase.Final() {
				d.now = limit
			} else {
				d.now = next
			}
			break
		}
		d.now = next
	}
	return d.transcript(errs)
}

func (d *driver) manual(cmd string, a args) string {
	if d.crashed {
		return "error: crashed; restore first"
	}
	actor, reason := a.kv["actor"], strings.ReplaceAll(a.kv["reason"], "_", " ")
	ctx := context.Background()
	var err error
	switch cmd {
	case "pause":
		_, err = d.r.Pause(ctx, d.now, actor, reason)
	case "resume":
		_, err = d.r.Resume(ctx, d.now, actor, reason)
	case "approve":
		_, err = d.r.Approve(ctx, d.now, actor, reason)
	case "promote":
		_, err = d.r.Promote(ctx, d.now, actor, reason)
	case "abort":
		_, err = d.r.Abort(ctx, d.now, actor, reason)
	case "set-weight":
		_, err = d.r.SetWeight(ctx, d.now, a.int("weight", 0), actor, reason)
	}
	var errs []string
	if err != nil {
		errs = append(errs, fmt.Sprintf("%s %s error: %v", offset(d.now), cmd, err))
		if errors.Is(err, rollback.ErrNotAllowed) {
			errs[len(errs)-1] = fmt.Sprintf("%s %s refused: not allowed", offset(d.now), cmd)
		}
	}
	return d.transcript(errs)
}

func offset(t time.Time) string { return "+" + t.Sub(t0).String() }

// transcript renders the rounds and the events delivered since the last
// command, each round before the events it delivered, then the errors.
func (d *driver) transcript(errs []string) string {
	var lines []string
	for _, rl := range d.rounds {
		for ; d.seen < rl.events; d.seen++ {
			lines = append(lines, describeEvent(d.h.events[d.seen]))
		}
		lines = append(lines, rl.text)
	}
	d.rounds = nil
	for _, e := range d.h.events[d.seen:] {
		lines = append(lines, describeEvent(e))
	}
	d.seen = len(d.h.events)
	return strings.Join(append(lines, errs...), "\n")
}

func describeEvent(e rollback.Event) string {
	at := offset(e.Time)
	switch e.Kind {
	case rollback.KindTransition:
		s := fmt.Sprintf("%s %s → %s", at, e.From, e.To)
		if e.WeightFrom != e.WeightTo {
			s += fmt.Sprintf(" (canary %d %% → %d %%)", e.WeightFrom, e.WeightTo)
		}
		if e.Actor != "" {
			s += " by " + e.Actor
		}
		if e.Reason != "" {
			s += ": " + e.Reason
		}
		return s
	case rollback.KindAnalysis:
		s := fmt.Sprintf("%s analysis at %d %%: %s", at, e.WeightTo, e.Verdict.Outcome)
		if e.Failures > 0 {
			s += fmt.Sprintf(" (failures %d)", e.Failures)
		}
		return s
	case rollback.KindAction:
		s := fmt.Sprintf("%s %s", at, e.Action)
		if e.Split != nil {
			s += " " + e.Split.String()
		}
		if e.Reason != "" {
			s += ": " + e.Reason
		}
		return s
	case rollback.KindManual:
		return fmt.Sprintf("%s %s by %s", at, e.Action, e.Actor)
	case rollback.KindFailure:
		s := fmt.Sprintf("%s %s failed: %s", at, e.Action, e.Error)
		if e.Repeats > 0 {
			s += fmt.Sprintf(" (%d times)", e.Repeats)
		}
		return s
	case rollback.KindAlert:
		return fmt.Sprintf("%s alert %s: %s", at, e.Action, e.Reason)
	}
	return at + " " + string(e.Kind)
}

var _ = analysis.Pass
