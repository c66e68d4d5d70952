package rollback

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/workload"
)

// SnapshotFormat is the version of the State's JSON form.
const SnapshotFormat = 2

// MaxUndelivered bounds the events a rollout keeps for a sink that refuses
// them. Beyond it the oldest analysis and failure events are dropped
// (transitions, actions and commands never are) and counted in
// [State.Dropped], so a sink that is down for a day cannot grow the state
// without bound; the sink sees the gap in Seq.
const MaxUndelivered = 1000

// State is the whole state of a rollout: plain data that marshals to JSON
// (Rollout.Snapshot, and what a Store keeps) and, restored with Restore or
// Open, continues the rollout exactly where it stopped. Its fields are the
// snapshot format; the rollout's machine is the only writer, callers read.
type State struct {
	Format int    `json:"format"`
	Name   string `json:"name"`
	// Plan is a fingerprint of the plan and policy the state was made
	// under; Restore refuses another unless [Config.Migrate] is set.
	// Made is that plan and policy field by field ("Plan.Stages",
	// "Policy.FailureLimit", defaults filled in), so that a refusal names
	// the fields that changed; nil in a state saved before it existed.
	Plan  string            `json:"plan"`
	Made  map[string]string `json:"made,omitempty"`
	Phase Phase             `json:"phase"`
	// Stage is the index of the plan stage in force; -1 before the first.
	Stage int `json:"stage"`
	// Weight is the canary's weight the rollout wants now.
	Weight int `json:"weight"`
	// Applied is the split last written and confirmed; nil before the
	// first write. Intent is the split the state calls for while it is not
	// yet confirmed (written ahead: a restored rollout finishes it rather
	// than taking it for a change made outside).
	Applied *traffic.Split `json:"applied,omitempty"`
	Intent  *traffic.Split `json:"intent,omitempty"`

	StartedAt  time.Time `json:"startedAt,omitzero"`
	PhaseSince time.Time `json:"phaseSince,omitzero"`
	StageSince time.Time `json:"stageSince,omitzero"`
	// NextAnalysis is when the next analysis is due.
	NextAnalysis time.Time `json:"nextAnalysis,omitzero"`
	// NotReadySince is when the canary was first seen not ready (zero
	// while it is ready or unknown).
	NotReadySince time.Time `json:"notReadySince,omitzero"`
	CanaryReady   bool      `json:"canaryReady,omitempty"`

	// Looks counts analyses; Failed the failed ones (cumulative);
	// Consecutive the failed ones in a row; InconclusiveRun the
	// inconclusive ones in a row; StagePasses the passes at this stage.
	Looks           int               `json:"looks"`
	Failed          int               `json:"failed"`
	Consecutive     int               `json:"consecutive"`
	InconclusiveRun int               `json:"inconclusiveRun"`
	StagePasses     int               `json:"stagePasses"`
	LastVerdict     *analysis.Verdict `json:"lastVerdict,omitempty"`
	// Memory is the analyzer's Verdict.Memory, handed back as
	// [analysis.Input.Memory] at the next analysis.
	Memory json.RawMessage `json:"memory,omitempty"`
	// CanaryRate is the canary's requests per second at the last analysis
	// (the most any metric counted over its window), for estimates of how
	// long the evidence will take.
	CanaryRate float64 `json:"canaryRate,omitempty"`

	// StageLeans counts the analyses in a row at this stage that passed
	// or leaned towards "no regression" (Policy.Advance).
	StageLeans int `json:"stageLeans,omitempty"`

	// ResumeTo is the phase Resume returns to from Paused.
	ResumeTo Phase `json:"resumeTo,omitempty"`
	// Gate is the pending approval in AwaitingApproval; GateTarget the
	// stage it leads to (len(stages) for the promotion).
	Gate       *workload.GateRequest `json:"gate,omitempty"`
	GateTarget int                   `json:"gateTarget,omitempty"`

	// StableReplicas is the stable version's replica count recorded at the
	// start (read again at every step until it succeeds), restored on a
	// rollback.
	StableReplicas   int32 `json:"stableReplicas,omitempty"`
	StableRecorded   bool  `json:"stableRecorded,omitempty"`
	CanaryScaledDown bool  `json:"canaryScaledDown,omitempty"`
	StableRestored   bool  `json:"stableRestored,omitempty"`
	Released         bool  `json:"released,omitempty"`
	// RouteGone is set in a rollback whose route was found deleted: the
	// rollback is accepted once the canary is scaled to zero.
	RouteGone bool `json:"routeGone,omitempty"`
	// StableScaledDown: blue/green's promotion scaled the old version
	// down.
	StableScaledDown bool `json:"stableScaledDown,omitempty"`
	// AffinityValue is the session-affinity cookie's value of this
	// rollout (Plan.SessionAffinity), chosen at the start.
	AffinityValue string `json:"affinityValue,omitempty"`

	// Totals accumulate every short window since analysis began.
	Totals []Total `json:"totals,omitempty"`
	// Reason says why the rollout is in its phase.
	Reason string `json:"reason,omitempty"`
	// EvidenceAt is when the evidence a paused rollout's decision needed
	// arrived, while Reason says so ("; the evidence has arrived since: a
	// passing analysis, analysis 7; …"); zero otherwise, and in states
	// saved before it existed (their Reason holds the time as text).
	// display.Reason writes the reason with the instant in a zone the
	// caller chooses.
	EvidenceAt time.Time `json:"evidenceAt,omitzero"`

	// Retries counts the rounds in a row that failed to act; the next
	// attempt backs off exponentially with it (capped).
	Retries int `json:"retries,omitempty"`
	// Failing is the failure last reported, repeated Repeats times since
	// without a new event (failures are coalesced).
	Failing *FailureRun `json:"failing,omitempty"`

	// Seq is the number of the last event. Undelivered are the events the
	// sink has not yet accepted; Dropped counts those given up on beyond
	// [MaxUndelivered].
	Seq         uint64  `json:"seq"`
	Undelivered []Event `json:"undelivered,omitempty"`
	Dropped     int     `json:"dropped,omitempty"`
}

