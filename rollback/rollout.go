package rollback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/internal/textfmt"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/workload"
)

// Status is what a Step or a manual operation reports.
type Status struct {
	Name  string `json:"name"`
	Phase Phase  `json:"phase"`
	// StageNumber is the 1-based number of the plan stage in force (0
	// before the first) out of Stages.
	StageNumber int `json:"stageNumber"`
	Stages      int `json:"stages"`
	// Strategy is the plan's shape (never ""), and Shape says in one line
	// where the rollout stands in it ("A/B test: the cohort … goes to the
	// canary; analysis 2 of at least 5"); empty for a weighted canary
	// without session affinity.
	Strategy Strategy `json:"strategy"`
	Shape    string   `json:"shape,omitempty"`
	// WarmUntil is, for a blue/green plan in its post-promotion analysis,
	// until when the old version is kept warm (Shape then ends "the old
	// version warm"; display.Shape adds " until" and the instant in the
	// zone its caller chooses); zero otherwise.
	WarmUntil time.Time `json:"warmUntil,omitzero"`
	// CanaryWeight is the weight the rollout wants; Split the split last
	// confirmed in force (zero before the first write).
	CanaryWeight int           `json:"canaryWeight"`
	Split        traffic.Split `json:"split"`
	// Verdict is the last analysis's verdict, nil before the first. It is
	// shared with the rollout and its events: read it, do not change it.
	Verdict      *analysis.Verdict `json:"verdict,omitempty"`
	Failures     int               `json:"failures"`
	FailureLimit int               `json:"failureLimit"`
	// Evidence is the last verdict's evidence per metric (how far from a
	// Fail and from a Pass, the canary requests behind it, how many more a
	// decision needs). More is the most any metric needs (0 decided, -1
	// unknown), CanaryRate the canary's requests per second at the last
	// analysis and Estimate roughly how long More takes at that rate (0
	// when unknown).
	Evidence   []analysis.Evidence `json:"evidence,omitempty"`
	More       int64               `json:"more,omitempty"`
	CanaryRate float64             `json:"canaryRate,omitempty"`
	Estimate   time.Duration       `json:"estimate,omitempty"`
	// Gate is the pending approval in AwaitingApproval.
	Gate   *workload.GateRequest `json:"gate,omitempty"`
	Reason string                `json:"reason,omitempty"`
	// EvidenceAt is State.EvidenceAt while Reason says the evidence has
	// arrived (display.Reason writes the reason with it); zero otherwise.
	EvidenceAt time.Time `json:"evidenceAt,omitzero"`
	// Next is when Step should be called again; zero once the rollout is
	// final and every event delivered.
	Next time.Time `json:"next,omitzero"`
}

// ErrZeroRollout is returned by every method of a Rollout that was not
// built with New, Open or Restore.
var ErrZeroRollout = canary.Invalid("Rollout", nil, "is the zero Rollout; build it with New, Open or Restore")

// Rollout drives one canary rollout: it is the machine's driver. The
// caller owns time: it calls Step with the current instant whenever
// Status.Next is due (calling earlier or more often is harmless), and the
// manual operations whenever an operator asks. A Rollout starts no
// goroutine and never reads the clock or sleeps.
//
// It is safe for concurrent use. The state's lock is never held across
// I/O: a Step measuring metrics does not delay an Abort, which acts after
// at most the one router write already under way.
type Rollout struct {
	stepMu sync.Mutex    // one Step's reads at a time
	actMu  sync.Mutex    // one round of acting (save, router, scaler, sink) at a time
	mu     sync.Mutex    // the state; held for no I/O
	gen    atomic.Uint64 // written under mu: counts the decisions taken into s
	fl     flight        // the round under way (see drive)
	trace  func(ready)   // tests: every round's value, as computed
	// tests: every Step runs the machine, even when quiet says it would
	// decide nothing
	noQuiet bool
	// Under stepMu: whether the router's Preflight was asked and
	// answered; preflightErr is its error for a started rollout, reported
	// by the next Step.
	preflighted  bool
	preflightErr error

	m       *machine
	cfg     Config
	key     string
	queries []renderedMetric
	s       State
	lastErr error

	// Under actMu: the last saved state, its encoding and its version.
	saved      []byte
	savedState State
	version    string
	savedSeq   uint64
}

type renderedMetric struct {
	name                     string
	provider                 metrics.Provider
	canary, stable, baseline string
	// history is the stable version's query at the analysis window,
	// asked as a range query over the baseline window (see buckets);
	// empty without a baseline.
	history                string
	window, baselineWindow time.Duration
}

// New validates cfg and returns a Rollout in phase Pending. Every bad field
// is reported as a *[canary.FieldError] naming it. With a [Config.Store], the
// first save expects no state under the key: use Open to resume one.
func New(cfg Config) (*Rollout, error) {
	r, err := build(cfg)
	if err != nil {
		return nil, err
	}
	if err := r.checkRouter(); err != nil {
		return nil, err
	}
	return r, nil
}

// checkRouter asks a router that is a SplitChecker about every split
// the plan will write.
func (r *Rollout) checkRouter() error {
	if c, ok := r.cfg.Router.(SplitChecker); ok {
		return r.m.checkSplits(c)
	}
	return nil
}

// resumeCheck is checkRouter for a rollout resumed from a state: a
// rollout that has not started is refused; a started one is driven
// whatever the router says (a rollback must reach it, and all-stable is
// a split every router takes), and its next Step reports the refusal.
func (r *Rollout) resumeCheck() error {
	err := r.checkRouter()
	if err == nil || r.State().Phase == Pending {
		return err
	}
	r.preflightErr = errors.Join(r.preflightErr, fmt.Errorf("rollback %s: the router cannot express this plan: %w", r.cfg.Name, err))
	return nil
}

