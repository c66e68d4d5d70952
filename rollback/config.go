package rollback

import (
	"fmt"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/traffic"
)

// MaxValidation is the longest zero-traffic validation a plan may ask for:
// one week.
const MaxValidation = 168 * time.Hour

// Step is one stage of a plan: the canary's weight and how long it holds
// there before the next stage.
type Step struct {
	// Weight is the canary's percentage, 1–100. A step of 100 is the
	// promotion.
	Weight int `json:"weight"`
	// Hold is how long the step lasts at least; zero means Plan.Hold.
	Hold time.Duration `json:"hold,omitempty"`
}

// Weights returns steps of the given weights, each holding for Plan.Hold.
func Weights(w ...int) []Step {
	s := make([]Step, len(w))
	for i, v := range w {
		s[i] = Step{Weight: v}
	}
	return s
}

// ZeroTraffic configures the validation phase that runs before any
// production traffic reaches the canary.
type ZeroTraffic struct {
	// Duration is how long the canary is validated, up to MaxValidation.
	Duration time.Duration `json:"duration"`
	// TestRoute, when set, sends requests carrying this header to the
	// canary during validation.
	TestRoute *traffic.HeaderRoute `json:"testRoute,omitempty"`
	// Mirror copies this percentage of production requests to the canary
	// during validation (responses discarded). Zero mirrors nothing.
	Mirror int `json:"mirror,omitempty"`
}

// Plan is how traffic moves. Give either Steps, or StepWeight and
// MaxWeight (which make the steps StepWeight, 2×StepWeight, … up to
// MaxWeight).
type Plan struct {
	Steps      []Step `json:"steps,omitempty"`
	StepWeight int    `json:"stepWeight,omitempty"`
	MaxWeight  int    `json:"maxWeight,omitempty"`
	// Hold is each step's default hold; zero means Interval.
	Hold time.Duration `json:"hold,omitempty"`
	// Interval is the analysis interval: the canary is judged once per
	// Interval over the window that ended then. Required.
	Interval time.Duration `json:"interval"`
	// ProgressDeadline bounds how long a step may go without a passing
	// analysis beyond its hold, and how long the canary may stay not ready.
	// Missing it rolls the canary back (or pauses, per Policy.OnFailure).
	// Zero means 10 minutes.
	ProgressDeadline time.Duration `json:"progressDeadline,omitempty"`
	// ZeroTraffic, when set, validates the canary with no production
	// traffic before the first step.
	ZeroTraffic *ZeroTraffic `json:"zeroTraffic,omitempty"`
	// ApproveIncrease holds every rise of the canary's weight (including
	// the first step) until it is approved; ApprovePromotion holds the
	// promotion. Approval comes from Rollout.Approve or from Config.Gate.
	ApproveIncrease  bool `json:"approveIncrease,omitempty"`
	ApprovePromotion bool `json:"approvePromotion,omitempty"`
}

// DefaultProgressDeadline is used when Plan.ProgressDeadline is zero.
const DefaultProgressDeadline = 10 * time.Minute

// resolved is a validated plan with its defaults filled in.
type resolved struct {
	steps    []Step // every Hold set
	interval time.Duration
	deadline time.Duration
	zero     *ZeroTraffic
	gateInc  bool
	gateProm bool
}

func (r *resolved) maxWeight() int { return r.steps[len(r.steps)-1].Weight }