// FailureRun is a failure repeated without a new event each time.
type FailureRun struct {
	Action  string    `json:"action"`
	Error   string    `json:"error"`
	Since   time.Time `json:"since"`
	Repeats int       `json:"repeats,omitempty"`
	// Reported is when the run was last reported by an event.
	Reported time.Time `json:"reported"`
}

// Total accumulates one metric's short windows.
type Total struct {
	Metric string `json:"metric"`
	Canary Sum    `json:"canary"`
	Stable Sum    `json:"stable"`
}

// Sum is a count-weighted running sum: Count events whose values add up,
// each weighted by its count, to Total.
type Sum struct {
	Count int64   `json:"count"`
	Total float64 `json:"total"` // Σ value × count
}

func (s *Sum) add(m analysis.Measurement) {
	if m.Observed && m.Count > 0 {
		s.Count += m.Count
		s.Total += m.Value * float64(m.Count)
	}
}

func (s Sum) measurement() analysis.Measurement {
	if s.Count == 0 {
		return analysis.Measurement{}
	}
	return analysis.Observed(s.Total/float64(s.Count), s.Count)
}

// clone returns a deep copy of s, sharing nothing with it.
func (s State) clone() State {
	s.Applied = cloneSplitPtr(s.Applied)
	s.Intent = cloneSplitPtr(s.Intent)
	if s.LastVerdict != nil {
		v := cloneVerdict(*s.LastVerdict)
		s.LastVerdict = &v
	}
	s.Memory = slices.Clone(s.Memory)
	s.Made = maps.Clone(s.Made)
	if s.Gate != nil {
		g := *s.Gate
		s.Gate = &g
	}
	if s.Failing != nil {
		f := *s.Failing
		s.Failing = &f
	}
	s.Totals = slices.Clone(s.Totals)
	if s.Undelivered != nil {
		u := make([]Event, len(s.Undelivered))
		for i, e := range s.Undelivered {
			u[i] = e.clone()
		}
		s.Undelivered = u
	}
	return s
}