// build validates cfg and returns a Rollout in phase Pending, without
// asking the router about the plan's splits.
func build(cfg Config) (*Rollout, error) {
	if cfg.Router == nil {
		return nil, canary.Invalid("Config.Router", nil, "must not be nil")
	}
	key := cfg.Key
	if key == "" {
		key = cfg.Name
	}
	if cfg.Store != nil {
		if err := store.ValidKey("Config.Key", key); err != nil {
			return nil, err
		}
	} else if cfg.Key != "" {
		return nil, canary.Invalid("Config.Key", cfg.Key, "is only used with a Store")
	}
	m, err := newMachine(cfg.Name, cfg.Plan, cfg.Policy, cfg.Analyzer == nil)
	if err != nil {
		return nil, err
	}
	queries, err := cfg.renderMetrics(m.plan)
	if err != nil {
		return nil, err
	}
	r := &Rollout{m: m, cfg: cfg, key: key, s: m.initial(), queries: queries}
	r.s.Made = m.planFields()
	r.savedState = r.s
	r.savedSeq = ^uint64(0)
	if cfg.Store != nil {
		r.savedSeq = 0
	}
	return r, nil
}

// Open returns the rollout kept in cfg.Store under cfg.Key, resumed where
// it stopped (a rollback stays a rollback, a split written ahead is
// finished), or a new one when the store holds none.
//
// A finished rollout (succeeded or rolled back) under the key is returned
// with an error wrapping [ErrFinished] that says what to do: a deploy tool
// that opens the rollout of every deployment by name would otherwise get
// the finished one back and do nothing. A caller that only wants to look
// at it (or deliver its last events with Step) may use the Rollout; one
// that deploys gives each deployment its own [Config.Key] (for example the
// name and the canary's version) or deletes the old record first.
func Open(ctx context.Context, cfg Config) (*Rollout, error) {
	if cfg.Store == nil {
		return nil, canary.Invalid("Config.Store", nil, "must be set to Open a rollout")
	}
	r, err := build(cfg)
	if err != nil {
		return nil, err
	}
	data, version, err := cfg.Store.Load(ctx, r.key)
	if errors.Is(err, store.ErrNotFound) {
		if err := r.checkRouter(); err != nil {
			return nil, err
		}
		if err := r.preflight(ctx); err != nil {
			return nil, err
		}
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rollback %s: load: %w", cfg.Name, err)
	}
	if err := r.adopt(data, version); err != nil {
		return nil, err
	}
	if err := r.resumeCheck(); err != nil {
		return nil, err
	}
	if err := r.preflight(ctx); err != nil {
		if r.State().Phase == Pending {
			return nil, err
		}
		// A started rollout is driven whatever the router says (a
		// rollback must reach it); the next Step reports the error.
		r.preflightErr = errors.Join(r.preflightErr, err)
	}
	if s := r.State(); s.Phase.Final() {
		return r, &FinishedError{Name: cfg.Name, Key: r.key, Phase: s.Phase, At: s.PhaseSince}
	}
	return r, nil
}

// preflight asks a router that implements [traffic.Preflighter] whether
// it can carry the rollout, once; for a route that is ephemeral (it
// starts all-stable after a restart) it takes the split in force for the
// one last confirmed, so that a resumed rollout writes its split again
// rather than reporting a change made outside. r.stepMu is held, or r is
// not yet shared.
func (r *Rollout) preflight(ctx context.Context) error {
	p, ok := r.cfg.Router.(traffic.Preflighter)
	if !ok {
		r.preflighted = true
		return nil
	}
	v := traffic.Versions{Stable: r.cfg.Target.Stable.Version, Canary: r.cfg.Target.Canary.Version}
	for _, m := range r.cfg.Metrics {
		v.Measured = v.Measured || same(m.Provider, r.cfg.Router)
	}
	f, err := p.Preflight(ctx, v)
	if err != nil {
		return fmt.Errorf("rollback %s: the router cannot carry this rollout: %w", r.cfg.Name, err)
	}
	r.preflighted = true
	r.mu.Lock()
	started := r.s.Applied != nil && !r.s.Phase.Final()
	r.mu.Unlock()
	if f.Ephemeral && started {
		if route, err := r.cfg.Router.Split(ctx); err == nil {
			r.mu.Lock()
			r.s = r.m.restarted(r.s, route)
			r.mu.Unlock()
		}
	}
	return nil
}

// same reports whether a and b hold the same comparable value.
func same(a, b any) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta != nil && ta == tb && ta.Comparable() && a == b
}

// adopt makes data, read from the store at version, the state.
func (r *Rollout) adopt(data []byte, version string) error {
	s, err := r.m.decodeState(data, r.cfg.Migrate)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.s = s
	r.fl.on = false // the round under way is superseded
	r.mu.Unlock()
	r.saved, r.savedState, r.version, r.savedSeq = data, s.clone(), version, s.Seq
	return nil
}

// Restore returns a Rollout built from cfg that continues from snap, a
// snapshot taken with Snapshot. Unknown fields, unknown phases, a state
// made under another plan or policy (unless cfg.Migrate) and any state the
// plan cannot continue are refused with a *[canary.FieldError]. With a
// [Config.Store], use Open instead.
func Restore(cfg Config, snap []byte) (*Rollout, error) {
	if cfg.Store != nil {
		return nil, canary.Invalid("Config.Store", nil, "is set; use Open to resume from the store")
	}
	r, err := build(cfg)
	if err != nil {
		return nil, err
	}
	s, err := r.m.decodeState(snap, cfg.Migrate)
	if err != nil {
		return nil, err
	}
	r.s = s
	if err := r.resumeCheck(); err != nil {
		return nil, err
	}
	return r, nil
}