func (p Plan) resolve() (*resolved, error) {
	if p.Interval <= 0 {
		return nil, canary.Invalid("Plan.Interval", p.Interval, "must be positive")
	}
	if p.Hold < 0 {
		return nil, canary.Invalid("Plan.Hold", p.Hold, "must not be negative")
	}
	if p.ProgressDeadline < 0 {
		return nil, canary.Invalid("Plan.ProgressDeadline", p.ProgressDeadline, "must not be negative")
	}
	steps := p.Steps
	switch {
	case len(steps) > 0 && (p.StepWeight != 0 || p.MaxWeight != 0):
		return nil, canary.Invalid("Plan.StepWeight", p.StepWeight, "give either Steps or StepWeight and MaxWeight, not both")
	case len(steps) == 0 && p.StepWeight == 0 && p.MaxWeight == 0:
		return nil, canary.Invalid("Plan.Steps", nil, "is empty; give Steps, or StepWeight and MaxWeight")
	case len(steps) == 0:
		if p.StepWeight < 1 || p.StepWeight > 100 {
			return nil, canary.Invalid("Plan.StepWeight", p.StepWeight, "must be between 1 and 100")
		}
		if p.MaxWeight < p.StepWeight || p.MaxWeight > 100 {
			return nil, canary.Invalid("Plan.MaxWeight", p.MaxWeight, "must be between StepWeight (%d) and 100", p.StepWeight)
		}
		for w := p.StepWeight; w <= p.MaxWeight; w += p.StepWeight {
			steps = append(steps, Step{Weight: w})
		}
	}
	hold := p.Hold
	if hold == 0 {
		hold = p.Interval
	}
	r := &resolved{steps: make([]Step, len(steps)), interval: p.Interval, deadline: p.ProgressDeadline,
		gateInc: p.ApproveIncrease, gateProm: p.ApprovePromotion}
	if r.deadline == 0 {
		r.deadline = DefaultProgressDeadline
	}
	prev := 0
	for i, s := range steps {
		f := fmt.Sprintf("Plan.Steps[%d]", i)
		switch {
		case s.Weight < 1 || s.Weight > 100:
			return nil, canary.Invalid(f+".Weight", s.Weight, "must be between 1 and 100")
		case s.Weight <= prev:
			return nil, canary.Invalid(f+".Weight", s.Weight, "must be above the previous step's %d; a plan never goes backwards", prev)
		case s.Hold < 0:
			return nil, canary.Invalid(f+".Hold", s.Hold, "must not be negative")
		}
		if s.Hold == 0 {
			s.Hold = hold
		}
		prev = s.Weight
		r.steps[i] = s
	}
	if z := p.ZeroTraffic; z != nil {
		switch {
		case z.Duration <= 0 || z.Duration > MaxValidation:
			return nil, canary.Invalid("Plan.ZeroTraffic.Duration", z.Duration, "must be positive and at most %v", MaxValidation)
		case z.Mirror < 0 || z.Mirror > 100:
			return nil, canary.Invalid("Plan.ZeroTraffic.Mirror", z.Mirror, "must be between 0 and 100")
		}
		s := traffic.Split{Stable: 100, Mirror: z.Mirror, TestRoute: z.TestRoute}
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("rollback: Plan.ZeroTraffic: %w", err)
		}
		zc := *z
		r.zero = &zc
	}
	return r, nil
}

// Counting says how failed analyses add up to a rollback.
type Counting int

const (
	// Cumulative counts every failed analysis of the rollout (the default).
	// A canary that fails, passes, fails is caught.
	Cumulative Counting = iota
	// Consecutive counts failed analyses in a row; a pass resets the count.
	Consecutive
)

func (c Counting) String() string {
	if c == Consecutive {
		return "consecutive"
	}
	return "cumulative"
}

// NoData says what an inconclusive verdict (no data, too few requests)
// does.
type NoData int

const (
	// Hold (the default): an inconclusive analysis neither passes nor fails;
	// the step waits for evidence, bounded by the progress deadline.
	Hold NoData = iota
	// FailNoData counts every inconclusive analysis as a failure.
	FailNoData
	// FailAfter counts Policy.NoDataAfter inconclusive analyses in a row as
	// one failure.
	FailAfter
)

// OnFailure says what reaching the failure limit or missing the progress
// deadline does.
type OnFailure int

const (
	// RollBack (the default): all traffic to stable, canary to zero.
	RollBack OnFailure = iota
	// PauseOnFailure: hold the canary at its weight and wait for an
	// operator to Abort, Resume or Promote (for changes such as database
	// migrations that must not be rolled back automatically).
	PauseOnFailure
)

