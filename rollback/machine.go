package rollback

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/workload"
)

// This file is the machine: the only code that changes a State. It does no
// I/O, reads no clock and starts no goroutine; from a State, what the driver
// observed or did, and the instant, it computes the next State, and from a
// State the round's value (ready): everything the driver must do, in
// order, if each task succeeds. The driver (rollout.go) does that I/O
// outside its lock and reports back once, through advance. One Step,
// traced:
//
//	wants   → which reads are due (route, analysis, readiness, gate, replicas)
//	observe → (driver, no lock) the reads; inputs
//	step    → the decision: next State, events queued in State.Undelivered
//	ready   → the round: save, write, save, scale, …, save, deliver, save
//	          (each State to save computed here: write-ahead)
//	perform → (driver, no lock) the tasks in order, until one fails
//	advance → the report back: the tasks done, the one that failed
//
// A round whose tasks did not all go as assumed (an action failed, a save
// failed, a command arrived) is followed by another, computed from the
// state advance made; outbox and report are the single turns rounds are
// built from.

// ErrNotAllowed is returned (wrapped) by a manual operation that the
// rollout's phase does not allow, such as raising the canary's weight after
// a rollback decision.
var ErrNotAllowed = errors.New("rollback: operation not allowed in this phase")

type op string

const (
	opPause     op = "pause"
	opResume    op = "resume"
	opSetWeight op = "set-weight"
	opApprove   op = "approve"
	opPromote   op = "promote"
	opAbort     op = "abort"
)

// command is a manual operation with who asked for it and why.
type command struct {
	op     op
	weight int // for opSetWeight
	actor  string
	reason string
}

// machine is the decision core for one plan and policy.
type machine struct {
	plan        *resolved
	policy      Policy
	timeOnly    bool // no analyzer: stages advance on time alone
	name        string
	fingerprint string
}

func newMachine(name string, plan Plan, policy Policy, timeOnly bool) (*machine, error) {
	p, err := plan.resolve()
	if err != nil {
		return nil, err
	}
	pol, err := policy.resolve()
	if err != nil {
		return nil, err
	}
	return &machine{plan: p, policy: pol, timeOnly: timeOnly, name: name, fingerprint: fingerprint(p, pol)}, nil
}

func (m *machine) initial() State {
	return State{Format: SnapshotFormat, Name: m.name, Plan: m.fingerprint, Phase: Pending, Stage: -1}
}

// desired is the split the state calls for.
func (m *machine) desired(s State) traffic.Split {
	switch s.Phase {
	case Pending, RollingBack, RolledBack:
		return traffic.AllStable()
	case Validating:
		return m.plan.pre.split
	case Paused, AwaitingApproval:
		// Paused from Validating, or (A/B, blue/green) waiting before
		// the promotion: the split before production traffic stays.
		if pre := m.plan.pre; pre != nil && (s.Phase == Paused && s.ResumeTo == Validating || !m.plan.weighted() && s.Stage < 0) {
			return pre.split
		}
	}
	sp := traffic.Weighted(s.Weight)
	if a := m.plan.aff; a != nil && s.Weight > 0 && s.Weight < 100 && s.AffinityValue != "" {
		sp.Affinity = affinity(a, s.AffinityValue)
	}
	return sp
}

