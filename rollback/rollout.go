package rollback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/traffic"
)

// Status is what a Step or a manual operation reports.
type Status struct {
	Name  string `json:"name"`
	Phase Phase  `json:"phase"`
	// Step is the 1-based number of the plan step in force (0 before the
	// first) out of Steps.
	Step  int `json:"step"`
	Steps int `json:"steps"`
	// CanaryWeight is the weight the rollout wants; Split the split last
	// confirmed in force (zero before the first write).
	CanaryWeight int           `json:"canaryWeight"`
	Split        traffic.Split `json:"split"`
	// Verdict is the last analysis's verdict, nil before the first.
	Verdict      *analysis.Verdict `json:"verdict,omitempty"`
	Failures     int               `json:"failures"`
	FailureLimit int               `json:"failureLimit"`
	// Gate is the pending approval in AwaitingApproval.
	Gate   *GateRequest `json:"gate,omitempty"`
	Reason string       `json:"reason,omitempty"`
	// Next is when Step should be called again; zero once the rollout is
	// final.
	Next time.Time `json:"next,omitzero"`
}

// Rollout drives one canary rollout. The caller owns time: it calls Step
// with the current instant whenever Status.Next is due (calling earlier or
// more often is harmless), and the manual operations whenever an operator
// asks. A Rollout starts no goroutine and never reads the clock or sleeps.
// It is safe for concurrent use; calls are serialised.
type Rollout struct {
	mu      sync.Mutex
	m       *Machine
	cfg     Config
	s       State
	queries []renderedMetric
	source  func(ctx context.Context, now time.Time, split traffic.Split) []analysis.Observation
	lastErr error
}

type renderedMetric struct {
	name                     string
	provider                 metrics.Provider
	canary, stable, baseline string
	window, baselineWindow   time.Duration
}

// New validates cfg and returns a Rollout in phase Pending. Every bad field
// is reported as a *canary.FieldError naming it.
func New(cfg Config) (*Rollout, error) {
	if cfg.Router == nil {
		return nil, canary.Invalid("Config.Router", nil, "must not be nil")
	}
	m, err := NewMachine(cfg.Name, cfg.Plan, cfg.Policy, cfg.Analyzer == nil)
	if err != nil {
		return nil, err
	}
	queries, err := cfg.renderMetrics(m.plan)
	if err != nil {
		return nil, err
	}
	return &Rollout{m: m, cfg: cfg, s: m.Initial(), queries: queries}, nil
}

// Restore returns a Rollout built from cfg that continues from snap, a
// snapshot taken with Snapshot. Unknown fields, unknown phases and values
// that do not fit cfg's plan are refused with a *canary.FieldError.
func Restore(cfg Config, snap []byte) (*Rollout, error) {
	r, err := New(cfg)
	if err != nil {
		return nil, err
	}
	s, err := r.m.decodeState(snap)
	if err != nil {
		return nil, err
	}
	if s.Name != cfg.Name {
		return nil, canary.Invalid("Snapshot.name", s.Name, "belongs to another rollout; Config.Name is %q", cfg.Name)
	}
	r.s = s
	return r, nil
}

// Snapshot returns the whole state as JSON.
func (r *Rollout) Snapshot() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return json.Marshal(r.s)
}

// State returns a copy of the state.
func (r *Rollout) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.s
}

// Machine returns the rollout's decision core.
func (r *Rollout) Machine() *Machine { return r.m }

// Status reports where the rollout stands, as of now.
func (r *Rollout) Status(now time.Time) Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status(now)
}

func (r *Rollout) status(now time.Time) Status {
	s := &r.s
	st := Status{Name: s.Name, Phase: s.Phase, Step: s.Step + 1, Steps: len(r.m.plan.steps),
		CanaryWeight: s.Weight, Verdict: s.LastVerdict, Failures: s.Failed,
		FailureLimit: r.m.policy.FailureLimit, Gate: s.Gate, Reason: s.Reason,
		Next: r.m.Next(*s, now, r.lastErr)}
	if r.m.policy.Counting == Consecutive {
		st.Failures = s.Consecutive
	}
	if s.Applied != nil {
		st.Split = *s.Applied
	}
	return st
}