// SplitChecker is implemented by a router that can tell, without any
// I/O, whether it would take a split, as [traffic.Router.Check] does.
// New and Open ask it about every split the plan will write (the cohort
// of an A/B test, blue/green's preview and mirror, a stage's affinity
// cookie) and refuse a plan it cannot express, with a
// *[canary.FieldError] naming the plan's field and saying why (the
// router's reason names the router).
type SplitChecker interface {
	Check(traffic.Split) error
}

// plannedSplit is a split the plan will write, and the plan's fields its
// own fields come from (a split's field prefix to a plan's).
type plannedSplit struct {
	split  traffic.Split
	fields [][2]string
	other  string // the plan field of any other split field
}

// splits lists every split the plan can write, the rollback's first.
func (m *machine) splits() []plannedSplit {
	p := m.plan
	out := []plannedSplit{{split: traffic.AllStable(), other: "Plan"}}
	if pre := p.pre; pre != nil {
		ps := plannedSplit{split: pre.split}
		switch {
		case p.ab != nil:
			ps.other, ps.fields = "Plan.ABTest", [][2]string{{"Split.Cohort", "Plan.ABTest.Cohort"}}
		case p.bg != nil:
			ps.other, ps.fields = "Plan.BlueGreen", [][2]string{{"Split.TestRoute", "Plan.BlueGreen.Preview"}, {"Split.Mirror", "Plan.BlueGreen.Mirror"}}
		default:
			ps.other, ps.fields = "Plan.ZeroTraffic", [][2]string{{"Split.TestRoute", "Plan.ZeroTraffic.TestRoute"}, {"Split.Mirror", "Plan.ZeroTraffic.Mirror"}}
		}
		out = append(out, ps)
	}
	for i, st := range p.stages {
		sp := traffic.Weighted(st.Weight)
		ps := plannedSplit{split: sp, other: fmt.Sprintf("Plan.Stages[%d]", i)}
		if p.aff != nil && st.Weight < 100 {
			ps.split.Affinity = affinity(p.aff, affinityProbe)
			ps.fields = [][2]string{{"Split.Affinity", "Plan.SessionAffinity"}}
		}
		if !p.weighted() {
			ps.other = "Plan.Strategy"
		}
		out = append(out, ps)
	}
	return append(out, plannedSplit{split: traffic.Weighted(100), other: "Plan"})
}

// checkSplits asks c about every split the plan will write.
func (m *machine) checkSplits(c SplitChecker) error {
	for _, ps := range m.splits() {
		err := c.Check(ps.split)
		if err == nil {
			continue
		}
		var fe *canary.FieldError
		if !errors.As(err, &fe) {
			return fmt.Errorf("rollback: %s: the router refuses %v: %w", ps.other, ps.split, err)
		}
		for _, f := range ps.fields {
			if strings.HasPrefix(fe.Field, f[0]) {
				return &canary.FieldError{Field: f[1] + strings.TrimPrefix(fe.Field, f[0]), Value: fe.Value, Reason: fe.Reason}
			}
		}
		return &canary.FieldError{Field: ps.other, Value: ps.split.String(), Reason: fmt.Sprintf("the router refuses this split: %s", fe.Error())}
	}
	return nil
}

