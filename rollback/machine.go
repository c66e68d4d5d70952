package rollback

import (
	"errors"
	"fmt"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/traffic"
)

// ErrNotAllowed is returned (wrapped) by a manual operation that the
// rollout's phase does not allow, such as raising the canary's weight after
// a rollback decision.
var ErrNotAllowed = errors.New("rollback: operation not allowed in this phase")

// Op is a manual operation.
type Op string

const (
	OpPause     Op = "pause"
	OpResume    Op = "resume"
	OpSetWeight Op = "set-weight"
	OpApprove   Op = "approve"
	OpPromote   Op = "promote"
	OpAbort     Op = "abort"
)

// Command is a manual operation with who asked for it and why.
type Command struct {
	Op     Op     `json:"op"`
	Weight int    `json:"weight,omitempty"` // for OpSetWeight
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
}

// Inputs is what one round of the decision core is given besides the
// state and the instant. Every field is optional.
type Inputs struct {
	// Verdict is the analysis made this round, with the Observations
	// behind it; nil when no analysis was due.
	Verdict      *analysis.Verdict
	Observations []analysis.Observation
	// Ready is the canary's readiness, when it was checked this round.
	Ready       *bool
	ReadyReason string
	// Approval is a Gate's answer for the pending gate.
	Approval *Approval
	// Command is a manual operation.
	Command *Command
	// RouteMissing is the router's error when it reported its route gone
	// (traffic.ErrNotFound). A validating, progressing or waiting rollout
	// rolls back at once: with no route, the mesh's own default routing
	// decides who gets the canary.
	RouteMissing error
}

// Machine is the pure decision core of a rollout: from a State, the Inputs
// of one round and the current instant it computes the next State and the
// events that explain it. It does no I/O, reads no clock and starts no
// goroutine; the same arguments always give the same result. Rollout wraps
// it with the observing and the acting.
type Machine struct {
	plan     *resolved
	policy   Policy
	timeOnly bool // no analyzer: steps advance on time alone
	name     string
}

// NewMachine validates plan and policy and returns the Machine for them.
// timeOnly makes steps advance on their hold alone, without passing
// analyses (a rollout with no analyzer).
func NewMachine(name string, plan Plan, policy Policy, timeOnly bool) (*Machine, error) {
	p, err := plan.resolve()
	if err != nil {
		return nil, err
	}
	pol, err := policy.resolve()
	if err != nil {
		return nil, err
	}
	return &Machine{plan: p, policy: pol, timeOnly: timeOnly, name: name}, nil
}

// Initial returns the state of a rollout that has not started.
func (m *Machine) Initial() State {
	return State{Format: SnapshotFormat, Name: m.name, Phase: Pending, Step: -1}
}

// Steps returns the plan's steps with their holds filled in.
func (m *Machine) Steps() []Step { return append([]Step(nil), m.plan.steps...) }

// Interval is the plan's analysis interval.
func (m *Machine) Interval() time.Duration { return m.plan.interval }

// Policy is the policy with its defaults filled in.
func (m *Machine) Policy() Policy { return m.policy }

// Desired is the split the state calls for.
func (m *Machine) Desired(s State) traffic.Split {
	switch s.Phase {
	case Pending, RollingBack, RolledBack:
		return traffic.AllStable()
	case Validating:
		return m.validationSplit()
	case Paused:
		if s.ResumeTo == Validating {
			return m.validationSplit()
		}
	}
	return traffic.Weighted(s.Weight)
}

func (m *Machine) validationSplit() traffic.Split {
	z := m.plan.zero
	return traffic.Split{Stable: 100, Mirror: z.Mirror, TestRoute: z.TestRoute}
}

// AnalysisDue reports whether an analysis should run at now.
func (m *Machine) AnalysisDue(s State, now time.Time) bool {
	switch s.Phase {
	case Validating, Progressing, AwaitingApproval:
		return !m.timeOnly && !now.Before(s.NextAnalysis)
	}
	return false
}

// round is one application of the decision core.
type round struct {
	m   *Machine
	s   State
	now time.Time
	ev  []Event
}

func (r *round) emit(e Event) {
	r.s.Seq++
	e.Seq, e.Time, e.Rollout = r.s.Seq, r.now, r.s.Name
	if e.Kind != Transition {
		e.From, e.To = r.s.Phase, r.s.Phase
		e.WeightFrom, e.WeightTo = r.s.Weight, r.s.Weight
	}
	r.ev = append(r.ev, e)
}