// Step runs one round: it observes (when an analysis is due), asks the
// readiness check and the gate where they apply, decides, acts through the
// router and the scaler, and delivers the events. A failure to act leaves
// the state consistent and is retried by the next Step; it is returned,
// wrapped, with the status.
func (r *Rollout) Step(ctx context.Context, now time.Time) (Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s.Phase.Final() && len(r.s.Pending) == 0 {
		r.lastErr = nil
		return r.status(now), nil
	}
	var in Inputs
	var errs []error
	if r.m.AnalysisDue(r.s, now) && r.s.Applied != nil && r.s.Applied.Equal(r.m.Desired(r.s)) && r.inForce(ctx, now, &in, &errs) {
		obs := r.observe(ctx, now)
		v, err := r.cfg.Analyzer.Analyze(ctx, analysis.Input{Time: now, CanaryWeight: r.s.Applied.Canary,
			Looks: r.s.Looks, Observations: obs, Step: r.s.Step, Memory: r.s.AnalysisMemory})
		if err != nil {
			errs = append(errs, r.failure(now, "analyze", err))
			v = analysis.Verdict{Outcome: analysis.Inconclusive, Reason: "analyzer error: " + err.Error()}
		} else {
			r.s.AnalysisMemory = v.Memory
		}
		in.Verdict, in.Observations = &v, obs
	}
	switch r.s.Phase {
	case Validating, Progressing, AwaitingApproval:
		if rd := r.cfg.Readiness; rd != nil && (!r.s.CanaryReady || in.Verdict != nil) {
			ok, why, err := rd.Ready(ctx, Canary)
			if err != nil {
				errs = append(errs, r.failure(now, "readiness", err))
			} else {
				in.Ready, in.ReadyReason = &ok, why
			}
		}
	}
	if r.s.Phase == AwaitingApproval && r.cfg.Gate != nil {
		a, err := r.cfg.Gate.Check(ctx, *r.s.Gate)
		if err != nil {
			errs = append(errs, r.failure(now, "gate", err))
		} else {
			in.Approval = &a
		}
	}
	if r.s.Phase == Pending && r.cfg.Scaler != nil && !r.s.StableRecorded {
		if n, err := r.cfg.Scaler.Replicas(ctx, Stable); err != nil {
			errs = append(errs, r.failure(now, "record-replicas", err))
		} else {
			r.s.StableReplicas, r.s.StableRecorded = n, true
		}
	}
	s, ev, _ := r.m.Decide(r.s, in, now) // a tick without a command cannot fail
	r.s = s
	r.s.Pending = append(r.s.Pending, ev...)
	return r.finish(ctx, now, errs)
}

// inForce reads the split in force before an analysis, so that the canary
// is judged on the split the rollout set: a route someone deleted makes
// in.RouteMissing, and a split someone changed is written again (and the
// analysis skipped) rather than judged. It reports whether to analyse.
func (r *Rollout) inForce(ctx context.Context, now time.Time, in *Inputs, errs *[]error) bool {
	got, err := r.cfg.Router.Split(ctx)
	switch {
	case errors.Is(err, traffic.ErrNotFound):
		in.RouteMissing = err
		*errs = append(*errs, r.failure(now, "verify", err))
		return false
	case err != nil:
		*errs = append(*errs, r.failure(now, "verify", err))
		return false
	case !got.Equal(*r.s.Applied):
		*errs = append(*errs, r.failure(now, "verify", fmt.Errorf("%w: %v was set, %v is in force (changed outside the rollout); setting it again",
			traffic.ErrVerify, *r.s.Applied, got)))
		r.s.Applied = cloneSplit(got)
		return false
	}
	return true
}

// finish acts, settles and delivers events; r.mu is held.
func (r *Rollout) finish(ctx context.Context, now time.Time, errs []error) (Status, error) {
	err := r.act(ctx, now)
	if errors.Is(err, traffic.ErrNotFound) {
		// The route is gone: an active rollout rolls back at once rather
		// than waiting for its progress deadline.
		s, ev, _ := r.m.Decide(r.s, Inputs{RouteMissing: err}, now)
		if s.Phase == RollingBack && r.s.Phase != RollingBack {
			r.s = s
			r.s.Pending = append(r.s.Pending, ev...)
			errs = append(errs, err)
			err = r.act(ctx, now)
		}
	}
	if err != nil {
		errs = append(errs, err)
	}
	s, ev := r.m.Settle(r.s, now)
	r.s = s
	r.s.Pending = append(r.s.Pending, ev...)
	if err := r.deliver(ctx); err != nil {
		errs = append(errs, err)
	}
	r.lastErr = errors.Join(errs...)
	return r.status(now), r.lastErr
}