func cloneVerdict(v analysis.Verdict) analysis.Verdict {
	if v.Score != nil {
		sc := *v.Score
		v.Score = &sc
	}
	v.Details = slices.Clone(v.Details) // the pointers inside are never written
	v.Evidence = slices.Clone(v.Evidence)
	v.Memory = slices.Clone(v.Memory)
	return v
}

func (e Event) clone() Event {
	e.Split = cloneSplitPtr(e.Split)
	if e.Verdict != nil {
		v := cloneVerdict(*e.Verdict)
		e.Verdict = &v
	}
	e.Observations = slices.Clone(e.Observations)
	return e
}

// fingerprint identifies a resolved plan and policy.
func fingerprint(p *resolved, pol Policy) string {
	b, _ := json.Marshal(struct {
		Stages   []Stage
		Interval time.Duration
		Deadline time.Duration
		Zero     *ZeroTraffic
		Inc      bool
		Prom     bool
		Policy   Policy
		// Left out when zero, so that a weighted canary's fingerprint
		// is the one it had before strategies existed.
		Strategy Strategy         `json:",omitempty"`
		AB       *ABTest          `json:",omitempty"`
		BG       *BlueGreen       `json:",omitempty"`
		Aff      *SessionAffinity `json:",omitempty"`
	}{p.stages, p.interval, p.deadline, p.zero, p.gateInc, p.gateProm, pol, shapeName(p.strategy), p.ab, p.bg, p.aff})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// shapeName is the strategy as the fingerprint keeps it: "" for a
// weighted canary.
func shapeName(s Strategy) Strategy {
	if s == StrategyCanary {
		return ""
	}
	return s
}

// decodeState reads a snapshot strictly: unknown fields, unknown phases and
// any state m's plan cannot continue are errors naming the field.
func (m *machine) decodeState(b []byte, migrate bool) (State, error) {
	var s State
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return State{}, canary.Invalid("Snapshot", nil, "%v", err)
	}
	if dec.More() {
		return State{}, canary.Invalid("Snapshot", nil, "has data after the state object")
	}
	if err := m.check(s, migrate); err != nil {
		return State{}, err
	}
	if migrate || s.Made == nil && s.Plan == m.fingerprint {
		s.Plan, s.Made = m.fingerprint, m.planFields()
	}
	if m.plan.aff != nil && s.AffinityValue == "" && s.Phase != Pending {
		// Migrated from a plan without session affinity: the value is
		// derived as the start would have.
		s.AffinityValue = affinityValue(s.Name, s.StartedAt)
	}
	return s, nil
}