// Snapshot returns the whole state as JSON.
func (r *Rollout) Snapshot() ([]byte, error) {
	if r.m == nil {
		return nil, ErrZeroRollout
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.catchUp()
	data, err := json.Marshal(r.s)
	if err != nil {
		// A value JSON cannot encode (a bug; see save): the snapshot
		// leaves it out rather than failing.
		c := r.s.clone()
		var bad []string
		scrub(reflect.ValueOf(&c).Elem(), "state", &bad)
		data, err = json.Marshal(c)
	}
	return data, err
}

// State returns a deep copy of the state.
func (r *Rollout) State() State {
	if r.m == nil {
		return State{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.catchUp()
	return r.s.clone()
}

// Status reports where the rollout stands, as of now.
func (r *Rollout) Status(now time.Time) Status {
	if r.m == nil {
		return Status{Reason: ErrZeroRollout.Error()}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.catchUp()
	return r.status(now)
}

// status builds the Status; r.mu is held.
func (r *Rollout) status(now time.Time) Status {
	s := &r.s
	st := Status{Name: s.Name, Phase: s.Phase, StageNumber: s.Stage + 1, Stages: len(r.m.plan.stages),
		CanaryWeight: s.Weight, Failures: s.Failed,
		FailureLimit: r.m.policy.FailureLimit, Reason: s.Reason, CanaryRate: s.CanaryRate,
		Next: r.m.next(*s, now)}
	if v := s.LastVerdict; v != nil {
		// Shared, not copied: the machine never changes a verdict once
		// made (each analysis makes a new one), and the same one goes to
		// the sink in the analysis event.
		st.Verdict, st.Evidence = v, v.Evidence
	}
	st.More, st.Estimate = r.m.evidenceNeeded(*s) // -1 before the first analysis
	st.Strategy = r.m.plan.strategy
	st.Shape, st.WarmUntil = r.m.shape(*s)
	if strings.Contains(s.Reason, evidenceArrived) {
		st.EvidenceAt = s.EvidenceAt
	}
	if s.Gate != nil {
		g := *s.Gate
		st.Gate = &g
	}
	if r.m.policy.Counting == Consecutive {
		st.Failures = s.Consecutive
	}
	if s.Applied != nil {
		st.Split = *cloneSplitPtr(s.Applied)
	}
	return st
}

// Step runs one round: it reads what is due (the split in force and the
// metrics when an analysis is due, the canary's readiness, the gate), has
// the machine decide, and acts on the decision (saving it first when there
// is a Store). Failures to read or act (a query, the router, the scaler,
// the sink) leave the state consistent, are retried by the next Step with
// an exponential back-off, and are returned, joined and wrapped, with the
// status.
func (r *Rollout) Step(ctx context.Context, now time.Time) (Status, error) {
	if r.m == nil {
		return Status{}, ErrZeroRollout
	}
	if now.IsZero() {
		return r.Status(now), errZeroTime
	}
	r.stepMu.Lock()
	defer r.stepMu.Unlock()
	var errs []error
	if r.preflightErr != nil {
		errs, r.preflightErr = append(errs, r.preflightErr), nil
	}
	if !r.preflighted && r.phase() == Pending {
		// Before the first write: a router that can tell the rollout
		// cannot work says so now, not after traffic has moved.
		if err := r.preflight(ctx); err != nil {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.status(now), joinErrors([]error{err})
		}
	}

	r.mu.Lock()
	if !r.s.Phase.Final() {
		r.s = r.m.rebase(r.s, now)
	}
	w := r.m.wants(r.s, now, r.cfg.Readiness != nil, r.cfg.Gate != nil, r.cfg.Scaler != nil)
	var totals State
	if w.analyse {
		totals.Totals = r.s.Totals // read only: prepare copies
	}
	idle := r.s.Phase.Final() && len(r.s.Undelivered) == 0
	if !idle && len(errs) == 0 && r.quiet(w, now) {
		// Nothing is due: the round would decide nothing and do nothing.
		r.gen.Add(1)
		if r.trace != nil {
			r.trace(ready{leg: legAct})
		}
		defer r.mu.Unlock()
		r.lastErr = nil
		return r.status(now), nil
	}
	r.mu.Unlock()
	if idle {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.lastErr = nil
		return r.status(now), nil
	}

	in := r.observe(ctx, now, w, totals)
	for _, f := range in.failures {
		errs = append(errs, fmt.Errorf("rollback %s: %s: %w", r.cfg.Name, f.action, f.err))
	}
	switch {
	case in.routeErr != nil:
		errs = append(errs, fmt.Errorf("rollback %s: verify: %w", r.cfg.Name, in.routeErr))
	case in.analysed && !in.route.Equal(in.basis):
		errs = append(errs, fmt.Errorf("rollback %s: verify: %w: %v was set, %v is in force (changed outside the rollout); setting it again",
			r.cfg.Name, traffic.ErrVerify, in.basis, in.route))
	}
	// The decision and its round under one lock: a command's round under
	// way finishes first (it holds actMu only to act).
	r.actMu.Lock()
	defer r.actMu.Unlock()
	r.mu.Lock()
	r.s = r.m.step(r.s, in, now)
	gen := r.gen.Add(1)
	return r.drive(ctx, now, errs, gen)
}

// phase is the phase of the state, the tasks done of a round under way
// taken in.
func (r *Rollout) phase() Phase {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.catchUp()
	return r.s.Phase
}

// quiet reports whether a Step at now, with w what it wants to read, is
// a round that decides nothing and does nothing, so that Step may skip
// it: its outcome is known without the machine. That is the steady state
// of a stage's hold between analyses, and the proof is the round itself:
//
//   - nothing to read (w), so step's inputs are empty: no failure, no
//     verdict, no readiness, no approval, no replicas;
//   - a Progressing state whose split is confirmed (Applied is the
//     desired split, no Intent), before the end of its stage's hold (so
//     before that end plus the progress deadline, which is never
//     negative): step's switch takes no branch, and finishRound leaves
//     Intent nil;
//   - no event undelivered and no Store: ready's value is empty (no
//     write, no scaling, no delivery, no save), so drive does nothing;
//   - no retry counted and no round under way: endRound leaves Retries
//     at 0, and the state is not behind a round's tasks.
//
// With a Store the full round runs: its saves compare the state with the
// one saved last. r.mu is held.
func (r *Rollout) quiet(w wants, now time.Time) bool {
	s := &r.s
	if s.Phase != Progressing || r.cfg.Store != nil || r.fl.on || r.noQuiet ||
		w.analyse || w.ready || w.gate != nil || w.stable ||
		s.Intent != nil || s.Applied == nil || len(s.Undelivered) > 0 || s.Retries != 0 {
		return false
	}
	holdEnd := s.StageSince.Add(r.m.plan.stages[s.Stage].Hold)
	return now.Before(holdEnd) && s.Applied.Equal(r.m.desired(*s))
}

// observe does the reads w asks for; no lock is held.
func (r *Rollout) observe(ctx context.Context, now time.Time, w wants, prev State) inputs {
	var in inputs
	if w.analyse {
		in.analysed, in.basis = true, w.applied
		in.route, in.routeErr = r.cfg.Router.Split(ctx)
		if in.routeErr == nil && in.route.Equal(w.applied) {
			obs := r.measure(ctx, now, &in)
			in.totals = prepare(prev, obs)
			w.input.Observations = obs
			an := r.cfg.Analyzer
			if w.post && r.cfg.PostPromotionAnalyzer != nil {
				an = r.cfg.PostPromotionAnalyzer
			}
			v, err := an.Analyze(ctx, w.input)
			if err != nil {
				in.failures = append(in.failures, failure{"analyze", err})
				v = analysis.Verdict{Outcome: analysis.Inconclusive, Reason: "analyzer error: " + err.Error()}
			}
			if fv, bad := finiteVerdict(v); len(bad) > 0 {
				in.failures = append(in.failures, failure{"analyze", fmt.Errorf("%w: %s, left out (a bug in the analyzer)", ErrNotFinite, strings.Join(bad, ", "))})
				v = fv
			}
			in.verdict, in.obs = &v, obs
		}
	}
	if w.ready {
		ok, why, err := r.cfg.Readiness.Ready(ctx, workload.Canary)
		if err != nil {
			in.failures = append(in.failures, failure{"readiness", err})
		} else {
			in.ready, in.readyReason = &ok, why
		}
	}
	if w.gate != nil {
		a, err := r.cfg.Gate.Check(ctx, *w.gate)
		if err != nil {
			in.failures = append(in.failures, failure{"gate", err})
		} else {
			in.approval = &a
		}
	}
	if w.stable {
		n, err := r.cfg.Scaler.Replicas(ctx, workload.Stable)
		if err != nil {
			in.failures = append(in.failures, failure{"record-replicas", err})
		} else {
			in.stable = &n
		}
	}
	return in
}

// measure takes every metric's measurements.
func (r *Rollout) measure(ctx context.Context, now time.Time, in *inputs) []analysis.Observation {
	obs := make([]analysis.Observation, len(r.queries))
	for i, q := range r.queries {
		o := &obs[i]
		o.Metric = q.name
		o.Canary = r.query(ctx, q, q.canary, now, q.window, in)
		if q.stable != "" {
			o.Stable = r.query(ctx, q, q.stable, now, q.window, in)
		}
		if q.baseline != "" {
			o.Baseline = r.query(ctx, q, q.baseline, now.Add(-q.window), q.baselineWindow, in)
			if o.Baseline.Observed {
				o.Baseline.Buckets = r.buckets(ctx, q, now, in)
			}
		}
	}
	return obs
}

func (r *Rollout) query(ctx context.Context, q renderedMetric, text string, end time.Time, w time.Duration, in *inputs) analysis.Measurement {
	res, err := q.provider.Query(ctx, metrics.Query{Text: text, Window: w, End: end})
	if err == nil {
		// A provider that did not check its result: a value that is not
		// a number (0/0 with no traffic) is no data, never compared with
		// a bound nor saved.
		res, err = res.Check()
	}
	if err != nil {
		if !errors.Is(err, metrics.ErrNoData) {
			in.failures = append(in.failures, failure{"query " + q.name, err})
		}
		return analysis.Measurement{}
	}
	return analysis.Measurement{Observed: true, Value: res.Value, Samples: res.Samples, Count: res.Count}
}

// rangeProvider is a metrics provider that also answers range queries,
// each point with its count where the back end has it, as
// [metrics.Source] does (and so the fake, Prometheus and httpsplit
// providers).
type rangeProvider interface {
	Range(ctx context.Context, q metrics.RangeQuery) ([]metrics.Point, error)
}

// buckets asks q's provider, when it answers range queries, for the
// stable version's history per analysis window: the stable query at the
// metric's window, stepped by the window, its points tiling the baseline
// window that ends where the short window starts (oldest first; a
// missing point is a zero Measurement). It returns nil when the
// provider has no range queries, the baseline window is not a whole
// number of windows, or no point came back. A failed range query (other
// than no data) is a failure of the round, as a failed query is; the
// baseline's one count is kept, so nothing else changes.
func (r *Rollout) buckets(ctx context.Context, q renderedMetric, now time.Time, in *inputs) []analysis.Measurement {
	rp, ok := q.provider.(rangeProvider)
	if !ok || q.history == "" || q.window <= 0 || q.baselineWindow%q.window != 0 {
		return nil
	}
	n := int(q.baselineWindow / q.window)
	if n < 1 || n > metrics.MaxPoints {
		return nil
	}
	end := now.Add(-q.window)
	start := end.Add(-time.Duration(n-1) * q.window)
	pts, err := rp.Range(ctx, metrics.RangeQuery{Text: q.history, Window: q.window, Start: start, End: end, Step: q.window})
	if err != nil {
		if !errors.Is(err, metrics.ErrNoData) {
			in.failures = append(in.failures, failure{"history " + q.name, err})
		}
		return nil
	}
	out := make([]analysis.Measurement, n)
	placed := false
	for _, p := range pts {
		d := p.Time.Sub(start)
		if d < 0 || d%q.window != 0 || int(d/q.window) >= n ||
			math.IsNaN(p.Value) || math.IsInf(p.Value, 0) || p.Count < 0 {
			continue
		}
		out[d/q.window] = analysis.Measurement{Observed: true, Value: p.Value, Count: p.Count}
		placed = true
	}
	if !placed {
		return nil
	}
	return out
}

// maxActions bounds the actions of one round (a rollback is at most a
// write, two scalings and a release).
const maxActions = 8

// flight is the round under way: its value, and how far the driver got.
// The driver publishes each task it has done (done); whoever takes r.mu
// while the round is under way (a command, State, Status, Snapshot) first
// takes those tasks into the state (catchUp), so that it sees each action
// as soon as it is done and a command lands after the actions before it.
type flight struct {
	rd     ready
	now    time.Time
	gen    uint64       // r.gen when the round was computed
	done   atomic.Int64 // tasks done, published by the driver
	folded int          // under r.mu: tasks already taken into r.s
	on     bool         // under r.mu: a round is under way
}

// catchUp takes the tasks done of the round under way into r.s; r.mu is
// held.
func (r *Rollout) catchUp() {
	f := &r.fl
	if !f.on {
		return
	}
	if n := int(f.done.Load()); n > f.folded {
		r.s = r.m.advance(r.s, &f.rd, f.folded, outcome{done: n}, f.now)
		f.folded = n
	}
}

// stop is why the driver stopped doing a round's tasks.
type stop uint8

const (
	stopDone    stop = iota // every task done
	stopChanged             // a command changed the state: its tasks are out of date
	stopAction              // an action failed
	stopEvents              // a delivery was cut short: the sink refused, or a save is missing
	stopSave                // a save failed, and the decision is not a move toward stable
	stopFenced              // another driver holds the record
	stopAdopted             // another driver wrote the record, adopted after acting
	stopScrub               // the state holds a value JSON cannot encode
)

// driving is what a drive has met so far.
type driving struct {
	errs        []error
	saveErr     error // the first failed save, reported once
	failedToAct bool
	acted       int  // actions and deliveries done or tried: the loop's turns
	scrubbed    bool // the state was repaired (see repair)
}

func (d *driving) saveFailed(err error) {
	d.failedToAct = true
	if d.saveErr == nil {
		d.saveErr = err
		d.errs = append(d.errs, err)
	}
}

// drive carries out the decision just taken, a round at a time: the
// machine computes the round's value (ready), drive does its tasks in
// order and reports back once (advance), and asks for the next round only
// when the tasks did not go as the machine assumed. It holds actMu, never
// r.mu, across I/O.
//
// The state is saved before any action (write-ahead) and after; events
// are delivered only once saved. A save that fails stops the round before
// it acts, with one exception: a move toward stable (a rollback: the
// all-stable write, the scalings, the release) is made even though its
// decision could not be saved, and the save is retried by every later
// round (see "Saves that fail" in the package doc). A decision that was
// neither saved nor acted on is dropped: the state goes back to the one
// saved last, with the failure, so that Status and State never report it;
// the next Step decides again. An action that fails stops the acting; the
// events made so far are still saved and delivered. gen is the generation
// of the decision the round was called for. r.actMu and r.mu are held;
// drive unlocks r.mu.
func (r *Rollout) drive(ctx context.Context, now time.Time, errs []error, gen uint64) (Status, error) {
	d := driving{errs: errs}
	l := legAct
	for turn := 0; turn < maxActions+4; turn++ {
		f := &r.fl
		// The tasks of the last round are not read once it is over: their
		// array is reused.
		rd := r.m.ready(r.s, l, r.savedSeq, r.cfg.Scaler != nil, r.cfg.Store != nil, maxActions+2-d.acted, now, f.rd.tasks[:0])
		f.rd, f.now, f.gen, f.folded, f.on = rd, now, r.gen.Load(), 0, true
		f.done.Store(0)
		r.mu.Unlock()
		if r.trace != nil {
			r.trace(rd)
		}
		out, why, err := r.perform(ctx, &rd, &d)

		r.mu.Lock()
		if why == stopFenced {
			// The state is the stored one (save adopted it), or the
			// record is not this rollout's: nothing done is taken back.
			f.on = false
			if errors.Is(err, ErrKeyInUse) {
				r.revert(now, gen, err, true)
			}
			break
		}
		if why != stopAdopted && (out.done > f.folded || out.cut) {
			r.s = r.m.advance(r.s, &rd, f.folded, out, now)
		}
		f.on = false
		next, end := l, false
		switch why {
		case stopAdopted:
			next = legEvents
		case stopDone:
			end = true
		case stopChanged:
			// Again from the state the command made, in the same leg.
		case stopAction:
			t := rd.tasks[out.done]
			d.errs = append(d.errs, fmt.Errorf("rollback %s: %s: %w", r.cfg.Name, t.action(), err))
			d.failedToAct = true
			// Later actions wait for the next round, except a rollback's
			// scaling when the route is gone (advance set RouteGone):
			// with no route the mesh spreads requests over every
			// endpoint, and only removing the canary's keeps them off it.
			if t.kind != taskSplit || !r.s.RouteGone {
				next = legEvents
			}
		case stopEvents:
			if err != nil {
				d.errs = append(d.errs, err)
				d.failedToAct = true // a sink that is down is retried with the back-off too
			}
			switch {
			case l == legAct:
				next = legEvents
			case err == nil && out.upTo > 0:
				next = legSave
			default:
				end = true
			}
		case stopSave:
			if d.acted == 0 {
				// Never act on a decision that is not saved.
				r.revert(now, gen, err, false)
			}
			next = legEvents
		case stopScrub:
			// Repaired, the state is saved by the next round; a state
			// that cannot be repaired (or is still unencodable) is not.
			if d.scrubbed || !r.repair() {
				d.saveFailed(err)
				end = true
			}
			d.scrubbed = true
		}
		if end || l == legSave {
			break
		}
		l = next
	}
	defer r.mu.Unlock()
	r.s = r.m.endRound(r.s, d.failedToAct)
	r.lastErr = joinErrors(d.errs)
	return r.status(now), r.lastErr
}

// perform does rd's tasks in order, no lock held, until one does not go
// as the machine assumed; it reports how many it did, why it stopped, and
// the error of the task it stopped at.
func (r *Rollout) perform(ctx context.Context, rd *ready, d *driving) (outcome, stop, error) {
	for i, t := range rd.tasks {
		if r.gen.Load() != r.fl.gen {
			return outcome{done: i}, stopChanged, nil
		}
		switch t.kind {
		case taskSave:
			err := r.save(ctx, t.state)
			if err == nil {
				break
			}
			if errors.Is(err, errUnencodable) {
				return outcome{done: i}, stopScrub, err
			}
			d.saveFailed(err)
			switch {
			case errors.Is(err, store.ErrConflict) && rd.leg == legAct:
				return outcome{done: i}, stopFenced, err
			case errors.Is(err, store.ErrConflict) && !errors.Is(err, ErrKeyInUse):
				// The stored state was adopted: its events are delivered.
				return outcome{done: i}, stopAdopted, err
			}
			if rd.leg == legAct && t.state.Phase != RollingBack && t.state.Phase != RolledBack {
				return outcome{done: i}, stopSave, err
			}
			// A rollback acts even though it could not be saved; its
			// events wait for a save.
		case taskSettle:
		case taskDeliver:
			d.acted++
			n := 0
			for n < len(t.events) && t.events[n].Seq <= r.savedSeq {
				n++
			}
			upTo, err := r.deliver(ctx, t.events[:n])
			if err != nil || n < len(t.events) {
				return outcome{done: i, cut: true, upTo: upTo}, stopEvents, err
			}
		default:
			d.acted++
			if err := r.act(ctx, t); err != nil {
				return outcome{done: i, cut: true, err: err}, stopAction, err
			}
		}
		r.fl.done.Store(int64(i + 1))
	}
	return outcome{done: len(rd.tasks)}, stopDone, nil
}

// revert drops a decision that could not be saved and was not acted on:
// the state goes back to the one saved last, keeping the retry count, and
// records the failed save. Unless force, it does nothing to a rollback
// (acted on unsaved) or when a later decision (an operator's command) has
// arrived meanwhile: that command's own round saves, acts or reverts.
// r.mu is held.
func (r *Rollout) revert(now time.Time, gen uint64, err error, force bool) {
	if !force && (r.gen.Load() != gen || r.s.Phase == RollingBack || r.s.Phase == RolledBack) {
		return
	}
	s := r.savedState.clone()
	s.Retries = r.s.Retries
	if inner := errors.Unwrap(err); inner != nil {
		err = inner
	}
	r.s = r.m.report(s, done{action: "persist", err: err}, now)
}

// act does t's action.
func (r *Rollout) act(ctx context.Context, t task) error {
	switch t.kind {
	case taskSplit:
		// SetSplit verifies what it wrote ([traffic.Router]'s contract),
		// so a nil error means the split is confirmed in force.
		return r.cfg.Router.SetSplit(ctx, *t.split)
	case taskScaleCanary:
		return r.cfg.Scaler.Scale(ctx, workload.Canary, 0)
	case taskRestoreStable:
		return r.cfg.Scaler.Scale(ctx, workload.Stable, t.replicas)
	case taskScaleStable:
		return r.cfg.Scaler.Scale(ctx, workload.Stable, 0)
	case taskRelease:
		return r.cfg.Router.Release(ctx)
	}
	return nil
}

// deliver offers events to the sink in order and returns the Seq of the
// last one accepted (0: none).
func (r *Rollout) deliver(ctx context.Context, events []Event) (uint64, error) {
	if len(events) == 0 {
		return 0, nil
	}
	if r.cfg.Sink == nil {
		return events[len(events)-1].Seq, nil
	}
	var upTo uint64
	for _, e := range events {
		if err := r.cfg.Sink.Record(ctx, e); err != nil {
			return upTo, fmt.Errorf("rollback %s: audit sink refused event %d (kept, offered again): %w", r.cfg.Name, e.Seq, err)
		}
		upTo = e.Seq
	}
	return upTo, nil
}

// errUnencodable: the state to save holds a value JSON cannot encode.
var errUnencodable = errors.New("rollback: the state holds a value JSON cannot encode")

// repair replaces the values of r.s that JSON cannot encode, a bug (no
// analyzer or provider value reaches the state unchecked): the state is
// repaired rather than left unsaveable, and the bug reported. r.mu is
// held. It reports whether it found any.
func (r *Rollout) repair() bool {
	var bad []string
	scrub(reflect.ValueOf(&r.s).Elem(), "state", &bad)
	if len(bad) > 0 {
		rd := round{m: r.m, s: r.s}
		if n := len(r.s.Undelivered); n > 0 {
			rd.now = r.s.Undelivered[n-1].Time
		}
		rd.failed("persist", fmt.Errorf("%w: %s (replaced; please report this bug)", ErrNotFinite, strings.Join(bad, ", ")))
		r.s = rd.s
	}
	return len(bad) > 0
}

// save writes st to the store if it changed since the last save, with
// compare-and-swap on the version saved or loaded last. A conflict means
// another driver wrote the rollout: its state is loaded and adopted (this
// driver's undone decision is dropped) and the error, wrapping
// [store.ErrConflict], returned. A conflict on the first save of a
// Rollout built with New means the key already holds a rollout: nothing
// is adopted, and the error matches [ErrKeyInUse] (and [ErrFinished] when
// that rollout is finished) as well as [store.ErrConflict]. A state JSON
// cannot encode is not saved: the error is errUnencodable, and the driver
// repairs the state. r.actMu is held.
func (r *Rollout) save(ctx context.Context, st *State) error {
	if r.cfg.Store == nil {
		return nil
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("rollback %s: persist: %w: %w", r.cfg.Name, errUnencodable, err)
	}
	if bytes.Equal(data, r.saved) {
		return nil
	}
	v, err := r.cfg.Store.Save(ctx, r.key, data, r.version)
	if errors.Is(err, store.ErrConflict) && r.version == "" {
		return r.keyInUse(ctx, err)
	}
	if errors.Is(err, store.ErrConflict) {
		cur, cv, lerr := r.cfg.Store.Load(ctx, r.key)
		if lerr == nil {
			if aerr := r.adopt(cur, cv); aerr != nil {
				return errors.Join(fmt.Errorf("rollback %s: fenced by another driver: %w", r.cfg.Name, err), aerr)
			}
		}
		return fmt.Errorf("rollback %s: fenced by another driver, state reloaded: %w", r.cfg.Name, err)
	}
	if err != nil {
		return fmt.Errorf("rollback %s: persist: %w", r.cfg.Name, err)
	}
	r.saved, r.savedState, r.version, r.savedSeq = data, st.clone(), v, st.Seq
	return nil
}

// keyInUse explains a conflict on the first save of a Rollout built with
// New: the store already holds a rollout under the key.
func (r *Rollout) keyInUse(ctx context.Context, err error) error {
	what := "a rollout"
	var old State
	data, _, lerr := r.cfg.Store.Load(ctx, r.key)
	if lerr == nil && json.Unmarshal(data, &old) == nil {
		what = fmt.Sprintf("rollout %q (%s)", old.Name, old.Phase)
		if old.Phase.Final() {
			return fmt.Errorf("rollback %s: %w: %w: the store already holds %s under key %q; "+
				"to deploy again, give this deployment its own Config.Key (for example the name and the canary's version), "+
				"or delete the old record (Store.Delete) first: %w",
				r.cfg.Name, ErrKeyInUse, ErrFinished, what, r.key, err)
		}
	}
	return fmt.Errorf("rollback %s: %w: the store already holds %s under key %q, not made by this Rollout; "+
		"use Open to resume it, or give this deployment its own Config.Key: %w", r.cfg.Name, ErrKeyInUse, what, r.key, err)
}

// command runs a manual operation and acts on it at once.
func (r *Rollout) command(ctx context.Context, now time.Time, c command) (Status, error) {
	if r.m == nil {
		return Status{}, ErrZeroRollout
	}
	if now.IsZero() {
		return r.Status(now), errZeroTime
	}
	r.mu.Lock()
	r.catchUp()
	s, err := r.m.command(r.s, c, now)
	if err != nil {
		st := r.status(now)
		r.mu.Unlock()
		return st, err
	}
	r.s = s
	gen := r.gen.Add(1)
	r.mu.Unlock()
	r.actMu.Lock()
	defer r.actMu.Unlock()
	r.mu.Lock()
	return r.drive(ctx, now, nil, gen)
}

// Pause holds the rollout at its weight until Resume. Analysis goes on
// while paused. Pausing a paused rollout is harmless.
func (r *Rollout) Pause(ctx context.Context, now time.Time, actor, reason string) (Status, error) {
	return r.command(ctx, now, command{op: opPause, actor: actor, reason: reason})
}

// Resume continues a paused rollout; the stage's hold starts again. After
// SetWeight to a weight between stages, it goes on from the next stage
// above that weight.
func (r *Rollout) Resume(ctx context.Context, now time.Time, actor, reason string) (Status, error) {
	return r.command(ctx, now, command{op: opResume, actor: actor, reason: reason})
}

// SetWeight overrides the canary's weight (0 up to the plan's largest stage
// below 100) and pauses the rollout there. It is refused after a rollback
// decision.
func (r *Rollout) SetWeight(ctx context.Context, now time.Time, weight int, actor, reason string) (Status, error) {
	return r.command(ctx, now, command{op: opSetWeight, weight: weight, actor: actor, reason: reason})
}

// Approve lets the pending gate through.
func (r *Rollout) Approve(ctx context.Context, now time.Time, actor, reason string) (Status, error) {
	return r.command(ctx, now, command{op: opApprove, actor: actor, reason: reason})
}

// Promote skips the remaining stages and gates and sends every request to
// the canary. It is refused after a rollback decision.
func (r *Rollout) Promote(ctx context.Context, now time.Time, actor, reason string) (Status, error) {
	return r.command(ctx, now, command{op: opPromote, actor: actor, reason: reason})
}

// Abort rolls the canary back at once: one router write sends every
// request to stable, then the canary is scaled to zero and the stable
// version restored. It does not wait for an analysis under way. Aborting a
// rollback is harmless.
func (r *Rollout) Abort(ctx context.Context, now time.Time, actor, reason string) (Status, error) {
	return r.command(ctx, now, command{op: opAbort, actor: actor, reason: reason})
}

// errZeroTime refuses the zero time.Time as now: a caller that forgot to
// pass the clock, which would start a rollout in year 1 and skip its
// first hold.
var errZeroTime = canary.Invalid("now", time.Time{}, "is the zero time; pass the current instant (time.Now())")

// ErrKeyInUse is returned (wrapped, with [store.ErrConflict]) by the first
// save of a Rollout built with New whose key already holds a rollout in
// the store: a second deployment under the same name. Nothing of the
// stored rollout is adopted. Resume it with Open, or give the new
// deployment its own [Config.Key].
var ErrKeyInUse = errors.New("rollback: the store already holds a rollout under this key")

// ErrFinished is returned (wrapped) by Open when the store holds a
// finished rollout under the key (succeeded or rolled back), and by the
// first save of a New Rollout over one. A deploy tool that calls Open for
// every deployment would otherwise resume the finished rollout and do
// nothing. To deploy again, give each deployment its own [Config.Key]
// (for example the name and the canary's version) or delete the old
// record with the Store's Delete.
var ErrFinished = errors.New("rollback: the rollout under this key has finished")

// FinishedError is the error Open returns when the store holds a finished
// rollout under its key: it matches [ErrFinished] with errors.Is, and says
// which rollout, under which key, how it ended and when (At, the instant
// it entered Phase), and what to do. Its Error writes At in Europe/London;
// [github.com/meshcanary/canary/display.Error] writes it in a zone the
// caller chooses.
type FinishedError struct {
	Name  string
	Key   string
	Phase Phase
	At    time.Time
}

// Error says what happened and what to do, At in Europe/London.
func (e *FinishedError) Error() string {
	return fmt.Sprintf("rollback %s: %v: the rollout under key %q %s at %s; "+
		"to deploy again, give the new deployment its own Config.Key (for example the name and the canary's version) "+
		"or delete this record from the store first", e.Name, ErrFinished, e.Key, e.Phase, textfmt.Time(e.At, nil))
}

// Is reports whether target is ErrFinished.
func (e *FinishedError) Is(target error) bool { return target == ErrFinished }

// stepErrors is the error of a Step or an operation that met several
// failures: one line (each failure's text escaped by [github.com/meshcanary/canary/display.OneLine]),
// the failures joined by "; ", each reachable with errors.Is and As.
type stepErrors []error

func (e stepErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = textfmt.OneLine(err.Error())
	}
	return strings.Join(parts, "; ")
}

func (e stepErrors) Unwrap() []error { return e }

// joinErrors joins errs into one error of one line; nil when there is
// none.
func joinErrors(errs []error) error {
	var out stepErrors
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