func (r *Rollout) emit(now time.Time, e Event) {
	r.s.Seq++
	e.Seq, e.Time, e.Rollout = r.s.Seq, now, r.s.Name
	e.From, e.To, e.WeightFrom, e.WeightTo = r.s.Phase, r.s.Phase, r.s.Weight, r.s.Weight
	r.s.Pending = append(r.s.Pending, e)
}

// failure records a failed call as an event and returns it wrapped.
func (r *Rollout) failure(now time.Time, action string, err error) error {
	r.emit(now, Event{Kind: Failure, Action: action, Error: err.Error()})
	return fmt.Errorf("rollback %s: %s: %w", r.s.Name, action, err)
}

// act brings the router and the scaler to what the state calls for.
func (r *Rollout) act(ctx context.Context, now time.Time) error {
	desired := r.m.Desired(r.s)
	var routeErr error
	if r.s.Applied == nil || !r.s.Applied.Equal(desired) {
		// SetSplit verifies what it wrote (traffic.Router's contract), so a
		// nil error means the split is confirmed in force: one write, no
		// extra read.
		if err := r.cfg.Router.SetSplit(ctx, desired); err != nil {
			if errors.Is(err, traffic.ErrVerify) {
				r.s.Applied = nil // unknown: write again at the next step
			}
			routeErr = r.failure(now, "set-split", err)
			// A rollback whose route is gone still scales the canary down:
			// with no route the mesh spreads requests over every endpoint,
			// and only removing the canary's keeps them off it.
			if r.s.Phase != RollingBack || !errors.Is(err, traffic.ErrNotFound) {
				return routeErr
			}
		} else {
			r.s.Applied = cloneSplit(desired)
			r.emit(now, Event{Kind: Action, Action: "set-split", Split: cloneSplit(desired)})
		}
	}
	switch r.s.Phase {
	case RollingBack:
		if err := r.scaleBack(ctx, now); err != nil {
			return errors.Join(routeErr, err)
		}
		if routeErr != nil {
			return routeErr
		}
		return r.release(ctx, now)
	case Promoting:
		return r.release(ctx, now)
	}
	return nil
}

// scaleBack scales the canary to zero and restores the stable version's
// replicas, each once.
func (r *Rollout) scaleBack(ctx context.Context, now time.Time) error {
	sc := r.cfg.Scaler
	if !r.s.CanaryScaledDown {
		if sc != nil {
			if err := sc.Scale(ctx, Canary, 0); err != nil {
				return r.failure(now, "scale-canary", err)
			}
			r.emit(now, Event{Kind: Action, Action: "scale-canary", Reason: "canary scaled to 0 replicas"})
		}
		r.s.CanaryScaledDown = true
	}
	if !r.s.StableRestored {
		if sc != nil && r.s.StableRecorded {
			if err := sc.Scale(ctx, Stable, r.s.StableReplicas); err != nil {
				return r.failure(now, "restore-stable", err)
			}
			r.emit(now, Event{Kind: Action, Action: "restore-stable",
				Reason: fmt.Sprintf("stable restored to %d %s", r.s.StableReplicas, plural(r.s.StableReplicas, "replica", "replicas"))})
		}
		r.s.StableRestored = true
	}
	return nil
}

// release drops the router's test route and mirror, once.
func (r *Rollout) release(ctx context.Context, now time.Time) error {
	if r.s.Released {
		return nil
	}
	if err := r.cfg.Router.Release(ctx); err != nil {
		return r.failure(now, "release", err)
	}
	r.s.Released = true
	r.emit(now, Event{Kind: Action, Action: "release"})
	return nil
}

// deliver offers pending events to the sink in order.
func (r *Rollout) deliver(ctx context.Context) error {
	if r.cfg.Sink == nil {
		r.s.Pending = r.s.Pending[:0]
		return nil
	}
	for i, e := range r.s.Pending {
		if err := r.cfg.Sink.Record(ctx, e); err != nil {
			r.s.Pending = append(r.s.Pending[:0], r.s.Pending[i:]...)
			return fmt.Errorf("rollback %s: audit sink refused event %d (kept, offered again): %w", r.s.Name, e.Seq, err)
		}
	}
	r.s.Pending = r.s.Pending[:0]
	return nil
}