// Policy is how verdicts turn into decisions. Its zero value is usable:
// two failed analyses over the rollout roll it back, inconclusive analyses
// hold the step.
type Policy struct {
	// FailureLimit is how many failed analyses trigger OnFailure; zero
	// means 2.
	FailureLimit int `json:"failureLimit,omitempty"`
	// Counting is Cumulative (zero value) or Consecutive.
	Counting Counting `json:"counting,omitempty"`
	// NoData is what an inconclusive analysis does; zero is Hold.
	NoData      NoData `json:"noData,omitempty"`
	NoDataAfter int    `json:"noDataAfter,omitempty"`
	// OnFailure is RollBack (zero value) or PauseOnFailure.
	OnFailure OnFailure `json:"onFailure,omitempty"`
	// PassesPerStep is how many passing analyses a step needs before the
	// next; zero means 1.
	PassesPerStep int `json:"passesPerStep,omitempty"`
	// AtDeadline is what a step whose evidence is still inconclusive at
	// its progress deadline does: PauseAtDeadline (zero value) holds the
	// canary and asks a person, saying how many more canary requests a
	// decision needs; RollBackAtDeadline applies OnFailure. A canary not
	// ready by the deadline rolls back either way.
	AtDeadline AtDeadline `json:"atDeadline,omitempty"`
}

// AtDeadline says what an inconclusive step does at its progress deadline.
type AtDeadline int

const (
	// PauseAtDeadline (the default) pauses the rollout for a person.
	PauseAtDeadline AtDeadline = iota
	// RollBackAtDeadline applies Policy.OnFailure.
	RollBackAtDeadline
)

// DefaultFailureLimit is used when Policy.FailureLimit is zero.
const DefaultFailureLimit = 2

func (p Policy) resolve() (Policy, error) {
	switch {
	case p.FailureLimit < 0:
		return p, canary.Invalid("Policy.FailureLimit", p.FailureLimit, "must not be negative")
	case p.Counting != Cumulative && p.Counting != Consecutive:
		return p, canary.Invalid("Policy.Counting", int(p.Counting), "must be Cumulative or Consecutive")
	case p.NoData < Hold || p.NoData > FailAfter:
		return p, canary.Invalid("Policy.NoData", int(p.NoData), "must be Hold, FailNoData or FailAfter")
	case p.NoData == FailAfter && p.NoDataAfter < 1:
		return p, canary.Invalid("Policy.NoDataAfter", p.NoDataAfter, "must be at least 1 with FailAfter")
	case p.NoData != FailAfter && p.NoDataAfter != 0:
		return p, canary.Invalid("Policy.NoDataAfter", p.NoDataAfter, "is only used with FailAfter")
	case p.OnFailure != RollBack && p.OnFailure != PauseOnFailure:
		return p, canary.Invalid("Policy.OnFailure", int(p.OnFailure), "must be RollBack or PauseOnFailure")
	case p.AtDeadline != PauseAtDeadline && p.AtDeadline != RollBackAtDeadline:
		return p, canary.Invalid("Policy.AtDeadline", int(p.AtDeadline), "must be PauseAtDeadline or RollBackAtDeadline")
	case p.PassesPerStep < 0:
		return p, canary.Invalid("Policy.PassesPerStep", p.PassesPerStep, "must not be negative")
	}
	if p.FailureLimit == 0 {
		p.FailureLimit = DefaultFailureLimit
	}
	if p.PassesPerStep == 0 {
		p.PassesPerStep = 1
	}
	return p, nil
}

// Workload names one version for query templates.
type Workload struct {
	Workload string `json:"workload,omitempty"`
	Version  string `json:"version,omitempty"`
}

// Target names what is being rolled out; its values fill query templates
// (metrics.Vars) and must match metrics.ValuePattern where a template uses
// them.
type Target struct {
	Namespace string   `json:"namespace,omitempty"`
	Service   string   `json:"service,omitempty"`
	Stable    Workload `json:"stable"`
	Canary    Workload `json:"canary"`
}

// Metric is one measurement the rollout takes at every analysis.
type Metric struct {
	// Name identifies the metric to analyzers ("error-rate", "latency-p99").
	Name string
	// Provider answers the metric's queries. Required.
	Provider metrics.Provider
	// Query renders the query for one version; Target's values fill it.
	Query metrics.Template
	// Window is the short window; zero means Plan.Interval.
	Window time.Duration
	// Baseline, when positive, also measures the stable version over this
	// long window ending where the short window begins (for example 30 min
	// of history).
	Baseline time.Duration
	// SkipStable leaves the stable version's short window unmeasured.
	SkipStable bool
}