// affinityValue is the session-affinity cookie's value of the rollout
// name started at start: 16 hexadecimal digits, the same whenever it is
// derived again (Migrate), and different for every rollout.
func affinityValue(name string, start time.Time) string {
	h := sha256.Sum256([]byte(name + "\x00" + start.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(h[:8])
}

// validationSplit is the split of a zero-traffic validation: no production
// traffic, the mirror and the test route.
func validationSplit(z *ZeroTraffic) traffic.Split {
	return traffic.Split{Stable: 100, Mirror: z.Mirror, TestRoute: z.TestRoute}
}

func cloneSplitPtr(s *traffic.Split) *traffic.Split {
	if s == nil {
		return nil
	}
	c := *s
	return &c
}

func analysing(ph Phase) bool {
	return ph == Validating || ph == Progressing || ph == AwaitingApproval || ph == Paused
}

func active(ph Phase) bool { return ph == Validating || ph == Progressing || ph == AwaitingApproval }

// wants is what the driver should read before a step.
type wants struct {
	// analyse: read the route, measure, and analyse with input.
	analyse bool
	input   analysis.Input
	applied traffic.Split
	post    bool // blue/green after the switch: Config.PostPromotionAnalyzer judges
	ready   bool // ask Readiness about the canary
	gate    *workload.GateRequest
	stable  bool // read the stable version's replicas
}

func (m *machine) wants(s State, now time.Time, haveReadiness, haveGate, haveScaler bool) wants {
	var w wants
	if analysing(s.Phase) && !m.timeOnly && !now.Before(s.NextAnalysis) &&
		s.Applied != nil && s.Intent == nil && s.Applied.Equal(m.desired(s)) {
		w.analyse = true
		w.applied = *s.Applied
		w.input = analysis.Input{Time: now, CanaryWeight: s.Applied.Canary, Looks: s.Looks, Stage: s.Stage, Memory: s.Memory}
		if s.Phase == Validating || s.Phase == Paused && s.ResumeTo == Validating {
			w.input.Stage = -1
		}
		w.post = m.plan.blueGreen() && s.Stage >= 0
	}
	if active(s.Phase) && haveReadiness && (!s.CanaryReady || w.analyse) {
		w.ready = true
	}
	if s.Phase == AwaitingApproval && haveGate && s.Gate != nil {
		g := *s.Gate
		w.gate = &g
	}
	// Read until it succeeds, in a rollback too: stable is restored to
	// what was read (a no-op if it was never changed).
	w.stable = haveScaler && !s.StableRecorded && !s.Phase.Final()
	return w
}

// inputs is what the driver observed for one step.
type inputs struct {
	// basis is the split the analysis was made on; a verdict is dropped
	// when the state moved on meanwhile (an Abort during a slow analysis).
	basis    traffic.Split
	analysed bool
	route    traffic.Split // the split in force, read before the analysis
	routeErr error
	obs      []analysis.Observation
	totals   []Total
	verdict  *analysis.Verdict
	// failures are the reads that failed: query errors, the analyzer's,
	// readiness, gate, replicas.
	failures []failure

	ready       *bool
	readyReason string
	approval    *workload.Approval
	stable      *int32
}

type failure struct {
	action string
	err    error
}

// prepare accumulates obs into a copy of s's totals and fills the
// observations' totals, for the analyzer; step keeps the totals.
func prepare(s State, obs []analysis.Observation) []Total {
	totals := append([]Total(nil), s.Totals...)
	for i := range obs {
		o := &obs[i]
		j := -1
		for k := range totals {
			if totals[k].Metric == o.Metric {
				j = k
				break
			}
		}
		if j < 0 {
			totals = append(totals, Total{Metric: o.Metric})
			j = len(totals) - 1
		}
		t := &totals[j]
		t.Canary.add(o.Canary)
		t.Stable.add(o.Stable)
		if !o.CanaryTotal.Observed {
			o.CanaryTotal = t.Canary.measurement()
		}
		if !o.StableTotal.Observed {
			o.StableTotal = t.Stable.measurement()
		}
	}
	return totals
}

// round is one application of the machine to a state.
type round struct {
	m   *machine
	s   State
	now time.Time
}

// emit is the one place that numbers events.
func (r *round) emit(e Event) {
	r.s.Seq++
	e.Seq, e.Time, e.Rollout = r.s.Seq, r.now, r.s.Name
	if e.Kind != KindTransition {
		e.From, e.To = r.s.Phase, r.s.Phase
		e.WeightFrom, e.WeightTo = r.s.Weight, r.s.Weight
	}
	r.s.Undelivered = append(r.s.Undelivered, e)
	if len(r.s.Undelivered) > MaxUndelivered {
		r.dropOldest()
	}
}

// dropOldest gives up on the oldest analysis or failure event.
func (r *round) dropOldest() {
	for i, e := range r.s.Undelivered {
		if e.Kind == KindAnalysis || e.Kind == KindFailure {
			r.s.Undelivered = slices.Delete(slices.Clone(r.s.Undelivered), i, i+1)
			r.s.Dropped++
			return
		}
	}
}

// failed records a failure, coalescing repeats: a failure identical to the
// last one reported makes no new event until an hour has passed.
func (r *round) failed(action string, err error) {
	msg := err.Error()
	if f := r.s.Failing; f != nil && f.Action == action && f.Error == msg {
		f.Repeats++
		if r.now.Sub(f.Reported) < time.Hour {
			return
		}
		r.emit(Event{Kind: KindFailure, Action: action, Error: msg, Repeats: f.Repeats})
		f.Repeats, f.Reported = 0, r.now
		return
	}
	r.s.Failing = &FailureRun{Action: action, Error: msg, Since: r.now, Reported: r.now}
	r.emit(Event{Kind: KindFailure, Action: action, Error: msg})
}

// succeeded ends a failure run of action.
func (r *round) succeeded(action string) {
	if f := r.s.Failing; f != nil && f.Action == action {
		if f.Repeats > 0 {
			r.emit(Event{Kind: KindFailure, Action: action, Error: f.Error, Repeats: f.Repeats,
				Reason: "recovered"})
		}
		r.s.Failing = nil
	}
}

// enter moves to phase ph with canary weight w.
func (r *round) enter(ph Phase, w int, actor, reason string) {
	from, wf := r.s.Phase, r.s.Weight
	r.s.Phase, r.s.Weight, r.s.Reason = ph, w, reason
	if from != ph {
		r.s.PhaseSince = r.now
	}
	r.emit(Event{Kind: KindTransition, From: from, To: ph, WeightFrom: wf, WeightTo: w, Actor: actor, Reason: reason})
}

// finishRound sets Intent: the split the state calls for while it is not
// confirmed, so that it is saved ahead of the write.
func (r *round) finishRound() State {
	d := r.m.desired(r.s)
	if r.s.Applied != nil && r.s.Applied.Equal(d) || r.s.Phase.Final() {
		r.s.Intent = nil
	} else if r.s.Intent == nil || !r.s.Intent.Equal(d) {
		r.s.Intent = cloneSplitPtr(&d)
	}
	return r.s
}

// step is the decision of one Step.
func (m *machine) step(s State, in inputs, now time.Time) State {
	r := round{m: m, s: s, now: now}
	for _, f := range in.failures {
		r.failed(f.action, f.err)
	}
	if in.stable != nil && !r.s.StableRecorded {
		r.s.StableReplicas, r.s.StableRecorded = *in.stable, true
		r.succeeded("record-replicas")
	}
	if r.s.Phase == Pending {
		r.start()
		return r.finishRound()
	}
	if !analysing(r.s.Phase) {
		return r.finishRound()
	}
	if in.analysed && r.s.Applied != nil && r.s.Applied.Equal(in.basis) && r.s.Intent == nil {
		switch {
		case errors.Is(in.routeErr, traffic.ErrNotFound):
			r.failed("verify", in.routeErr)
			r.rollBack("rollout", "the route is gone: "+in.routeErr.Error())
			r.s.RouteGone = true
			return r.finishRound()
		case in.routeErr != nil:
			r.failed("verify", in.routeErr)
		case !in.route.Equal(*r.s.Applied):
			r.failed("verify", fmt.Errorf("%w: %v was set, %v is in force (changed outside the rollout); setting it again",
				traffic.ErrVerify, *r.s.Applied, in.route))
			r.s.Applied = cloneSplitPtr(&in.route)
		case in.verdict != nil:
			r.s.Totals = in.totals
			r.judge(*in.verdict, in.obs)
		}
		if !analysing(r.s.Phase) {
			return r.finishRound()
		}
	}
	if in.ready != nil && active(r.s.Phase) {
		r.s.CanaryReady = *in.ready
		if *in.ready {
			r.s.NotReadySince = time.Time{}
		} else {
			if r.s.NotReadySince.IsZero() {
				r.s.NotReadySince = r.now
			}
			if r.now.Sub(r.s.NotReadySince) >= m.plan.deadline {
				r.fail(fmt.Sprintf("canary not ready for longer than the progress deadline %v: %s", m.plan.deadline, in.readyReason))
				return r.finishRound()
			}
		}
	}
	switch r.s.Phase {
	case AwaitingApproval:
		if a := in.approval; a != nil && a.Approved {
			r.emit(Event{Kind: KindAction, Action: "gate", Actor: a.Actor, Reason: "approved: " + a.Reason})
			r.move(r.s.GateTarget, a.Actor, "approved by gate")
		}
	case Validating:
		r.validating()
	case Progressing:
		st := m.plan.stages[r.s.Stage]
		holdEnd := r.s.StageSince.Add(st.Hold)
		// The promotion needs passes (proof); a stage below it needs
		// leaning evidence under AdvanceOnLeaning, passes otherwise.
		count := r.s.StagePasses
		if m.policy.Advance == AdvanceOnLeaning && !m.promotesNext(r.s.Stage) {
			count = r.s.StageLeans
		}
		passed := (m.timeOnly || count >= m.policy.PassesPerStage) && r.s.NotReadySince.IsZero()
		switch {
		case passed && !r.now.Before(holdEnd):
			why := fmt.Sprintf("stage %d of %d held %v", r.s.Stage+1, len(m.plan.stages), st.Hold)
			if m.plan.blueGreen() {
				why = fmt.Sprintf("post-promotion analysis passed, the old version kept warm for %v", st.Hold)
			}
			if v := r.s.LastVerdict; !m.timeOnly && v != nil && v.Outcome != analysis.Pass {
				why += ", and the evidence so far leans towards no regression (not yet a proof)"
			}
			r.advance(why)
		case m.plan.evidenceDeadline && !r.now.Before(holdEnd.Add(m.plan.deadline)):
			r.deadline("")
		case !m.plan.evidenceDeadline && !r.now.Before(holdEnd):
			if why := m.overBudget(r.s, r.now); why != "" {
				r.deadline(why)
			}
		}
	}
	return r.finishRound()
}

// validating decides the phase before production traffic: a
// zero-traffic validation ends on time; an A/B test and blue/green's
// preview need a Pass (and A/B's iterations), and a rollout whose
// evidence does not come is handled as a stage's is (Policy.OnInconclusive).
func (r *round) validating() {
	m := r.m
	pre := m.plan.pre
	ready := r.s.NotReadySince.IsZero()
	elapsed := !r.now.Before(r.s.PhaseSince.Add(pre.min))
	if !pre.passes {
		if elapsed && ready {
			r.advance("zero-traffic validation complete")
		}
		return
	}
	enough := r.s.Looks >= pre.looks && r.s.StagePasses >= m.policy.PassesPerStage
	if m.timeOnly {
		enough = !r.now.Before(r.s.PhaseSince.Add(time.Duration(pre.looks) * m.plan.interval))
	}
	// The deadline and the budget are weighed once the phase has lasted
	// its minimum and an interval (after a Resume too).
	holdEnd := r.s.PhaseSince.Add(max(pre.min, m.plan.interval))
	switch {
	case elapsed && enough && ready:
		why := "A/B test passed"
		if m.plan.ab != nil && m.plan.ab.Iterations > 0 {
			why += fmt.Sprintf(" after %d analyses (at least %d)", r.s.Looks, m.plan.ab.Iterations)
		}
		if m.plan.blueGreen() {
			why = "pre-promotion analysis passed"
			if pre.min > 0 {
				why += fmt.Sprintf(" (%v at least)", pre.min)
			}
		}
		if m.timeOnly {
			why = "no analyzer: the time before promotion has passed"
		}
		r.advance(why)
	case m.plan.evidenceDeadline && !r.now.Before(holdEnd.Add(m.plan.deadline)):
		r.deadline("")
	case !m.plan.evidenceDeadline && !r.now.Before(holdEnd):
		if why := m.overBudget(r.s, r.now); why != "" {
			r.deadline(why)
		}
	}
}

// promotesNext reports whether the stage after stage is the promotion
// (for blue/green, whether stage is the post-promotion analysis, which
// needs passes as the promotion does).
func (m *machine) promotesNext(stage int) bool {
	next := stage + 1
	return next >= len(m.plan.stages) || m.plan.stages[next].Weight == 100
}

// budgetTrust: the estimate of the evidence still needed is trusted to
// pause a rollout early once 1/budgetTrust of Plan.MaxDuration has passed;
// before it, the drift of the first windows says little (at a quarter, 4
// of the 320 good canaries of the decision-quality suite that the oracle
// promotes within an hour were paused at the hour).
const budgetTrust = 2

// budgetSlack: the estimate must exceed the rest of the budget this many
// times over to pause early. It extrapolates the drift of the evidence so
// far, which underrates a good canary's. A rollout stepped back to the
// first stage while its evidence is weighed is priced at the first stage's
// traffic (expectedRate: evidence that does not lean stays where it is).
// Pricing it at the last stage's instead spared, in the decision-quality
// suite (5 requests/s, 0.5 %, 400 runs a cell), 26 of 42 paused good
// canaries whose evidence came within the budget, but the 12 whose
// evidence did not come were asked about some 100 minutes later, so it
// was not done.
const budgetSlack = 2

// overBudget says why the evidence cannot come within the budget
// (Plan.MaxDuration) — it is spent, or the rollout's own estimate says the
// rest of it is too short — and "" while it can.
func (m *machine) overBudget(s State, now time.Time) string {
	if s.StartedAt.IsZero() {
		return ""
	}
	end := s.StartedAt.Add(m.plan.budget)
	if !now.Before(end) {
		return fmt.Sprintf("the evidence did not arrive within the rollout's budget of %v (Plan.MaxDuration)", m.plan.budget)
	}
	if now.Sub(s.StartedAt) < m.plan.budget/budgetTrust {
		return ""
	}
	more, est := m.evidenceNeeded(s)
	if more <= 0 || est <= 0 || est <= budgetSlack*end.Sub(now) {
		return ""
	}
	if v := s.LastVerdict; v != nil && v.Outcome == analysis.Inconclusive && v.Leaning && s.StageLeans > 0 {
		// Evidence that leans towards no regression drifts too slowly for
		// the estimate to be trusted (in the decision-quality suite it
		// paused a good canary that the oracle promotes within the hour):
		// such a rollout is asked about when the budget is spent.
		return ""
	}
	return fmt.Sprintf("the evidence cannot arrive within the rollout's budget of %v (Plan.MaxDuration): %v of it is left, and the estimate is more than twice that", m.plan.budget, end.Sub(now).Round(time.Second))
}

// deadline handles a stage whose evidence is still inconclusive at the
// progress deadline, or beyond the budget (budget says why).
func (r *round) deadline(budget string) {
	m := r.m
	why := fmt.Sprintf("progress deadline missed: no passing analysis at %d %% within %v of the hold", r.s.Weight, m.plan.deadline)
	if budget != "" {
		why = fmt.Sprintf("no decision at %d %%: %s", r.s.Weight, budget)
	}
	if f := r.s.Failing; f != nil && strings.HasPrefix(f.Action, "query") || f != nil && f.Action == "analyze" {
		why += fmt.Sprintf("; the analysis could not run: %s failed: %s", f.Action, f.Error)
	}
	more, est := m.evidenceNeeded(r.s)
	switch {
	case more > 0 && est > 0:
		why += fmt.Sprintf("; a decision needs about %d more canary requests, about %v at %.3g requests/s", more, est, m.expectedRate(r.s))
	case more > 0:
		why += fmt.Sprintf("; a decision needs about %d more canary requests (the canary gets no traffic now)", more)
	}
	if m.policy.OnInconclusive == RollBackInconclusive || m.timeOnly {
		r.fail(why)
		return
	}
	r.pause("policy", why+askPerson)
}

const (
	// askPerson ends the reason of a pause for inconclusive evidence;
	// evidenceArrived replaces it once the evidence a decision needed has
	// arrived while paused (analysis goes on).
	askPerson       = "; paused for a person to Resume, Promote or Abort"
	evidenceArrived = "; the evidence has arrived since: "
)

// pausedEvidence refreshes the reason of a rollout paused for inconclusive
// evidence after an analysis: how much is still missing, or that the
// evidence has arrived (a Pass, or, below the last stage under
// AdvanceOnLeaning, evidence leaning towards no regression) and when.
func (r *round) pausedEvidence(v analysis.Verdict) {
	reason := r.s.Reason
	head, _, ok := strings.Cut(reason, evidenceArrived)
	if !ok {
		if !strings.HasSuffix(reason, askPerson) {
			return // paused for another reason
		}
		head, _, _ = strings.Cut(strings.TrimSuffix(reason, askPerson), "; a decision needs")
	}
	m := r.m
	leans := v.Outcome == analysis.Pass || v.Outcome == analysis.Inconclusive && v.Leaning &&
		m.policy.Advance == AdvanceOnLeaning && r.s.ResumeTo == Progressing && r.s.Stage >= 0 && !m.promotesNext(r.s.Stage)
	if leans {
		what := "a passing analysis"
		if v.Outcome != analysis.Pass {
			what = "evidence leaning towards no regression"
		}
		if !ok {
			// The instant is a field (EvidenceAt), not text: display.Reason
			// writes it after what, in the zone its caller chooses.
			r.s.Reason = head + evidenceArrived + fmt.Sprintf("%s, analysis %d; Resume to go on, or Promote or Abort", what, r.s.Looks)
			r.s.EvidenceAt = r.now
		}
		return
	}
	more, est := m.evidenceNeeded(r.s)
	why := head
	switch {
	case more > 0 && est > 0:
		why += fmt.Sprintf("; a decision needs about %d more canary requests, about %v at %.3g requests/s", more, est, m.expectedRate(r.s))
	case more > 0:
		why += fmt.Sprintf("; a decision needs about %d more canary requests (the canary gets no traffic now)", more)
	}
	r.s.Reason, r.s.EvidenceAt = why+askPerson, time.Time{}
}

// evidenceNeeded is the most canary requests any metric's evidence still
// needs (Evidence.More; -1 unknown, which is also the answer before the
// first analysis), and how long that takes at the canary's expected rate
// (0 when unknown).
func (m *machine) evidenceNeeded(s State) (int64, time.Duration) {
	return s.evidenceNeeded(m.expectedRate(s))
}

// expectedRate is the canary's requests per second the rest of the
// evidence will come at: CanaryRate, scaled to the weight of the plan's
// last stage under AdvanceOnLeaning while the evidence leans (a rollout
// whose evidence leans walks there in a few holds, and only the promotion
// waits for the proof; one whose evidence does not lean stays where it is).
func (m *machine) expectedRate(s State) float64 {
	rate := s.CanaryRate
	v := s.LastVerdict
	leans := v != nil && (v.Outcome == analysis.Pass || v.Outcome == analysis.Inconclusive && v.Leaning)
	if leans && m.policy.Advance == AdvanceOnLeaning && !m.timeOnly && s.Phase == Progressing && s.Weight > 0 &&
		len(m.plan.stages) > 0 && s.Stage >= 0 && s.Stage < len(m.plan.stages) {
		top := m.plan.stages[len(m.plan.stages)-1].Weight
		if top == 100 && len(m.plan.stages) > 1 {
			top = m.plan.stages[len(m.plan.stages)-2].Weight
		}
		if top > s.Weight {
			rate *= float64(top) / float64(s.Weight)
		}
	}
	return rate
}

// evidenceNeeded is what machine.evidenceNeeded says at a canary rate of
// rate requests/s.
func (s State) evidenceNeeded(rate float64) (int64, time.Duration) {
	if s.LastVerdict == nil {
		return -1, 0
	}
	var more int64
	unknown := false
	for _, e := range s.LastVerdict.Evidence {
		more = max(more, e.More)
		unknown = unknown || e.More < 0
	}
	if more == 0 && unknown {
		more = -1
	}
	if more <= 0 || rate <= 0 {
		return more, 0
	}
	d := time.Duration(float64(more) / rate * float64(time.Second))
	if d < 0 || d > 1000*time.Hour {
		d = 1000 * time.Hour
	}
	return more, d.Round(time.Second)
}

func (r *round) start() {
	r.s.StartedAt = r.now
	r.s.NextAnalysis = r.now.Add(r.m.plan.interval)
	if r.m.plan.aff != nil {
		r.s.AffinityValue = affinityValue(r.s.Name, r.now)
	}
	if pre := r.m.plan.pre; pre != nil {
		r.s.StageSince = r.now
		r.enter(Validating, 0, "", pre.what)
		return
	}
	r.advance("rollout started")
}

// advance goes to the stage after the current one, through its gate.
func (r *round) advance(reason string) {
	next := r.s.Stage + 1
	if r.m.plan.blueGreen() && r.s.Stage >= 0 {
		// The post-promotion analysis passed: the switch was the
		// promotion's gate, so the scale-down of the old version has none.
		r.move(next, "", reason)
		return
	}
	promotion := next >= len(r.m.plan.stages) || r.m.plan.stages[next].Weight == 100
	to := 100
	if !promotion {
		to = r.m.plan.stages[next].Weight
	}
	kind := workload.GateKind("")
	switch {
	case promotion && r.m.plan.gateProm:
		kind = workload.BeforePromotion
	case !promotion && r.m.plan.gateInc:
		kind = workload.BeforeIncrease
	}
	if kind != "" {
		r.s.Gate = &workload.GateRequest{Rollout: r.s.Name, Kind: kind, From: r.s.Weight, To: to, Since: r.now}
		r.s.GateTarget = next
		r.enter(AwaitingApproval, r.s.Weight, "", fmt.Sprintf("%s; waiting for approval (%s) to go from %d %% to %d %%",
			reason, kind, r.s.Weight, to))
		return
	}
	r.move(next, "", reason)
}

// move goes to stage next (or the promotion when next is past the last
// stage or a stage of 100 %).
func (r *round) move(next int, actor, reason string) {
	r.s.Gate, r.s.GateTarget = nil, 0
	if r.m.plan.promotion(next) {
		r.s.Released, r.s.StableScaledDown = false, false
		if r.m.plan.blueGreen() {
			reason += "; promoting: the old version is scaled down"
			r.enter(Promoting, 100, actor, reason)
			return
		}
		r.enter(Promoting, 100, actor, reason+"; promoting")
		return
	}
	r.s.Stage = next
	r.s.StageSince, r.s.StagePasses, r.s.StageLeans = r.now, 0, 0
	r.s.NextAnalysis = r.now.Add(r.m.plan.interval)
	if r.m.plan.blueGreen() {
		// A new analysis: the evidence before the switch was on the
		// preview's and the mirror's requests, judged against stable's.
		r.s.Memory = nil
		reason += fmt.Sprintf("; switching every request to the new version in one write: post-promotion analysis for %v, the old version kept warm for %v (a failure switches back)",
			r.m.plan.bg.PostPromotion, r.m.plan.stages[next].Hold)
	}
	r.enter(Progressing, r.m.plan.stages[next].Weight, actor, reason)
}

// summarise keeps an observation's values and counts, not its samples
// nor the baseline's buckets (read by the analyzer of the round only).
func summarise(obs []analysis.Observation) []analysis.Observation {
	if len(obs) == 0 {
		return nil
	}
	out := make([]analysis.Observation, len(obs))
	copy(out, obs)
	for i := range out {
		o := &out[i]
		o.Canary.Samples, o.Stable.Samples, o.Baseline.Samples = nil, nil, nil
		o.CanaryTotal.Samples, o.StableTotal.Samples = nil, nil
		o.Baseline.Buckets = nil
	}
	return out
}

// judge counts a verdict by the policy and acts on the failure limit.
func (r *round) judge(v analysis.Verdict, obs []analysis.Observation) {
	p := r.m.policy
	r.s.Looks++
	r.s.Memory = v.Memory
	v.Memory = nil
	r.s.LastVerdict = &v
	r.s.NextAnalysis = r.now.Add(r.m.plan.interval)
	var canaryReqs int64
	for _, o := range obs {
		canaryReqs = max(canaryReqs, o.Canary.Count)
	}
	r.s.CanaryRate = float64(canaryReqs) / r.m.plan.interval.Seconds()
	failed := false
	switch v.Outcome {
	case analysis.Pass:
		r.s.Consecutive, r.s.InconclusiveRun = 0, 0
		r.s.StagePasses++
		r.s.StageLeans++
	case analysis.Fail:
		failed = true
		r.s.StagePasses, r.s.StageLeans = 0, 0
	default:
		// The stage's counts are of analyses in a row: the latest
		// evidence must still pass (lean) when the stage moves on, so a
		// canary that turns bad after a Pass is not promoted on it.
		r.s.StagePasses = 0
		if v.Leaning {
			r.s.StageLeans++
		} else {
			r.s.StageLeans = 0
		}
		r.s.InconclusiveRun++
		switch {
		case p.NoData == analysis.FailOnNoData:
			failed = true
		case p.NoData == analysis.FailAfterNoData && r.s.InconclusiveRun >= p.NoDataAfter:
			failed = true
		}
	}
	if failed {
		r.s.Failed++
		r.s.Consecutive++
		r.s.InconclusiveRun = 0
	}
	count := r.s.Failed
	if p.Counting == Consecutive {
		count = r.s.Consecutive
	}
	r.emit(Event{Kind: KindAnalysis, Verdict: &v, Observations: summarise(obs), Failures: count, Reason: v.Reason})
	if r.s.Phase == Paused && !failed {
		r.pausedEvidence(v)
	}
	if !failed && v.Outcome == analysis.Inconclusive && v.Regressing && p.Advance == AdvanceOnLeaning &&
		r.s.Phase == Progressing && r.s.Stage > 0 {
		// The latest evidence points to a regression it cannot prove yet:
		// back to the first stage's weight, where the canary does less
		// harm while the evidence comes in (a move towards stable).
		r.move(0, "", fmt.Sprintf("the latest evidence points to a regression, not yet proven: back to %d %% while it is weighed (%s)",
			r.m.plan.stages[0].Weight, v.Reason))
		return
	}
	if !failed || count < p.FailureLimit {
		return
	}
	why := fmt.Sprintf("%d failed analyses (%s limit %d): %s", count, p.Counting, p.FailureLimit, v.Reason)
	if r.s.Phase == Paused {
		if p.OnFailure == PauseOnFailure {
			r.emit(Event{Kind: KindAlert, Action: "failure-limit", Reason: why + "; paused, so nothing is rolled back: Abort, Resume or Promote"})
			return
		}
		r.rollBack("policy", why+" while paused")
		return
	}
	r.fail(why)
}

// fail applies Policy.OnFailure.
func (r *round) fail(reason string) {
	if r.m.policy.OnFailure == PauseOnFailure {
		r.pause("policy", reason)
		return
	}
	r.rollBack("policy", reason)
}

func (r *round) pause(actor, reason string) {
	r.s.ResumeTo = r.s.Phase
	r.enter(Paused, r.s.Weight, actor, reason)
}

func (r *round) rollBack(actor, reason string) {
	r.s.Gate, r.s.GateTarget = nil, 0
	r.s.ResumeTo = 0
	r.s.CanaryScaledDown, r.s.StableRestored, r.s.Released, r.s.RouteGone = false, false, false, false
	r.s.StableScaledDown = false
	r.enter(RollingBack, 0, actor, reason)
}

func notAllowed(o op, ph Phase) error {
	return fmt.Errorf("%w: %s in phase %s", ErrNotAllowed, o, ph)
}

// command applies a manual operation; the state is unchanged on error.
func (m *machine) command(s State, c command, now time.Time) (State, error) {
	r := round{m: m, s: s, now: now}
	if err := r.command(c); err != nil {
		return s, err
	}
	return r.finishRound(), nil
}

func (r *round) command(c command) error {
	ph := r.s.Phase
	manual := func(action string) {
		r.emit(Event{Kind: KindManual, Action: action, Actor: c.actor, Reason: c.reason})
	}
	switch c.op {
	case opPause:
		if ph == Paused {
			return nil
		}
		if !active(ph) {
			return notAllowed(c.op, ph)
		}
		manual(string(c.op))
		r.pause(c.actor, c.reason)
	case opResume:
		if ph != Paused {
			return notAllowed(c.op, ph)
		}
		manual(string(c.op))
		r.s.StageSince, r.s.StagePasses, r.s.StageLeans = r.now, 0, 0
		r.s.NextAnalysis = r.now.Add(r.m.plan.interval)
		r.s.NotReadySince = time.Time{}
		to := r.s.ResumeTo
		r.s.ResumeTo = 0
		switch {
		case to == Validating:
			r.s.PhaseSince = r.now // the validation's clock goes on from here
			r.enter(to, r.s.Weight, c.actor, c.reason)
		case to == Progressing && (r.s.Stage < 0 || r.m.plan.stages[r.s.Stage].Weight != r.s.Weight):
			// A manual weight between stages (or below the first): go on
			// from the next stage above it.
			next := 0
			for next < len(r.m.plan.stages) && r.m.plan.stages[next].Weight <= r.s.Weight {
				next++
			}
			r.move(next, c.actor, because("resumed", c.reason))
		default:
			r.enter(to, r.s.Weight, c.actor, c.reason)
		}
	case opSetWeight:
		if !analysing(ph) {
			return notAllowed(c.op, ph)
		}
		if !r.m.plan.weighted() {
			return fmt.Errorf("%w: %s in a %s plan, which moves no weights (Promote or Abort)", ErrNotAllowed, c.op, r.m.plan.strategy)
		}
		max := r.m.manualMax()
		if c.weight < 0 || c.weight > max {
			return canary.Invalid("weight", c.weight, "must be between 0 and the plan's largest stage below 100 (%d); use Promote for 100", max)
		}
		manual(fmt.Sprintf("%s %d", c.op, c.weight))
		stage := -1
		for i, st := range r.m.plan.stages {
			if st.Weight <= c.weight {
				stage = i
			}
		}
		r.s.Stage = stage
		r.s.Gate, r.s.GateTarget = nil, 0
		r.s.ResumeTo = Progressing
		r.enter(Paused, c.weight, c.actor, because(fmt.Sprintf("manual weight %d %%", c.weight), c.reason))
	case opApprove:
		if ph != AwaitingApproval || r.s.Gate == nil {
			return notAllowed(c.op, ph)
		}
		manual(string(c.op) + " " + string(r.s.Gate.Kind))
		r.move(r.s.GateTarget, c.actor, because("approved", c.reason))
	case opPromote:
		switch ph {
		case Promoting, Succeeded:
			return nil
		case RollingBack, RolledBack:
			return notAllowed(c.op, ph)
		}
		if r.s.StartedAt.IsZero() {
			r.s.StartedAt = r.now
		}
		manual(string(c.op))
		r.move(len(r.m.plan.stages), c.actor, because("manual promotion", c.reason))
	case opAbort:
		switch ph {
		case RollingBack, RolledBack:
			return nil // rolling back twice is harmless
		case Succeeded:
			return notAllowed(c.op, ph)
		}
		if r.s.StartedAt.IsZero() {
			r.s.StartedAt = r.now
		}
		manual(string(c.op))
		r.rollBack(c.actor, because("aborted", c.reason))
	default:
		return canary.Invalid("op", string(c.op), "is not a known operation")
	}
	return nil
}

// outbox is what the machine asks the driver to do next, in order: write
// Split, scale the canary to zero, restore the stable version, release
// the router, deliver Deliver. Save (write-ahead) comes before all of it
// and is the driver's: it saves whenever the State changed since its last
// save.
type outbox struct {
	Split         *traffic.Split
	ScaleCanary   bool
	RestoreStable *int32
	ScaleStable   bool // blue/green's promotion: the old version to zero
	Release       bool
	Deliver       []Event
}

// String lists what the outbox asks for, one action a line.
func (o outbox) String() string {
	var b strings.Builder
	if o.Split != nil {
		fmt.Fprintf(&b, "write %v\n", *o.Split)
	}
	if o.ScaleCanary {
		b.WriteString("scale canary to 0\n")
	}
	if o.RestoreStable != nil {
		fmt.Fprintf(&b, "scale stable to %d\n", *o.RestoreStable)
	}
	if o.ScaleStable {
		b.WriteString("scale stable to 0\n")
	}
	if o.Release {
		b.WriteString("release the router\n")
	}
	for _, e := range o.Deliver {
		fmt.Fprintf(&b, "deliver #%d %s\n", e.Seq, strings.TrimSpace(string(e.Kind)+" "+e.Action))
	}
	if b.Len() == 0 {
		return "nothing\n"
	}
	return b.String()
}

// outbox computes what to do for s; deliverable is the last Seq the driver
// may hand to the sink (the last saved).
func (m *machine) outbox(s State, deliverable uint64, haveScaler bool) outbox {
	var o outbox
	d := m.desired(s)
	if (s.Applied == nil || !s.Applied.Equal(d)) && !s.RouteGone && !s.Phase.Final() {
		o.Split = cloneSplitPtr(&d) // allocated only when there is a write
	}
	split := o.Split == nil || s.Phase == RollingBack && s.RouteGone
	switch s.Phase {
	case RollingBack:
		if haveScaler && !s.CanaryScaledDown {
			o.ScaleCanary = true
		}
		if haveScaler && !s.StableRestored && s.StableRecorded {
			n := s.StableReplicas
			o.RestoreStable = &n
		}
		o.Release = split && !s.Released && !s.RouteGone
	case Promoting:
		if haveScaler && m.plan.blueGreen() && !s.StableScaledDown && o.Split == nil {
			o.ScaleStable = true
		}
		o.Release = split && !s.Released
	}
	n := 0
	for n < len(s.Undelivered) && s.Undelivered[n].Seq <= deliverable {
		n++
	}
	if n > 0 {
		// The events are never changed in place (dropOldest copies), so
		// the driver may read them outside the lock.
		o.Deliver = s.Undelivered[:n:n]
	}
	return o
}

// done is the result of one action of the outbox.
type done struct {
	action   string // "set-split", "scale-canary", "restore-stable", "scale-stable", "release"
	split    traffic.Split
	replicas int32
	err      error
}

// A round's value: the machine's answer to one decision (a Step's or a
// command's), as raft's Ready is. It lists everything the driver must do
// for the State it was computed from, in order, assuming every task
// succeeds: the State to persist before each action (write-ahead), the
// action (a router write, a scaling, the release), the events to deliver
// once saved, and the State to persist after them. The driver does the
// tasks in order and reports back once, with advance: how many it did and
// how the next one failed, if one did. States to persist are computed
// here, so the driver writes exactly what the machine decided.
type ready struct {
	leg   leg
	tasks []task
}

// leg is where a round stands in the driver's loop: acting (a save, then
// one action, until nothing is left, then the events), the events left
// after an action failed (a save, the events the save made deliverable,
// a save), or only the save after such events.
type leg uint8

const (
	legAct leg = iota
	legEvents
	legSave
)

type taskKind uint8

const (
	taskSave          taskKind = iota + 1 // persist state (write-ahead)
	taskSettle                            // no I/O: a rollout without a Scaler has nothing to scale
	taskSplit                             // write split
	taskScaleCanary                       // scale the canary to zero
	taskRestoreStable                     // scale the stable version back to replicas
	taskScaleStable                       // blue/green: scale the old version to zero
	taskRelease                           // release the router
	taskDeliver                           // offer events to the sink
)

// task is one thing a round asks for.
type task struct {
	kind     taskKind
	state    *State         // taskSave
	split    *traffic.Split // taskSplit
	replicas int32          // taskRestoreStable
	events   []Event        // taskDeliver
}

// action names a task's action in events and errors; "" for a save, a
// settle or a delivery.
func (t task) action() string {
	switch t.kind {
	case taskSplit:
		return "set-split"
	case taskScaleCanary:
		return "scale-canary"
	case taskRestoreStable:
		return "restore-stable"
	case taskScaleStable:
		return "scale-stable"
	case taskRelease:
		return "release"
	}
	return ""
}

// String lists the round's tasks, one a line, in the words of the outbox
// ("nothing" for an empty round). A save that repeats the one before it
// (the same State) is listed once: the driver skips it unless the first
// failed.
func (rd ready) String() string {
	var b strings.Builder
	var last *State
	for _, t := range rd.tasks {
		switch t.kind {
		case taskSave:
			if t.state != last {
				fmt.Fprintf(&b, "save %s %d %%", t.state.Phase, t.state.Weight)
				if u := t.state.Undelivered; len(u) > 0 {
					fmt.Fprintf(&b, " with #%d..#%d undelivered", u[0].Seq, u[len(u)-1].Seq)
				}
				b.WriteByte('\n')
			}
			last = t.state
		case taskSettle:
			b.WriteString("settle: no scaler\n")
		case taskSplit:
			fmt.Fprintf(&b, "write %v\n", *t.split)
		case taskScaleCanary:
			b.WriteString("scale canary to 0\n")
		case taskRestoreStable:
			fmt.Fprintf(&b, "scale stable to %d\n", t.replicas)
		case taskScaleStable:
			b.WriteString("scale stable to 0\n")
		case taskRelease:
			b.WriteString("release the router\n")
		case taskDeliver:
			for _, e := range t.events {
				fmt.Fprintf(&b, "deliver #%d %s\n", e.Seq, strings.TrimSpace(string(e.Kind)+" "+e.Action))
			}
		}
	}
	if b.Len() == 0 {
		return "nothing\n"
	}
	return b.String()
}

// ready computes the round's value for s from leg l: what the driver's
// loop does from here if every task succeeds. deliverable is the last
// Seq saved (every event without a store); budget bounds the actions.
// The tasks are appended to buf.
func (m *machine) ready(s State, l leg, deliverable uint64, haveScaler, haveStore bool, budget int, now time.Time, buf []task) ready {
	rd := ready{leg: l, tasks: buf}
	// The tasks' States are read by the driver outside the lock while
	// a command may change the rollout's: they share nothing it changes
	// in place (appends reallocate, the failure run is copied).
	s.Undelivered = slices.Clip(s.Undelivered)
	if s.Failing != nil {
		f := *s.Failing
		s.Failing = &f
	}
	save := func() {
		if haveStore {
			c := s
			rd.tasks = append(rd.tasks, task{kind: taskSave, state: &c})
			deliverable = s.Seq
		}
	}
	deliver := func(events []Event) {
		rd.tasks = append(rd.tasks, task{kind: taskDeliver, events: events})
		s = m.delivered(s, events[len(events)-1].Seq)
	}
	if l == legSave {
		save()
		return rd
	}
	settled := false // the acting ended with nothing left to do or deliver
	if l == legAct {
		for i := 0; i < budget && !settled; i++ {
			save()
			out := m.outbox(s, deliverable, haveScaler)
			if out.Split == nil && !haveScaler && m.settles(s) {
				rd.tasks = append(rd.tasks, task{kind: taskSettle})
				s = m.settleNoScaler(s, now)
				out = m.outbox(s, deliverable, false)
			}
			if t, ok := out.first(); ok {
				rd.tasks = append(rd.tasks, t)
				s = m.report(s, t.done(nil), now)
				continue
			}
			if len(out.Deliver) > 0 {
				deliver(out.Deliver)
			}
			settled = true
		}
	}
	// The confirmed state, then the events it made deliverable, then the
	// state without them. (When the acting settled, every event it could
	// deliver was: the save makes none deliverable that was not.)
	save()
	if settled {
		return rd
	}
	if out := m.outbox(s, deliverable, haveScaler); len(out.Deliver) > 0 {
		deliver(out.Deliver)
		save()
	}
	return rd
}

// first is the outbox's first action as a task.
func (o outbox) first() (task, bool) {
	switch {
	case o.Split != nil:
		return task{kind: taskSplit, split: o.Split}, true
	case o.ScaleCanary:
		return task{kind: taskScaleCanary}, true
	case o.RestoreStable != nil:
		return task{kind: taskRestoreStable, replicas: *o.RestoreStable}, true
	case o.ScaleStable:
		return task{kind: taskScaleStable}, true
	case o.Release:
		return task{kind: taskRelease}, true
	}
	return task{}, false
}

// done is the task's result, err its error.
func (t task) done(err error) done {
	d := done{action: t.action(), replicas: t.replicas, err: err}
	if t.split != nil {
		d.split = *t.split
	}
	return d
}

// settles reports whether settleNoScaler would change s (on any other
// state it only finishes the round, which every State the machine hands
// back already is).
func (m *machine) settles(s State) bool {
	return s.Phase == RollingBack && !s.RouteGone || s.Phase == Promoting && m.plan.blueGreen() && !s.StableScaledDown
}

// outcome is the driver's report on a round: the first done tasks of it
// succeeded; then, unless the round was done whole, the task at done was
// cut short: an action that failed with err, or a delivery of which the
// sink accepted the events up to upTo (0: none).
type outcome struct {
	done int
	err  error
	upTo uint64
	cut  bool
}

// advance takes the tasks of rd from task from on, as out reports them,
// into s: each action's result (and the settling it allows), the events
// the sink accepted.
func (m *machine) advance(s State, rd *ready, from int, out outcome, now time.Time) State {
	for _, t := range rd.tasks[from:out.done] {
		switch t.kind {
		case taskSave:
		case taskSettle:
			s = m.settleNoScaler(s, now)
		case taskDeliver:
			s = m.delivered(s, t.events[len(t.events)-1].Seq)
		default:
			s = m.report(s, t.done(nil), now)
		}
	}
	if !out.cut {
		return s
	}
	if t := rd.tasks[out.done]; t.kind == taskDeliver {
		if out.upTo > 0 {
			s = m.delivered(s, out.upTo)
		}
	} else if t.kind != taskSave {
		s = m.report(s, t.done(out.err), now)
	}
	return s
}

// report takes the result of an action back into the state, and settles
// a promotion or a rollback that is complete.
func (m *machine) report(s State, d done, now time.Time) State {
	r := round{m: m, s: s, now: now}
	if d.err != nil {
		r.failed(d.action, d.err)
		if d.action == "set-split" && errors.Is(d.err, traffic.ErrVerify) {
			r.s.Applied = nil // unknown: write again
		}
		if d.action == "set-split" && errors.Is(d.err, traffic.ErrNotFound) {
			if active(r.s.Phase) {
				// The route is gone: an active rollout rolls back at once;
				// the mesh's default routing would otherwise decide who
				// gets the canary.
				r.rollBack("rollout", "the route is gone: "+d.err.Error())
			}
			r.s.RouteGone = r.s.Phase == RollingBack || r.s.Phase == RolledBack
		}
		return r.finishRound()
	}
	r.succeeded(d.action)
	switch d.action {
	case "set-split":
		was := r.s.Applied
		r.s.Applied = cloneSplitPtr(&d.split)
		r.s.RouteGone = false
		r.emit(Event{Kind: KindAction, Action: "set-split", Split: cloneSplitPtr(&d.split), Reason: r.m.switchReason(was, d.split)})
	case "scale-canary":
		r.s.CanaryScaledDown = true
		r.emit(Event{Kind: KindAction, Action: "scale-canary", Reason: "canary scaled to 0 replicas"})
	case "restore-stable":
		r.s.StableRestored = true
		r.emit(Event{Kind: KindAction, Action: "restore-stable",
			Reason: fmt.Sprintf("stable restored to %d %s", d.replicas, plural(d.replicas, "replica", "replicas"))})
	case "scale-stable":
		r.s.StableScaledDown = true
		r.emit(Event{Kind: KindAction, Action: "scale-stable", Reason: "the old (stable) version scaled to 0 replicas"})
	case "release":
		r.s.Released = true
		r.emit(Event{Kind: KindAction, Action: "release"})
	}
	r.settle()
	return r.finishRound()
}

// settle finishes the promotion or the rollback once the acting is done.
func (r *round) settle() {
	s := &r.s
	applied := s.Applied != nil && s.Applied.Equal(r.m.desired(*s))
	switch {
	case s.Phase == Promoting && applied && s.Released && (!r.m.plan.blueGreen() || s.StableScaledDown):
		r.enter(Succeeded, 100, "", "every request goes to the canary")
	case s.Phase == RollingBack && applied && s.CanaryScaledDown && s.StableRestored && s.Released:
		r.enter(RolledBack, 0, "", "every request goes to the stable version; "+s.Reason)
	case s.Phase == RollingBack && s.RouteGone && s.CanaryScaledDown && s.StableRestored:
		r.enter(RolledBack, 0, "", "the route is gone and the canary is scaled to zero, so no request can reach it: accepted as rolled back; "+s.Reason)
	}
}

// settleNoScaler marks the scaling done for a rollout without a Scaler
// (nothing to scale) and settles.
func (m *machine) settleNoScaler(s State, now time.Time) State {
	r := round{m: m, s: s, now: now}
	if s.Phase == RollingBack && !s.RouteGone {
		r.s.CanaryScaledDown, r.s.StableRestored = true, true
		r.settle()
	}
	if s.Phase == Promoting && m.plan.blueGreen() && !s.StableScaledDown {
		r.s.StableScaledDown = true
		r.emit(Event{Kind: KindAlert, Action: "scale-stable", Reason: "no Config.Scaler: the old version is not scaled down; scale it down yourself"})
		r.settle()
	}
	return r.finishRound()
}

// shape says in one line where s stands in the plan's shape ("" for a
// weighted canary without session affinity), and, for a blue/green plan
// in its post-promotion analysis, until when the old version is kept warm
// (Status.WarmUntil; zero otherwise).
func (m *machine) shape(s State) (string, time.Time) {
	p := m.plan
	pre := s.Phase == Pending || s.Phase == Validating || s.Stage < 0 && (s.Phase == Paused || s.Phase == AwaitingApproval)
	switch {
	case p.ab != nil:
		c, _ := traffic.NewCohort(p.ab.Cohort...)
		str := "A/B test: the cohort " + c.String() + " goes to the canary"
		if pre && p.ab.Iterations > 0 {
			str += fmt.Sprintf("; analysis %d of at least %d", s.Looks, p.ab.Iterations)
		}
		return str, time.Time{}
	case p.bg != nil:
		switch {
		case s.Phase == RollingBack || s.Phase == RolledBack:
			if s.Applied != nil && s.Applied.Canary == 100 || s.Intent != nil && s.Intent.Canary == 100 {
				return "blue/green: switching back to the old version", time.Time{}
			}
			return "blue/green: every request on the old version", time.Time{}
		case pre:
			return p.pre.what, time.Time{}
		case s.Phase == Promoting:
			return "blue/green: switched; scaling the old version down", time.Time{}
		case s.Phase == Succeeded:
			return "blue/green: switched; the old version scaled down", time.Time{}
		}
		// display.Shape writes " until " and the instant after it.
		return "blue/green: switched; post-promotion analysis, the old version warm", s.StageSince.Add(p.stages[0].Hold)
	case p.aff != nil:
		return fmt.Sprintf("canary with session affinity (cookie %s, %v)", p.aff.Cookie, p.aff.MaxAge), time.Time{}
	}
	return "", time.Time{}
}

// switchReason says what a write of split after was (nil: none) means
// for a blue/green plan: the switch, or the switch back; "" otherwise.
func (m *machine) switchReason(was *traffic.Split, split traffic.Split) string {
	if !m.plan.blueGreen() {
		return ""
	}
	switch {
	case split == traffic.Weighted(100) && (was == nil || was.Canary != 100):
		return "switch: every request goes to the new version, the old one is kept warm"
	case split == traffic.AllStable() && was != nil && was.Canary == 100:
		return "switch back: every request goes to the old version again"
	}
	return ""
}

// delivered drops the events up to seq, which the sink accepted.
func (m *machine) delivered(s State, seq uint64) State {
	i := 0
	for i < len(s.Undelivered) && s.Undelivered[i].Seq <= seq {
		i++
	}
	s.Undelivered = append(s.Undelivered[:0:0], s.Undelivered[i:]...)
	if len(s.Undelivered) == 0 {
		s.Undelivered = nil
	}
	return s
}

// endRound counts a round that failed to act, for the back-off.
func (m *machine) endRound(s State, failedToAct bool) State {
	if failedToAct {
		s.Retries++
	} else {
		s.Retries = 0
	}
	return s
}

// MaxRetryDelay caps the retry back-off: a failed write, scaling or
// delivery is retried after min(Plan.Interval, 5 s), the delay doubling
// with every failed round up to MaxRetryDelay.
const MaxRetryDelay = 5 * time.Minute

// next is when the rollout should be stepped again, given that the last
// round ended at now. It is the zero Time for a final phase.
func (m *machine) next(s State, now time.Time) time.Time {
	if s.Phase.Final() && len(s.Undelivered) == 0 {
		return time.Time{}
	}
	// What is being retried (a write, a scaling, the sink) backs off; the
	// analyses of an active rollout keep their own schedule.
	retry := min(m.plan.interval, 5*time.Second)
	if s.Retries > 0 {
		d := retry
		for i := 1; i < s.Retries && d < MaxRetryDelay; i++ {
			d *= 2
		}
		retry = min(d, max(MaxRetryDelay, retry))
	}
	switch s.Phase {
	case Pending, Promoting, RollingBack, Succeeded, RolledBack:
		return now.Add(retry)
	}
	if s.Intent != nil {
		return now.Add(retry)
	}
	next := s.NextAnalysis
	if m.timeOnly || next.IsZero() {
		next = now.Add(m.plan.interval)
	}
	switch s.Phase {
	case Validating:
		if end := s.PhaseSince.Add(m.plan.pre.min); end.After(now) || !m.plan.pre.passes {
			next = earliest(next, end)
		}
	case Progressing:
		hold := s.StageSince.Add(m.plan.stages[s.Stage].Hold)
		if hold.After(now) {
			next = earliest(next, hold)
		} else {
			next = earliest(next, hold.Add(m.plan.deadline))
		}
	}
	if !s.NotReadySince.IsZero() && active(s.Phase) {
		next = earliest(next, s.NotReadySince.Add(m.plan.deadline))
	}
	if !next.After(now) {
		next = now
	}
	return next
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// because joins what happened and the reason a person gave, if any.
func because(what, reason string) string {
	if reason == "" {
		return what
	}
	return what + ": " + reason
}

func plural(n int32, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