// check refuses, with a *[canary.FieldError], a state the plan cannot
// continue.
func (m *machine) check(s State, migrate bool) error {
	n := len(m.plan.stages)
	active := s.Phase == Validating || s.Phase == Progressing || s.Phase == AwaitingApproval
	inv := func(field string, v any, format string, args ...any) error {
		return canary.Invalid("Snapshot."+field, v, format, args...)
	}
	switch {
	case s.Format != SnapshotFormat:
		return inv("format", s.Format, "must be %d", SnapshotFormat)
	case s.Name != m.name:
		return inv("name", s.Name, "belongs to another rollout; Config.Name is %q", m.name)
	case s.Plan != m.fingerprint && !migrate:
		if changed := m.changed(s.Made); changed != "" {
			return inv("plan", nil, "was made under another plan or policy: %s; set Config.Migrate to continue it", changed)
		}
		return inv("plan", s.Plan, "was made under another plan or policy (this one is %s); set Config.Migrate to continue it", m.fingerprint)
	case s.Phase < Pending || s.Phase > RolledBack:
		return inv("phase", int(s.Phase), "is not a phase")
	case s.Stage < -1 || s.Stage >= n:
		return inv("stage", s.Stage, "is the index of the stage in force and must be between -1 (none yet) and %d (stage %d of %d, the last)", n-1, n, n)
	case s.Phase == Progressing && s.Stage < 0:
		return inv("stage", s.Stage, "must be a stage of the plan in phase %s", s.Phase)
	case s.Weight < 0 || s.Weight > 100:
		return inv("weight", s.Weight, "must be between 0 and 100")
	case (s.Phase == Progressing || s.Phase == AwaitingApproval || s.Phase == Paused) && !m.weightAllowed(s.Weight):
		return inv("weight", s.Weight, "is not a weight of this plan (0, its stages' weights, or a manual weight up to %d)", m.manualMax())
	case s.Phase == Progressing && s.Weight != m.plan.stages[s.Stage].Weight:
		return inv("weight", s.Weight, "must be the weight of stage %d of %d (%d %%) in phase %s", s.Stage+1, n, m.plan.stages[s.Stage].Weight, s.Phase)
	case (s.Phase == Pending || s.Phase == Validating || s.Phase == RollingBack || s.Phase == RolledBack) && s.Weight != 0:
		return inv("weight", s.Weight, "must be 0 in phase %s", s.Phase)
	case (s.Phase == Promoting || s.Phase == Succeeded) && s.Weight != 100:
		return inv("weight", s.Weight, "must be 100 in phase %s", s.Phase)
	case s.GateTarget < 0 || s.GateTarget > n:
		return inv("gateTarget", s.GateTarget, "must be between 0 and %d for this plan", n)
	case s.Phase == AwaitingApproval && s.Gate == nil:
		return inv("gate", nil, "must be set in phase %s", s.Phase)
	case s.Phase == AwaitingApproval && s.GateTarget <= s.Stage:
		return inv("gateTarget", s.GateTarget, "must lead past the stage in force (stage %d of %d)", s.Stage+1, n)
	case s.Phase == Paused && s.ResumeTo != Validating && s.ResumeTo != Progressing && s.ResumeTo != AwaitingApproval:
		return inv("resumeTo", s.ResumeTo.String(), "must be validating, progressing or awaiting-approval")
	case s.Phase == Paused && s.ResumeTo == AwaitingApproval && (s.Gate == nil || s.GateTarget <= s.Stage):
		return inv("gate", nil, "must be set, leading past the stage in force (stage %d of %d), when resuming to %s", s.Stage+1, n, s.ResumeTo)
	case (s.Phase == Validating || s.Phase == Paused && s.ResumeTo == Validating) && m.plan.pre == nil:
		return inv("phase", s.Phase.String(), "this plan has no zero-traffic phase")
	case m.plan.ab != nil && (s.Phase == Progressing || s.Phase == Paused && s.ResumeTo == Progressing):
		return inv("phase", s.Phase.String(), "an A/B test has no weighted stage")
	case s.AffinityValue != "" && m.plan.aff != nil &&
		(traffic.Split{Stable: 50, Canary: 50, Affinity: affinity(m.plan.aff, s.AffinityValue)}).Validate() != nil:
		return inv("affinityValue", s.AffinityValue, "must be a cookie value (visible ASCII without '\"', ',', ';' or '\\')")
	case !active && s.Phase != Paused && (s.Gate != nil || s.GateTarget != 0):
		return inv("gate", nil, "must not be set in phase %s", s.Phase)
	case s.Looks < 0 || s.Failed < 0 || s.Consecutive < 0 || s.InconclusiveRun < 0 || s.StagePasses < 0 || s.Retries < 0 || s.Dropped < 0:
		return inv("looks", nil, "has a negative counter")
	case s.StableReplicas < 0:
		return inv("stableReplicas", s.StableReplicas, "must not be negative")
	case len(s.Undelivered) > MaxUndelivered:
		return inv("undelivered", len(s.Undelivered), "holds more than %d events", MaxUndelivered)
	case s.CanaryRate < 0 || s.CanaryRate != s.CanaryRate:
		return inv("canaryRate", s.CanaryRate, "must be a non-negative number")
	}
	for i, e := range s.Undelivered {
		if e.Seq > s.Seq || i > 0 && e.Seq <= s.Undelivered[i-1].Seq {
			return inv(fmt.Sprintf("undelivered[%d].seq", i), e.Seq, "must rise and not pass seq %d", s.Seq)
		}
	}
	for _, sp := range []struct {
		f string
		s *traffic.Split
	}{{"applied", s.Applied}, {"intent", s.Intent}} {
		if sp.s != nil {
			if err := sp.s.Validate(); err != nil {
				return fmt.Errorf("rollback: Snapshot.%s: %w", sp.f, err)
			}
		}
	}
	if s.Intent != nil && !s.Intent.Equal(m.desired(s)) {
		return inv("intent", s.Intent.String(), "is not the split phase %s at %d %% calls for", s.Phase, s.Weight)
	}
	return nil
}