// Config is everything a Rollout is built from.
type Config struct {
	// Name identifies the rollout in events and gate requests.
	Name   string
	Plan   Plan
	Policy Policy
	Target Target
	// Metrics are measured at every analysis, in order.
	Metrics []Metric
	// Analyzer judges the observations. Required when Metrics is not
	// empty; a rollout with neither advances on time alone.
	Analyzer analysis.Analyzer
	// Router applies splits. Required.
	Router traffic.Router
	// Scaler, when set, scales the canary to zero and restores the stable
	// version on a rollback.
	Scaler Scaler
	// Readiness, when set, must report the canary ready by the progress
	// deadline.
	Readiness Readiness
	// Gate, when set, is asked at every Step while the rollout waits at a
	// gate; Rollout.Approve works with or without it.
	Gate Gate
	// Sink, when set, receives every event. Events it refuses are kept and
	// offered again at the next call, in order.
	Sink Sink
}

// renderMetrics checks c.Metrics and renders each metric's queries once,
// for the plan p (whose interval is the default window).
func (c Config) renderMetrics(p *resolved) ([]renderedMetric, error) {
	if len(c.Metrics) > 0 && c.Analyzer == nil {
		return nil, canary.Invalid("Config.Analyzer", nil, "must be set when Metrics are given")
	}
	seen := map[string]bool{}
	out := make([]renderedMetric, 0, len(c.Metrics))
	for i, m := range c.Metrics {
		f := fmt.Sprintf("Config.Metrics[%d]", i)
		switch {
		case m.Name == "":
			return nil, canary.Invalid(f+".Name", m.Name, "must not be empty")
		case seen[m.Name]:
			return nil, canary.Invalid(f+".Name", m.Name, "is used twice")
		case m.Provider == nil:
			return nil, canary.Invalid(f+".Provider", nil, "must not be nil")
		case m.Query.Dialect() == 0:
			return nil, canary.Invalid(f+".Query", nil, "is the zero Template; build it with metrics.Parse")
		case m.Window < 0:
			return nil, canary.Invalid(f+".Window", m.Window, "must not be negative")
		case m.Baseline < 0:
			return nil, canary.Invalid(f+".Baseline", m.Baseline, "must not be negative")
		}
		seen[m.Name] = true
		w := m.Window
		if w == 0 {
			w = p.interval
		}
		rm := renderedMetric{name: m.Name, provider: m.Provider, window: w, baselineWindow: m.Baseline}
		render := func(v Workload, window time.Duration) (string, error) {
			q, err := m.Query.Render(varsFor(c.Target, v, window))
			if err != nil {
				return "", fmt.Errorf("rollback: %s.Query: %w", f, err)
			}
			return q, nil
		}
		var err error
		if rm.canary, err = render(c.Target.Canary, w); err != nil {
			return nil, err
		}
		if !m.SkipStable {
			if rm.stable, err = render(c.Target.Stable, w); err != nil {
				return nil, err
			}
		}
		if m.Baseline > 0 {
			if rm.baseline, err = render(c.Target.Stable, m.Baseline); err != nil {
				return nil, err
			}
		}
		out = append(out, rm)
	}
	return out, nil
}

func varsFor(t Target, w Workload, window time.Duration) metrics.Vars {
	return metrics.Vars{Namespace: t.Namespace, Service: t.Service, Workload: w.Workload, Version: w.Version, Window: window}
}

// PresetPolicy returns the Policy an analysis.Preset was tuned with, so a
// rollout uses a preset as its decision-quality figures were measured:
//
//	p := analysis.DefaultPreset(analysis.PresetMetrics{ErrorRate: "error-rate"})
//	cfg.Analyzer, cfg.Policy = p.Analyzer, rollback.PresetPolicy(p)
func PresetPolicy(p analysis.Preset) Policy {
	pol := Policy{FailureLimit: p.FailureLimit}
	if p.Consecutive {
		pol.Counting = Consecutive
	}
	switch p.NoData {
	case analysis.FailOnNoData:
		pol.NoData = FailNoData
	case analysis.FailAfterNoData:
		pol.NoData, pol.NoDataAfter = FailAfter, p.NoDataAfter
	}
	return pol
}