// enter moves to phase ph with canary weight w.
func (r *round) enter(ph Phase, w int, actor, reason string) {
	from, wf := r.s.Phase, r.s.Weight
	r.s.Phase, r.s.Weight, r.s.Reason = ph, w, reason
	if from != ph {
		r.s.PhaseSince = r.now
	}
	r.emit(Event{Kind: Transition, From: from, To: ph, WeightFrom: wf, WeightTo: w, Actor: actor, Reason: reason})
}

// Decide is the decision core. It returns the next state and the events
// explaining it, or an error (and the state unchanged) when in.Command is
// not allowed.
func (m *Machine) Decide(s State, in Inputs, now time.Time) (State, []Event, error) {
	r := round{m: m, s: s, now: now}
	if in.Command != nil {
		if err := r.command(*in.Command); err != nil {
			return s, nil, err
		}
		return r.s, r.ev, nil
	}
	r.tick(in)
	return r.s, r.ev, nil
}

func (r *round) tick(in Inputs) {
	m := r.m
	switch r.s.Phase {
	case Pending:
		r.start()
		return
	case Validating, Progressing, AwaitingApproval:
	default:
		return
	}
	if in.RouteMissing != nil {
		r.rollBack("rollout", "the route is gone: "+in.RouteMissing.Error())
		return
	}
	if in.Verdict != nil {
		r.judge(*in.Verdict, in.Observations)
		if r.s.Phase == RollingBack || r.s.Phase == Paused {
			return
		}
	}
	if in.Ready != nil {
		r.s.CanaryReady = *in.Ready
		if *in.Ready {
			r.s.NotReadySince = time.Time{}
		} else {
			if r.s.NotReadySince.IsZero() {
				r.s.NotReadySince = r.now
			}
			if r.now.Sub(r.s.NotReadySince) >= m.plan.deadline {
				r.fail(fmt.Sprintf("canary not ready for longer than the progress deadline %v: %s", m.plan.deadline, in.ReadyReason))
				return
			}
		}
	}
	switch r.s.Phase {
	case AwaitingApproval:
		if a := in.Approval; a != nil && a.Approved {
			r.emit(Event{Kind: Action, Action: "gate", Actor: a.Actor, Reason: "approved: " + a.Reason})
			r.move(r.s.GateTarget, a.Actor, "approved by gate")
		}
	case Validating:
		if !r.now.Before(r.s.PhaseSince.Add(m.plan.zero.Duration)) && r.s.NotReadySince.IsZero() {
			r.advance("zero-traffic validation complete")
		}
	case Progressing:
		st := m.plan.steps[r.s.Step]
		holdEnd := r.s.StepSince.Add(st.Hold)
		passed := (m.timeOnly || r.s.StepPasses >= m.policy.PassesPerStep) && r.s.NotReadySince.IsZero()
		switch {
		case passed && !r.now.Before(holdEnd):
			r.advance(fmt.Sprintf("step %d of %d held %v", r.s.Step+1, len(m.plan.steps), st.Hold))
		case !r.now.Before(holdEnd.Add(m.plan.deadline)):
			why := fmt.Sprintf("progress deadline missed: no passing analysis at %d %% within %v of the hold",
				r.s.Weight, m.plan.deadline)
			if m.policy.AtDeadline == PauseAtDeadline {
				r.pause("policy", why+"; the evidence is inconclusive, a person decides (Resume, Promote or Abort)"+r.needs())
				return
			}
			r.fail(why)
		}
	}
}

func (r *round) start() {
	r.s.StartedAt = r.now
	r.s.NextAnalysis = r.now.Add(r.m.plan.interval)
	if r.m.plan.zero != nil {
		r.s.StepSince = r.now
		r.enter(Validating, 0, "", fmt.Sprintf("zero-traffic validation for %v", r.m.plan.zero.Duration))
		return
	}
	r.advance("rollout started")
}

// advance goes to the step after the current one, through its gate.
func (r *round) advance(reason string) {
	next := r.s.Step + 1
	promotion := next >= len(r.m.plan.steps) || r.m.plan.steps[next].Weight == 100
	to := 100
	if !promotion {
		to = r.m.plan.steps[next].Weight
	}
	kind := GateKind("")
	switch {
	case promotion && r.m.plan.gateProm:
		kind = BeforePromotion
	case !promotion && r.m.plan.gateInc:
		kind = BeforeIncrease
	}
	if kind != "" {
		r.s.Gate = &GateRequest{Rollout: r.s.Name, Kind: kind, From: r.s.Weight, To: to, Since: r.now}
		r.s.GateTarget = next
		r.enter(AwaitingApproval, r.s.Weight, "", fmt.Sprintf("%s; waiting for approval (%s) to go from %d %% to %d %%",
			reason, kind, r.s.Weight, to))
		return
	}
	r.move(next, "", reason)
}