// weightAllowed reports whether w is a weight a non-final phase can hold:
// 0, a stage's weight, or a manual weight up to manualMax.
func (m *machine) weightAllowed(w int) bool {
	return w >= 0 && w <= m.manualMax() || w == m.plan.maxWeight()
}

// manualMax is the largest weight SetWeight accepts: the largest stage
// below 100.
func (m *machine) manualMax() int {
	st := m.plan.stages
	max := st[len(st)-1].Weight
	if max == 100 {
		max = 0
		if len(st) > 1 {
			max = st[len(st)-2].Weight
		}
	}
	return max
}

// ErrNotFinite is reported (wrapped, in a failure event and in Step's
// error) when an analyzer's verdict or a metrics provider's value holds a
// number that is not finite (NaN or ±Inf), which JSON cannot encode: a
// bug in that analyzer or provider. The value is left out, the verdict
// counts as no better than inconclusive, and the rollout goes on.
var ErrNotFinite = errors.New("rollback: a value is not a finite number (NaN or ±Inf)")

// finiteVerdict returns v with every number that is not finite left out
// (a pointer set to nil, a number to 0) and a Memory
// that is not JSON dropped, and what it left out. A Pass that held any is
// made Inconclusive: a verdict is never better than its evidence. v's
// slices are never written: they are copied when something in them is
// replaced, and v comes back as it is when nothing is.
func finiteVerdict(v analysis.Verdict) (analysis.Verdict, []string) {
	if finite(reflect.ValueOf(&v).Elem()) && (len(v.Memory) == 0 || json.Valid(v.Memory)) {
		return v, nil // the common case: nothing to replace, nothing copied
	}
	v = cloneVerdict(v)
	var bad []string
	scrub(reflect.ValueOf(&v).Elem(), "verdict", &bad)
	if len(v.Memory) > 0 && !json.Valid(v.Memory) {
		v.Memory = nil
		bad = append(bad, "verdict.Memory (not JSON)")
	}
	if len(bad) > 0 {
		if v.Outcome == analysis.Pass {
			v.Outcome = analysis.Inconclusive
		}
		v.Reason += fmt.Sprintf("; the analyzer returned values that are not finite (%s): left out, a bug in the analyzer", strings.Join(bad, ", "))
	}
	return v, bad
}

// rawMessage is the type of the JSON fields scrub checks.
var rawMessage = reflect.TypeFor[json.RawMessage]()