// observe measures every metric; r.mu is held.
func (r *Rollout) observe(ctx context.Context, now time.Time) []analysis.Observation {
	var obs []analysis.Observation
	if r.source != nil {
		obs = r.source(ctx, now, *r.s.Applied)
	} else {
		obs = make([]analysis.Observation, len(r.queries))
		for i, q := range r.queries {
			o := &obs[i]
			o.Metric = q.name
			o.Canary = r.measure(ctx, now, q, q.canary, now, q.window)
			if q.stable != "" {
				o.Stable = r.measure(ctx, now, q, q.stable, now, q.window)
			}
			if q.baseline != "" {
				o.Baseline = r.measure(ctx, now, q, q.baseline, now.Add(-q.window), q.baselineWindow)
			}
		}
	}
	for i := range obs {
		o := &obs[i]
		t := r.total(o.Metric)
		t.Canary.add(o.Canary)
		t.Stable.add(o.Stable)
		if !o.CanaryTotal.Observed {
			o.CanaryTotal = t.Canary.measurement()
		}
		if !o.StableTotal.Observed {
			o.StableTotal = t.Stable.measurement()
		}
	}
	return obs
}

func (r *Rollout) total(metric string) *Total {
	for i := range r.s.Totals {
		if r.s.Totals[i].Metric == metric {
			return &r.s.Totals[i]
		}
	}
	r.s.Totals = append(r.s.Totals, Total{Metric: metric})
	return &r.s.Totals[len(r.s.Totals)-1]
}

func (r *Rollout) measure(ctx context.Context, now time.Time, q renderedMetric, text string, end time.Time, w time.Duration) analysis.Measurement {
	res, err := q.provider.Query(ctx, metrics.Query{Text: text, Window: w, End: end})
	if err != nil {
		if !errors.Is(err, metrics.ErrNoData) {
			_ = r.failure(now, "query "+q.name, err)
		}
		return analysis.Measurement{}
	}
	return analysis.Measurement{Observed: true, Value: res.Value, Samples: res.Samples, Count: res.Count}
}

// command runs a manual operation and acts on it at once.
func (r *Rollout) command(ctx context.Context, now time.Time, c Command) (Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ev, err := r.m.Decide(r.s, Inputs{Command: &c}, now)
	if err != nil {
		return r.status(now), err
	}
	r.s = s
	r.s.Pending = append(r.s.Pending, ev...)
	return r.finish(ctx, now, nil)
}

// Pause holds the rollout at its weight until Resume. Pausing a paused
// rollout is harmless.
func (r *Rollout) Pause(ctx context.Context, now time.Time, actor, reason string) (Status, error) {
	return r.command(ctx, now, Command{Op: OpPause, Actor: actor, Reason: reason})
}

// Resume continues a paused rollout; the step's hold starts again.
func (r *Rollout) Resume(ctx context.Context, now time.Time, actor, reason string) (Status, error) {
	return r.command(ctx, now, Command{Op: OpResume, Actor: actor, Reason: reason})
}

// SetWeight overrides the canary's weight (0 up to the plan's largest step
// below 100) and pauses the rollout there; Resume continues from the plan's
// next step above it. It is refused after a rollback decision.
func (r *Rollout) SetWeight(ctx context.Context, now time.Time, weight int, actor, reason string) (Status, error) {
	return r.command(ctx, now, Command{Op: OpSetWeight, Weight: weight, Actor: actor, Reason: reason})
}

// Approve lets the pending gate through.
func (r *Rollout) Approve(ctx context.Context, now time.Time, actor, reason string) (Status, error) {
	return r.command(ctx, now, Command{Op: OpApprove, Actor: actor, Reason: reason})
}

// Promote skips the remaining steps and gates and sends every request to
// the canary. It is refused after a rollback decision.
func (r *Rollout) Promote(ctx context.Context, now time.Time, actor, reason string) (Status, error) {
	return r.command(ctx, now, Command{Op: OpPromote, Actor: actor, Reason: reason})
}

// Abort rolls the canary back at once: one router write sends every
// request to stable, then the canary is scaled to zero and the stable
// version restored. Aborting a rollback is harmless.
func (r *Rollout) Abort(ctx context.Context, now time.Time, actor, reason string) (Status, error) {
	return r.command(ctx, now, Command{Op: OpAbort, Actor: actor, Reason: reason})
}

func plural(n int32, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