// move goes to step next (or the promotion when next is past the last step
// or a step of 100 %).
func (r *round) move(next int, actor, reason string) {
	r.s.Gate, r.s.GateTarget = nil, 0
	if next >= len(r.m.plan.steps) || r.m.plan.steps[next].Weight == 100 {
		r.s.Released = false
		r.enter(Promoting, 100, actor, reason+"; promoting")
		return
	}
	r.s.Step = next
	r.s.StepSince, r.s.StepPasses = r.now, 0
	r.s.NextAnalysis = r.now.Add(r.m.plan.interval)
	r.enter(Progressing, r.m.plan.steps[next].Weight, actor, reason)
}

// judge counts a verdict by the policy and acts on the failure limit.
func (r *round) judge(v analysis.Verdict, obs []analysis.Observation) {
	p := r.m.policy
	r.s.Looks++
	r.s.LastVerdict = &v
	r.s.NextAnalysis = r.now.Add(r.m.plan.interval)
	failed := false
	switch v.Outcome {
	case analysis.Pass:
		r.s.Consecutive, r.s.InconclusiveRun = 0, 0
		r.s.StepPasses++
	case analysis.Fail:
		failed = true
	default:
		r.s.InconclusiveRun++
		switch {
		case p.NoData == FailNoData:
			failed = true
		case p.NoData == FailAfter && r.s.InconclusiveRun >= p.NoDataAfter:
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
	r.emit(Event{Kind: Verdict, Verdict: &v, Observations: obs, Failures: count, Reason: v.Reason})
	if count >= p.FailureLimit {
		r.fail(fmt.Sprintf("%d failed analyses (%s limit %d): %s", count, p.Counting, p.FailureLimit, v.Reason))
	}
}

// needs says how many more canary requests the last verdict's evidence
// needs for a decision and, at the traffic seen so far, roughly how long.
func (r *round) needs() string {
	v := r.s.LastVerdict
	if v == nil || len(v.Evidence) == 0 {
		return "; no evidence estimate"
	}
	var more, reqs int64
	for _, e := range v.Evidence {
		if e.More < 0 {
			return "; no estimate yet of the requests a decision needs"
		}
		more, reqs = max(more, e.More), max(reqs, e.Requests)
	}
	s := fmt.Sprintf("; about %d more canary requests needed", more)
	if el := r.now.Sub(r.s.StartedAt); reqs > 0 && el > 0 {
		s += fmt.Sprintf(", roughly %v at the traffic so far", (time.Duration(float64(el) * float64(more) / float64(reqs))).Round(time.Minute))
	}
	return s
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
	r.s.CanaryScaledDown, r.s.StableRestored, r.s.Released = false, false, false
	r.enter(RollingBack, 0, actor, reason)
}

func notAllowed(op Op, ph Phase) error {
	return fmt.Errorf("%w: %s in phase %s", ErrNotAllowed, op, ph)
}

func (r *round) command(c Command) error {
	ph := r.s.Phase
	active := ph == Validating || ph == Progressing || ph == AwaitingApproval
	switch c.Op {
	case OpPause:
		if ph == Paused {
			return nil
		}
		if !active {
			return notAllowed(c.Op, ph)
		}
		r.emit(Event{Kind: Manual, Action: string(c.Op), Actor: c.Actor, Reason: c.Reason})
		r.pause(c.Actor, c.Reason)
	case OpResume:
		if ph != Paused {
			return notAllowed(c.Op, ph)
		}
		r.emit(Event{Kind: Manual, Action: string(c.Op), Actor: c.Actor, Reason: c.Reason})
		r.s.StepSince, r.s.StepPasses = r.now, 0
		r.s.NextAnalysis = r.now.Add(r.m.plan.interval)
		r.s.NotReadySince = time.Time{}
		to := r.s.ResumeTo
		if to == Validating {
			r.s.PhaseSince = r.now // the validation's clock goes on from here
		}
		r.enter(to, r.s.Weight, c.Actor, c.Reason)
		r.s.ResumeTo = 0
	case OpSetWeight:
		if !active && ph != Paused {
			return notAllowed(c.Op, ph)
		}
		max := r.m.plan.maxWeight()
		if max == 100 && len(r.m.plan.steps) > 1 {
			max = r.m.plan.steps[len(r.m.plan.steps)-2].Weight
		}
		if c.Weight < 0 || c.Weight > max {
			return canary.Invalid("Command.Weight", c.Weight, "must be between 0 and the plan's largest step %d; use Promote for 100", max)
		}
		r.emit(Event{Kind: Manual, Action: fmt.Sprintf("%s %d", c.Op, c.Weight), Actor: c.Actor, Reason: c.Reason})
		step := -1
		for i, st := range r.m.plan.steps {
			if st.Weight <= c.Weight {
				step = i
			}
		}
		r.s.Step = step
		r.s.Gate, r.s.GateTarget = nil, 0
		r.s.ResumeTo = Progressing
		r.enter(Paused, c.Weight, c.Actor, fmt.Sprintf("manual weight %d %%: %s", c.Weight, c.Reason))
	case OpApprove:
		if ph != AwaitingApproval {
			return notAllowed(c.Op, ph)
		}
		r.emit(Event{Kind: Manual, Action: string(c.Op) + " " + string(r.s.Gate.Kind), Actor: c.Actor, Reason: c.Reason})
		r.move(r.s.GateTarget, c.Actor, "approved: "+c.Reason)
	case OpPromote:
		switch ph {
		case Promoting, Succeeded:
			return nil
		case RollingBack, RolledBack:
			return notAllowed(c.Op, ph)
		}
		if r.s.StartedAt.IsZero() {
			r.s.StartedAt = r.now
		}
		r.emit(Event{Kind: Manual, Action: string(c.Op), Actor: c.Actor, Reason: c.Reason})
		r.move(len(r.m.plan.steps), c.Actor, "manual promotion: "+c.Reason)
	case OpAbort:
		switch ph {
		case RollingBack, RolledBack:
			return nil // rolling back twice is harmless
		case Succeeded:
			return notAllowed(c.Op, ph)
		}
		if r.s.StartedAt.IsZero() {
			r.s.StartedAt = r.now
		}
		r.emit(Event{Kind: Manual, Action: string(c.Op), Actor: c.Actor, Reason: c.Reason})
		r.rollBack(c.Actor, "aborted: "+c.Reason)
	default:
		return canary.Invalid("Command.Op", string(c.Op), "is not a known operation")
	}
	return nil
}

// Settle finishes the promotion or the rollback once the acting is done:
// Promoting becomes Succeeded when the full split is in force and the
// router released; RollingBack becomes RolledBack when the all-stable split
// is in force, the canary scaled down, the stable version restored and the
// router released.
func (m *Machine) Settle(s State, now time.Time) (State, []Event) {
	r := round{m: m, s: s, now: now}
	applied := s.Applied != nil && s.Applied.Equal(m.Desired(s))
	switch {
	case s.Phase == Promoting && applied && s.Released:
		r.enter(Succeeded, 100, "", "every request goes to the canary")
	case s.Phase == RollingBack && applied && s.CanaryScaledDown && s.StableRestored && s.Released:
		r.enter(RolledBack, 0, "", "every request goes to the stable version; "+s.Reason)
	}
	return r.s, r.ev
}

// Next is when the rollout should be stepped again, given that the last
// round ended at now with acting error err (nil if none). It is the zero
// Time for a final phase.
func (m *Machine) Next(s State, now time.Time, err error) time.Time {
	retry := now.Add(min(m.plan.interval, 5*time.Second))
	if s.Phase.Final() {
		return time.Time{}
	}
	if err != nil {
		return retry
	}
	switch s.Phase {
	case Pending, Promoting, RollingBack:
		return retry
	case Paused:
		return now.Add(m.plan.interval)
	}
	next := s.NextAnalysis
	if m.timeOnly || next.IsZero() {
		next = now.Add(m.plan.interval)
	}
	switch s.Phase {
	case Validating:
		next = earliest(next, s.PhaseSince.Add(m.plan.zero.Duration))
	case Progressing:
		hold := s.StepSince.Add(m.plan.steps[s.Step].Hold)
		if hold.After(now) {
			next = earliest(next, hold)
		} else {
			next = earliest(next, hold.Add(m.plan.deadline))
		}
	}
	if !s.NotReadySince.IsZero() {
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