// finite reports whether scrub would leave v as it is (nothing to
// replace); it walks v the same way, allocating nothing.
func finite(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		return !math.IsNaN(f) && !math.IsInf(f, 0)
	case reflect.Pointer:
		return v.IsNil() || finite(v.Elem())
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).IsExported() && !finite(v.Field(i)) {
				return false
			}
		}
	case reflect.Slice:
		if v.Type() == rawMessage {
			return v.Len() == 0 || json.Valid(v.Bytes())
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return true
		}
		for i := 0; i < v.Len(); i++ {
			if !finite(v.Index(i)) {
				return false
			}
		}
	}
	return true
}

// scrub walks v (addressable) and replaces every float that is not
// finite: a *float64 becomes nil, a float64 0, a []float64 loses it;
// slices are copied before they change. It appends the paths of what it
// replaced to bad, and leaves a json.RawMessage that is not JSON empty.
func scrub(v reflect.Value, path string, bad *[]string) {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			*bad = append(*bad, fmt.Sprintf("%s=%v", path, f))
			v.SetFloat(0)
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if e := v.Elem(); e.Kind() == reflect.Float64 || e.Kind() == reflect.Float32 {
			if f := e.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
				*bad = append(*bad, fmt.Sprintf("%s=%v", path, f))
				v.Set(reflect.Zero(v.Type()))
			}
			return
		}
		c := reflect.New(v.Elem().Type()) // a copy: the original may be shared
		c.Elem().Set(v.Elem())
		n := len(*bad)
		scrub(c.Elem(), path, bad)
		if len(*bad) > n {
			v.Set(c)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() {
				scrub(v.Field(i), path+"."+f.Name, bad)
			}
		}
	case reflect.Slice:
		if v.Type() == rawMessage {
			if v.Len() > 0 && !json.Valid(v.Bytes()) {
				*bad = append(*bad, path+" (not JSON)")
				v.Set(reflect.Zero(v.Type()))
			}
			return
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		n := len(*bad)
		for i := 0; i < c.Len(); i++ {
			scrub(c.Index(i), fmt.Sprintf("%s[%d]", path, i), bad)
		}
		if len(*bad) > n {
			v.Set(c)
		}
	case reflect.Map, reflect.Interface:
		// No map or interface field holds numbers in a State.
	}
}

// clockSkew is how far ahead of now an instant in the state may be
// before rebase takes it for a clock that went back.
const clockSkew = time.Minute

// rebase pulls back a schedule that runs ahead of now, which only a clock
// that went back can make (every instant in the state was once "now", and
// the next analysis is at most one interval after it): the next analysis
// is due at once, and a stage's hold, a validation and a readiness wait
// count from now. Without it a clock set ten years ahead and back left
// the next analysis scheduled ten years on and the canary unanalysed at
// its weight. Instants up to clockSkew ahead are left alone (two callers'
// clocks, or a Step racing an operation, differ by that much). It records
// an alert event when it changes anything.
func (m *machine) rebase(s State, now time.Time) State {
	var moved []string
	pull := func(name string, t *time.Time, ahead time.Duration) {
		if !t.IsZero() && t.After(now.Add(ahead+clockSkew)) {
			moved = append(moved, fmt.Sprintf("%s %s", name, t.UTC().Format(time.RFC3339)))
			*t = now
		}
	}
	late := func(t time.Time, ahead time.Duration) bool { return t.After(now.Add(ahead + clockSkew)) }
	if !late(s.NextAnalysis, m.plan.interval) && !late(s.StageSince, 0) && !late(s.PhaseSince, 0) && !late(s.NotReadySince, 0) &&
		(s.Failing == nil || !late(s.Failing.Reported, 0) && !late(s.Failing.Since, 0)) {
		return s // the common case: nothing ahead, nothing copied
	}
	s = s.clone()
	pull("next analysis", &s.NextAnalysis, m.plan.interval)
	pull("stage start", &s.StageSince, 0)
	pull("phase start", &s.PhaseSince, 0)
	pull("not ready since", &s.NotReadySince, 0)
	if f := s.Failing; f != nil {
		pull("failure reported", &f.Reported, 0)
		pull("failure since", &f.Since, 0)
	}
	if len(moved) == 0 {
		return s
	}
	r := round{m: m, s: s, now: now}
	r.emit(Event{Kind: KindAlert, Action: "clock",
		Reason: fmt.Sprintf("the clock went back (now %s): %s rescheduled from now", now.UTC().Format(time.RFC3339), strings.Join(moved, ", "))})
	return r.s
}

// planFields is the plan and policy field by field, as [State.Made] keeps
// them: the fields of Config people set, defaults filled in.
func (m *machine) planFields() map[string]string {
	p := m.plan
	f := map[string]string{}
	st := make([]string, len(p.stages))
	for i, s := range p.stages {
		st[i] = fmt.Sprintf("%d %% for %v", s.Weight, s.Hold)
	}
	f["Plan.Stages"] = strings.Join(st, ", ")
	f["Plan.Interval"] = p.interval.String()
	f["Plan.ProgressDeadline"] = p.deadline.String()
	f["Plan.ZeroTraffic"] = "none"
	if z := p.zero; z != nil {
		f["Plan.ZeroTraffic"] = fmt.Sprintf("%v, mirror %d %%, test route %q=%q", z.Duration, z.Mirror, z.TestRoute.Name, z.TestRoute.Value)
	}
	f["Plan.ApproveIncrease"] = fmt.Sprint(p.gateInc)
	f["Plan.ApprovePromotion"] = fmt.Sprint(p.gateProm)
	// The shapes' fields are listed when used, so that a state saved
	// before they existed names no field as new.
	if p.strategy != StrategyCanary {
		f["Plan.Strategy"] = string(p.strategy)
	}
	if a := p.ab; a != nil {
		c, _ := traffic.NewCohort(a.Cohort...)
		f["Plan.ABTest"] = fmt.Sprintf("cohort %s, at least %d analyses", c, a.Iterations)
	}
	if b := p.bg; b != nil {
		f["Plan.BlueGreen"] = fmt.Sprintf("preview %q=%q, mirror %d %%, pre-promotion %v, post-promotion %v, scale-down delay %v",
			b.Preview.Name, b.Preview.Value, b.Mirror, b.PrePromotion, b.PostPromotion, b.ScaleDownDelay)
	}
	if a := p.aff; a != nil {
		f["Plan.SessionAffinity"] = fmt.Sprintf("cookie %s for %v", a.Cookie, a.MaxAge)
	}
	v := reflect.ValueOf(m.policy)
	for i := 0; i < v.NumField(); i++ {
		if t := v.Type().Field(i); t.IsExported() {
			f["Policy."+t.Name] = fmt.Sprint(v.Field(i).Interface())
		}
	}
	return f
}

// changed names the fields in which made, a state's [State.Made],
// differs from m's plan and policy, with both values; "" when made is
// nil or names no difference.
func (m *machine) changed(made map[string]string) string {
	if made == nil {
		return ""
	}
	now := m.planFields()
	var diff []string
	for _, k := range slices.Sorted(maps.Keys(now)) {
		if was, ok := made[k]; ok && was != now[k] {
			diff = append(diff, fmt.Sprintf("%s was %s and is %s", k, was, now[k]))
		} else if !ok {
			diff = append(diff, k+" is new")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(made)) {
		if _, ok := now[k]; !ok {
			diff = append(diff, k+" is gone")
		}
	}
	return strings.Join(diff, "; ")
}

// restarted takes route, read from an ephemeral router when the rollout
// resumed, for the split last confirmed: the router restarted with it
// (all-stable), so the state's split is not in force and is written again
// (as Intent), with no failure reported.
func (m *machine) restarted(s State, route traffic.Split) State {
	if s.Applied == nil || s.Applied.Equal(route) {
		return s
	}
	r := round{m: m, s: s.clone()}
	r.s.Applied = cloneSplitPtr(&route)
	return r.finishRound()
}
