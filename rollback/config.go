package rollback

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/workload"
)

// MaxValidation is the longest zero-traffic validation a plan may ask for:
// one week.
const MaxValidation = 168 * time.Hour

// Stage is one stage of a plan: the canary's weight and how long it holds
// there before the next stage.
type Stage struct {
	// Weight is the canary's percentage, 1–100. A stage of 100 is the
	// promotion.
	Weight int `json:"weight"`
	// Hold is how long the stage lasts at least; zero means Plan.Hold.
	Hold time.Duration `json:"hold,omitempty"`
}

// Weights returns stages of the given weights, each holding for Plan.Hold.
func Weights(w ...int) []Stage {
	s := make([]Stage, len(w))
	for i, v := range w {
		s[i] = Stage{Weight: v}
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
	TestRoute traffic.HeaderRoute `json:"testRoute,omitzero"`
	// Mirror copies this percentage of production requests to the canary
	// during validation (responses discarded). Zero mirrors nothing.
	Mirror int `json:"mirror,omitempty"`
}

// Plan is how traffic moves. Give either Stages, or StageWeight and
// MaxWeight (which make the stages StageWeight, 2×StageWeight, … up to
// MaxWeight).
type Plan struct {
	Stages      []Stage `json:"stages,omitempty"`
	StageWeight int     `json:"stageWeight,omitempty"`
	MaxWeight   int     `json:"maxWeight,omitempty"`
	// Hold is each stage's default hold; zero means Interval.
	Hold time.Duration `json:"hold,omitempty"`
	// Interval is the analysis interval: the canary is judged once per
	// Interval over the window that ended then. Required.
	Interval time.Duration `json:"interval"`
	// ProgressDeadline bounds how long the canary may stay not ready: a
	// canary not ready by then is rolled back (or paused, per
	// Policy.OnFailure). Zero means 10 minutes. When set, it also bounds
	// how long a stage may go beyond its hold without the evidence it
	// needs to move on (as before MaxDuration existed); when zero, that is
	// MaxDuration's job.
	ProgressDeadline time.Duration `json:"progressDeadline,omitempty"`
	// MaxDuration is the budget for the evidence: how long the rollout may
	// take, from its start, to reach a decision. As soon as the rollout's
	// own estimate (Status.More canary requests at the traffic the plan's
	// last stage would get) says the budget cannot be met — trusted, when it is
	// more than twice the rest, once half the budget has passed — or when the budget is spent, a
	// rollout whose evidence is still inconclusive pauses for a person (or
	// rolls back, per Policy.OnInconclusive), saying how many canary
	// requests and roughly how long are missing. Zero means
	// DefaultMaxDuration.
	MaxDuration time.Duration `json:"maxDuration,omitempty"`
	// ZeroTraffic, when set, validates the canary with no production
	// traffic before the first stage.
	ZeroTraffic *ZeroTraffic `json:"zeroTraffic,omitempty"`
	// ApproveIncrease holds every rise of the canary's weight (including
	// the first stage) until it is approved; ApprovePromotion holds the
	// promotion. Approval comes from Rollout.Approve or from Config.Gate.
	ApproveIncrease  bool `json:"approveIncrease,omitempty"`
	ApprovePromotion bool `json:"approvePromotion,omitempty"`

	// Strategy is the plan's shape: "" or [StrategyCanary] (weighted
	// stages), [StrategyABTest] (ABTest) or [StrategyBlueGreen]
	// (BlueGreen). See "Release strategies" in the package doc.
	Strategy Strategy `json:"strategy,omitempty"`
	// ABTest configures an A/B test; set exactly when Strategy is
	// StrategyABTest.
	ABTest *ABTest `json:"abTest,omitempty"`
	// BlueGreen configures a blue/green release; set exactly when
	// Strategy is StrategyBlueGreen.
	BlueGreen *BlueGreen `json:"blueGreen,omitempty"`
	// SessionAffinity, for a weighted canary, keeps a user who was sent
	// to the canary on it for the rest of the rollout.
	SessionAffinity *SessionAffinity `json:"sessionAffinity,omitempty"`
}

// Strategy is the shape of a plan.
type Strategy string

const (
	// StrategyCanary (or ""): the canary's weight rises stage by stage
	// (Plan.Stages), optionally after a zero-traffic validation.
	StrategyCanary Strategy = "canary"
	// StrategyABTest: the requests of a cohort (header or cookie
	// matches) go to the canary and every other request to stable; no
	// weight moves. The canary is judged every Plan.Interval, promoted on
	// a Pass (after ABTest.Iterations analyses at least) and rolled back
	// on a Fail. Flagger's A/B testing.
	StrategyABTest Strategy = "abtest"
	// StrategyBlueGreen: the new version is analysed with no production
	// traffic (a preview route, a mirror), then every request switches to
	// it in one write, it is analysed again with the old version kept
	// warm (a Fail switches back in one write), and the old version is
	// scaled down. Argo Rollouts' blueGreen, Flagger's blue/green.
	StrategyBlueGreen Strategy = "bluegreen"
)

// ABTest is an A/B test: Cohort's requests go to the canary, the rest to
// stable.
type ABTest struct {
	// Cohort is the requests sent to the canary: those that satisfy any
	// of these matches (1 to [traffic.MaxMatches]; header exact, prefix or
	// regex, or cookie).
	Cohort []traffic.Match `json:"cohort"`
	// Iterations is how many analyses the test runs at least before a
	// Pass promotes it (Flagger's iterations); zero promotes on the first
	// Pass.
	Iterations int `json:"iterations,omitempty"`
}

// BlueGreen is a blue/green release. Plan.ApprovePromotion holds the
// switch for an approval (Argo Rollouts' autoPromotionEnabled: false).
type BlueGreen struct {
	// Preview, when set, sends requests carrying this header to the new
	// version before the switch (Argo's preview service), for tests.
	Preview traffic.HeaderRoute `json:"preview,omitzero"`
	// Mirror copies this percentage of production requests to the new
	// version before the switch, responses discarded (blue/green with
	// mirroring). Zero mirrors nothing.
	Mirror int `json:"mirror,omitempty"`
	// PrePromotion is how long the new version is analysed at least
	// before the switch; it also needs a Pass. Zero: the first Pass.
	PrePromotion time.Duration `json:"prePromotion,omitempty"`
	// PostPromotion is how long the new version is analysed after the
	// switch, with the old version warm; it also needs a Pass. Zero:
	// one Plan.Interval. Stable has no traffic then, so the analyzer
	// judges the new version on the baseline ([Metric.Baseline];
	// [analysis.HistoryRate], see Config.PostPromotionAnalyzer) or on
	// fixed bounds, not on stable's short window.
	PostPromotion time.Duration `json:"postPromotion,omitempty"`
	// ScaleDownDelay keeps the old version warm this long after the
	// switch at least (Argo's scaleDownDelaySeconds); the analysis goes
	// on meanwhile, and a Fail still switches back. The old version is
	// scaled down (Config.Scaler) after max(PostPromotion,
	// ScaleDownDelay).
	ScaleDownDelay time.Duration `json:"scaleDownDelay,omitempty"`
}

// SessionAffinity keeps a user on the canary once a request of theirs was
// sent there: every weighted stage's split carries a [traffic.Affinity]
// whose value is chosen once per rollout (and saved with its state), so a
// user does not flip between versions while the weights move, and a later
// rollout does not inherit this one's sessions. A rollback is one write of
// [traffic.AllStable], which carries no affinity. Flagger's
// sessionAffinity.
type SessionAffinity struct {
	// Cookie is the cookie's name (a token).
	Cookie string `json:"cookie"`
	// MaxAge is the cookie's lifetime, 1 s to a week; zero means a day.
	MaxAge time.Duration `json:"maxAge,omitempty"`
}

// DefaultAffinityAge is used when SessionAffinity.MaxAge is zero.
const DefaultAffinityAge = 24 * time.Hour

// DefaultProgressDeadline is used when Plan.ProgressDeadline is zero.
const DefaultProgressDeadline = 10 * time.Minute

// DefaultMaxDuration is used when Plan.MaxDuration is zero: four hours, in
// which the default preset decides for a good canary from about 5
// requests/s of total traffic with the plan 10 → 50 % (BENCHMARKS.md).
const DefaultMaxDuration = 4 * time.Hour

// resolved is a validated plan with its defaults filled in.
type resolved struct {
	stages   []Stage // every Hold set
	interval time.Duration
	deadline time.Duration
	// evidenceDeadline: ProgressDeadline was set, and bounds inconclusive
	// evidence too; budget is MaxDuration.
	evidenceDeadline bool
	budget           time.Duration
	zero             *ZeroTraffic
	gateInc          bool
	gateProm         bool

	strategy Strategy // never "": StrategyCanary for a weighted canary
	ab       *ABTest
	bg       *BlueGreen
	aff      *SessionAffinity // MaxAge filled in
	// pre is the phase before production traffic (Validating): the
	// zero-traffic validation, the A/B test or blue/green's preview; nil
	// when the plan has none.
	pre *prePhase
}

// prePhase is what Validating means for a plan.
type prePhase struct {
	split traffic.Split
	// min is how long it lasts at least; passes, whether it also needs a
	// Pass (A/B, blue/green) rather than ending on time (zero traffic);
	// looks, the analyses it needs at least (A/B's Iterations).
	min    time.Duration
	passes bool
	looks  int
	what   string
}

// blueGreen reports whether the plan is a blue/green release.
func (r *resolved) blueGreen() bool { return r.strategy == StrategyBlueGreen }

// weighted reports whether the plan moves weights stage by stage.
func (r *resolved) weighted() bool { return r.strategy == StrategyCanary }

// promotion reports whether moving to stage next is the promotion: past
// the last stage, or a stage of 100 % (blue/green's one stage at 100 % is
// its post-promotion analysis, not the promotion).
func (r *resolved) promotion(next int) bool {
	return next >= len(r.stages) || r.stages[next].Weight == 100 && !r.blueGreen()
}

func (r *resolved) maxWeight() int { return r.stages[len(r.stages)-1].Weight }

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
	if p.MaxDuration < 0 {
		return nil, canary.Invalid("Plan.MaxDuration", p.MaxDuration, "must not be negative")
	}
	strategy := p.Strategy
	if strategy == "" {
		strategy = StrategyCanary
	}
	switch strategy {
	case StrategyCanary, StrategyABTest, StrategyBlueGreen:
	default:
		return nil, canary.Invalid("Plan.Strategy", string(p.Strategy), "must be %q, %q or %q", StrategyCanary, StrategyABTest, StrategyBlueGreen)
	}
	switch {
	case p.ABTest != nil && strategy != StrategyABTest:
		return nil, canary.Invalid("Plan.ABTest", nil, "is set, but Plan.Strategy is %q; set it to %q", strategy, StrategyABTest)
	case p.BlueGreen != nil && strategy != StrategyBlueGreen:
		return nil, canary.Invalid("Plan.BlueGreen", nil, "is set, but Plan.Strategy is %q; set it to %q", strategy, StrategyBlueGreen)
	case p.SessionAffinity != nil && strategy != StrategyCanary:
		return nil, canary.Invalid("Plan.SessionAffinity", nil, "applies to the weighted stages of a canary, and Plan.Strategy is %q", strategy)
	case strategy == StrategyABTest && p.ABTest == nil:
		return nil, canary.Invalid("Plan.ABTest", nil, "must be set when Plan.Strategy is %q", strategy)
	case strategy == StrategyBlueGreen && p.BlueGreen == nil:
		return nil, canary.Invalid("Plan.BlueGreen", nil, "must be set when Plan.Strategy is %q", strategy)
	}
	if strategy != StrategyCanary {
		return p.resolveShape(strategy)
	}
	stages := p.Stages
	switch {
	case len(stages) > 0 && (p.StageWeight != 0 || p.MaxWeight != 0):
		return nil, canary.Invalid("Plan.StageWeight", p.StageWeight, "give either Stages or StageWeight and MaxWeight, not both")
	case len(stages) == 0 && p.StageWeight == 0 && p.MaxWeight == 0:
		return nil, canary.Invalid("Plan.Stages", nil, "is empty; give Stages, or StageWeight and MaxWeight")
	case len(stages) == 0:
		if p.StageWeight < 1 || p.StageWeight > 100 {
			return nil, canary.Invalid("Plan.StageWeight", p.StageWeight, "must be between 1 and 100")
		}
		if p.MaxWeight < p.StageWeight || p.MaxWeight > 100 {
			return nil, canary.Invalid("Plan.MaxWeight", p.MaxWeight, "must be between StageWeight (%d) and 100", p.StageWeight)
		}
		for w := p.StageWeight; w <= p.MaxWeight; w += p.StageWeight {
			stages = append(stages, Stage{Weight: w})
		}
	}
	hold := p.Hold
	if hold == 0 {
		hold = p.Interval
	}
	r := &resolved{stages: make([]Stage, len(stages)), interval: p.Interval, deadline: p.ProgressDeadline,
		gateInc: p.ApproveIncrease, gateProm: p.ApprovePromotion}
	r.evidenceDeadline = r.deadline != 0
	if r.deadline == 0 {
		r.deadline = DefaultProgressDeadline
	}
	r.budget = p.MaxDuration
	if r.budget == 0 {
		r.budget = DefaultMaxDuration
	}
	prev := 0
	for i, s := range stages {
		f := fmt.Sprintf("Plan.Stages[%d]", i)
		switch {
		case s.Weight < 1 || s.Weight > 100:
			return nil, canary.Invalid(f+".Weight", s.Weight, "must be between 1 and 100")
		case s.Weight <= prev:
			return nil, canary.Invalid(f+".Weight", s.Weight, "must be above the previous stage's %d; a plan never goes backwards", prev)
		case s.Hold < 0:
			return nil, canary.Invalid(f+".Hold", s.Hold, "must not be negative")
		}
		if s.Hold == 0 {
			s.Hold = hold
		}
		prev = s.Weight
		r.stages[i] = s
	}
	if z := p.ZeroTraffic; z != nil {
		switch {
		case z.Duration <= 0 || z.Duration > MaxValidation:
			return nil, canary.Invalid("Plan.ZeroTraffic.Duration", z.Duration, "must be positive and at most %v", MaxValidation)
		case z.Mirror < 0 || z.Mirror > 100:
			return nil, canary.Invalid("Plan.ZeroTraffic.Mirror", z.Mirror, "must be between 0 and 100")
		}
		if err := validationSplit(z).Validate(); err != nil {
			return nil, fmt.Errorf("rollback: Plan.ZeroTraffic: %w", err)
		}
		zc := *z
		r.zero = &zc
		r.pre = &prePhase{split: validationSplit(z), min: z.Duration,
			what: fmt.Sprintf("zero-traffic validation for %v", z.Duration)}
	}
	r.strategy = StrategyCanary
	if a := p.SessionAffinity; a != nil {
		ac := *a
		if ac.MaxAge == 0 {
			ac.MaxAge = DefaultAffinityAge
		}
		switch {
		case ac.MaxAge < time.Second || ac.MaxAge > traffic.MaxAffinityAge*time.Second:
			return nil, canary.Invalid("Plan.SessionAffinity.MaxAge", a.MaxAge, "must be between 1s and a week")
		case ac.MaxAge%time.Second != 0:
			return nil, canary.Invalid("Plan.SessionAffinity.MaxAge", a.MaxAge, "must be whole seconds (a cookie's Max-Age)")
		}
		if err := (traffic.Split{Stable: 50, Canary: 50, Affinity: affinity(&ac, affinityProbe)}).Validate(); err != nil {
			return nil, planField(err, "Plan.SessionAffinity", "Split.Affinity")
		}
		r.aff = &ac
	}
	return r, nil
}

// affinityProbe stands for the per-rollout affinity value when a plan is
// checked before any rollout has started: the value's form is fixed (16
// hexadecimal digits), so a router that takes it takes every one.
const affinityProbe = "0123456789abcdef"

// affinity is the split's affinity for the plan's SessionAffinity a and
// the rollout's value.
func affinity(a *SessionAffinity, value string) traffic.Affinity {
	return traffic.Affinity{Cookie: a.Cookie, Value: value, MaxAge: int(a.MaxAge / time.Second)}
}

// planField renames the field of a *[canary.FieldError] about a split
// (from, such as "Split.Cohort") to the plan's field (to, such as
// "Plan.ABTest.Cohort"), keeping what follows it; other errors are
// wrapped with the plan field named.
func planField(err error, to, from string) error {
	var fe *canary.FieldError
	if errors.As(err, &fe) && strings.HasPrefix(fe.Field, from) {
		return &canary.FieldError{Field: to + strings.TrimPrefix(fe.Field, from), Value: fe.Value, Reason: fe.Reason}
	}
	return fmt.Errorf("rollback: %s: %w", to, err)
}

// resolveShape resolves an A/B or blue/green plan: no weighted stages,
// one phase before production traffic (Validating), then one write to
// 100 %.
func (p Plan) resolveShape(strategy Strategy) (*resolved, error) {
	name := "Plan.ABTest"
	if strategy == StrategyBlueGreen {
		name = "Plan.BlueGreen"
	}
	switch {
	case len(p.Stages) > 0:
		return nil, canary.Invalid("Plan.Stages", len(p.Stages), "must be empty with Plan.Strategy %q: %s moves no weights", strategy, name)
	case p.StageWeight != 0:
		return nil, canary.Invalid("Plan.StageWeight", p.StageWeight, "must be zero with Plan.Strategy %q: %s moves no weights", strategy, name)
	case p.MaxWeight != 0:
		return nil, canary.Invalid("Plan.MaxWeight", p.MaxWeight, "must be zero with Plan.Strategy %q: %s moves no weights", strategy, name)
	case p.ZeroTraffic != nil:
		return nil, canary.Invalid("Plan.ZeroTraffic", nil, "must not be set with Plan.Strategy %q: its analysis before production traffic is %s", strategy, name)
	case p.ApproveIncrease:
		return nil, canary.Invalid("Plan.ApproveIncrease", true, "has no weight rise to hold with Plan.Strategy %q; use ApprovePromotion", strategy)
	}
	r := &resolved{interval: p.Interval, deadline: p.ProgressDeadline, gateProm: p.ApprovePromotion, strategy: strategy}
	r.evidenceDeadline = r.deadline != 0
	if r.deadline == 0 {
		r.deadline = DefaultProgressDeadline
	}
	r.budget = p.MaxDuration
	if r.budget == 0 {
		r.budget = DefaultMaxDuration
	}
	hold := p.Hold
	if hold == 0 {
		hold = p.Interval
	}
	if strategy == StrategyABTest {
		a := p.ABTest
		if a.Iterations < 0 {
			return nil, canary.Invalid("Plan.ABTest.Iterations", a.Iterations, "must not be negative")
		}
		if len(a.Cohort) == 0 {
			return nil, canary.Invalid("Plan.ABTest.Cohort", nil, "is empty; give 1 to %d header or cookie matches", traffic.MaxMatches)
		}
		c, err := traffic.NewCohort(a.Cohort...)
		if err != nil {
			return nil, planField(err, name+".Cohort", "Split.Cohort")
		}
		split := traffic.Split{Stable: 100, Cohort: c}
		if err := split.Validate(); err != nil {
			return nil, planField(err, name+".Cohort", "Split.Cohort")
		}
		ac := *a
		ac.Cohort = c.Matches()
		r.ab = &ac
		r.pre = &prePhase{split: split, passes: true, looks: a.Iterations,
			what: "A/B test: the cohort " + c.String() + " goes to the canary"}
		r.stages = []Stage{{Weight: 100, Hold: hold}}
		return r, nil
	}
	b := p.BlueGreen
	switch {
	case b.Mirror < 0 || b.Mirror > 100:
		return nil, canary.Invalid("Plan.BlueGreen.Mirror", b.Mirror, "must be between 0 and 100")
	case b.PrePromotion < 0 || b.PrePromotion > MaxValidation:
		return nil, canary.Invalid("Plan.BlueGreen.PrePromotion", b.PrePromotion, "must be between 0 and %v", MaxValidation)
	case b.PostPromotion < 0 || b.PostPromotion > MaxValidation:
		return nil, canary.Invalid("Plan.BlueGreen.PostPromotion", b.PostPromotion, "must be between 0 and %v", MaxValidation)
	case b.ScaleDownDelay < 0 || b.ScaleDownDelay > MaxValidation:
		return nil, canary.Invalid("Plan.BlueGreen.ScaleDownDelay", b.ScaleDownDelay, "must be between 0 and %v", MaxValidation)
	}
	split := traffic.Split{Stable: 100, Mirror: b.Mirror, TestRoute: b.Preview}
	if err := split.Validate(); err != nil {
		return nil, planField(err, name+".Preview", "Split.TestRoute")
	}
	bc := *b
	if bc.PostPromotion == 0 {
		bc.PostPromotion = p.Interval
	}
	r.bg = &bc
	what := "blue/green: the new version is analysed before the switch, with no production traffic"
	switch {
	case b.Mirror > 0 && b.Preview != (traffic.HeaderRoute{}):
		what += fmt.Sprintf(" (%d %% mirrored, preview route %s=%s)", b.Mirror, b.Preview.Name, b.Preview.Value)
	case b.Mirror > 0:
		what += fmt.Sprintf(" (%d %% mirrored)", b.Mirror)
	case b.Preview != (traffic.HeaderRoute{}):
		what += fmt.Sprintf(" (preview route %s=%s)", b.Preview.Name, b.Preview.Value)
	}
	r.pre = &prePhase{split: split, min: b.PrePromotion, passes: true, what: what}
	// The one stage is the post-promotion analysis at 100 %, the old
	// version warm; its hold is the longer of the analysis and the
	// scale-down delay.
	r.stages = []Stage{{Weight: 100, Hold: max(bc.PostPromotion, bc.ScaleDownDelay)}}
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

// OnFailure says what reaching the failure limit or missing the progress
// deadline does.
type OnFailure int

const (
	// RollBackOnFailure (the default): all traffic to stable, canary to
	// zero.
	RollBackOnFailure OnFailure = iota
	// PauseOnFailure: hold the canary at its weight and wait for an
	// operator to Abort, Resume or Promote (for changes such as database
	// migrations that must not be rolled back automatically). A failure
	// limit reached while paused raises an alert event instead.
	PauseOnFailure
)

// Advance says what evidence lets a stage's weight rise.
type Advance int

const (
	// AdvanceOnLeaning (the default): after its hold, a stage advances
	// when nothing failed and the latest analysis leans towards "no
	// regression" ([analysis.Verdict].Leaning, or a Pass); the promotion
	// to 100 % needs a Pass at the last stage. More users are exposed only
	// to a canary that looks no worse so far, and the evidence is gathered
	// at the higher weights, where it comes faster.
	AdvanceOnLeaning Advance = iota
	// AdvanceOnPass: every stage, and the promotion, needs a Pass. A bad
	// canary is held at the first stage's weight while the evidence
	// builds, so it serves the fewest errors, but a good one is promoted
	// up to 4 times later: the smallest-exposure choice. In the
	// decision-quality suite (default preset, plan 10 → 50 %, 5 and 50
	// requests/s, 40 runs a cell, against the oracle) it promotes within
	// 1.5 × the oracle's minutes in 2 of 30 cells (AdvanceOnLeaning: 29),
	// and a clear regression serves at most 1.5 × the oracle's errors in
	// 14 of 18 cells (AdvanceOnLeaning: 13).
	AdvanceOnPass
)

func (a Advance) String() string {
	if a == AdvanceOnPass {
		return "on a pass"
	}
	return "on leaning evidence"
}

// OnInconclusive says what a stage whose evidence is still inconclusive at
// the progress deadline does (a canary that is not ready by then is
// handled by OnFailure).
type OnInconclusive int

const (
	// AskPerson (the default): pause the rollout and ask a person, with a
	// reason saying how many more canary requests, and at the current
	// traffic roughly how long, a decision would need. Analysis goes on
	// while paused; a Fail still rolls back (per OnFailure).
	AskPerson OnInconclusive = iota
	// RollBackInconclusive: treat missing evidence as a failure.
	RollBackInconclusive
)

// Policy is how verdicts turn into decisions. Its zero value is usable:
// two failed analyses over the rollout roll it back, inconclusive analyses
// wait for evidence, and a stage still inconclusive at the progress
// deadline pauses for a person.
type Policy struct {
	// FailureLimit is how many failed analyses trigger OnFailure; zero
	// means 2.
	FailureLimit int `json:"failureLimit,omitempty"`
	// Counting is Cumulative (zero value) or Consecutive.
	Counting Counting `json:"counting,omitempty"`
	// NoData is what an inconclusive analysis counts as: the zero value
	// (and [analysis.HoldOnNoData]) neither passes nor fails, the stage waits
	// for evidence; [analysis.FailOnNoData] counts it as a failure;
	// [analysis.FailAfterNoData] counts NoDataAfter of them in a row as one.
	NoData      analysis.NoDataPolicy `json:"noData,omitempty"`
	NoDataAfter int                   `json:"noDataAfter,omitempty"`
	// OnFailure is RollBackOnFailure (zero value) or PauseOnFailure.
	OnFailure OnFailure `json:"onFailure,omitempty"`
	// OnInconclusive is AskPerson (zero value) or RollBackInconclusive.
	OnInconclusive OnInconclusive `json:"onInconclusive,omitempty"`
	// PassesPerStage is how many analyses in a row a stage needs before
	// the next (passing or, with AdvanceOnLeaning, leaning) and before the
	// promotion (passing); zero means 1.
	PassesPerStage int `json:"passesPerStage,omitempty"`
	// Advance is AdvanceOnLeaning (zero value) or AdvanceOnPass.
	Advance Advance `json:"advance,omitempty"`
}

// DefaultFailureLimit is used when Policy.FailureLimit is zero.
const DefaultFailureLimit = 2

func (p Policy) resolve() (Policy, error) {
	switch {
	case p.FailureLimit < 0:
		return p, canary.Invalid("Policy.FailureLimit", p.FailureLimit, "must not be negative")
	case p.Counting != Cumulative && p.Counting != Consecutive:
		return p, canary.Invalid("Policy.Counting", int(p.Counting), "must be Cumulative or Consecutive")
	case p.NoData != "" && p.NoData != analysis.HoldOnNoData && p.NoData != analysis.FailOnNoData && p.NoData != analysis.FailAfterNoData:
		return p, canary.Invalid("Policy.NoData", string(p.NoData), "must be %q, %q or %q", analysis.HoldOnNoData, analysis.FailOnNoData, analysis.FailAfterNoData)
	case p.NoData == analysis.FailAfterNoData && p.NoDataAfter < 1:
		return p, canary.Invalid("Policy.NoDataAfter", p.NoDataAfter, "must be at least 1 with %q", analysis.FailAfterNoData)
	case p.NoData != analysis.FailAfterNoData && p.NoDataAfter != 0:
		return p, canary.Invalid("Policy.NoDataAfter", p.NoDataAfter, "is only used with %q", analysis.FailAfterNoData)
	case p.OnFailure != RollBackOnFailure && p.OnFailure != PauseOnFailure:
		return p, canary.Invalid("Policy.OnFailure", int(p.OnFailure), "must be RollBackOnFailure or PauseOnFailure")
	case p.OnInconclusive != AskPerson && p.OnInconclusive != RollBackInconclusive:
		return p, canary.Invalid("Policy.OnInconclusive", int(p.OnInconclusive), "must be AskPerson or RollBackInconclusive")
	case p.PassesPerStage < 0:
		return p, canary.Invalid("Policy.PassesPerStage", p.PassesPerStage, "must not be negative")
	case p.Advance != AdvanceOnLeaning && p.Advance != AdvanceOnPass:
		return p, canary.Invalid("Policy.Advance", int(p.Advance), "must be AdvanceOnLeaning or AdvanceOnPass")
	}
	if p.NoData == "" {
		p.NoData = analysis.HoldOnNoData
	}
	if p.FailureLimit == 0 {
		p.FailureLimit = DefaultFailureLimit
	}
	if p.PassesPerStage == 0 {
		p.PassesPerStage = 1
	}
	return p, nil
}

// Workload names one version for query templates: Name fills
// {{workload}}, Version {{version}}.
type Workload struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

// Target names what is being rolled out; its values fill query templates
// ([metrics.Vars]) and must match [metrics.ValuePattern] where a template uses
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
	// of history). When Provider also answers range queries (a method
	// Range(context.Context, metrics.RangeQuery) ([]metrics.Point, error),
	// as [metrics.Source] and the fake, Prometheus (with counts through its
	// WithCount) and httpsplit providers have) and Baseline is a whole number of Windows, the same
	// history is asked per Window as well, the stable query stepped by the
	// Window, and given to the analyzer as Observation.Baseline.Buckets
	// (see [analysis.Rates]), each with its count where the back end
	// gives one; events and the saved state leave the buckets out. A range
	// query with no data leaves Buckets nil; one that fails is reported as
	// a failure of the round ("history <Name>") and leaves Buckets nil,
	// nothing else changes.
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
	// PostPromotionAnalyzer, for a blue/green plan, judges the new
	// version after the switch instead of Analyzer. Stable serves no
	// request then, so an analyzer that compares the canary with stable's
	// short window (the presets) can only be inconclusive, and the rollout
	// would ask a person when its budget is spent; give one that judges
	// on the service's history or on fixed bounds. [analysis.HistoryRate]
	// is the one to use with a [Metric.Baseline] (an hour, say): it adds
	// up the windows after the switch into anytime-valid evidence against
	// the history in both directions, so it decides at low traffic too,
	// where a rule that judges each window alone ([analysis.DualWindow],
	// [analysis.Threshold] with a MinCount) has too few requests in every
	// window and never switches back (issue 18: at 0.5 requests/s a
	// minute holds about 30); one Fail of it is evidence, so a failure
	// limit of 1 suffices. Without history it is inconclusive, never
	// Pass; [analysis.Threshold] judges on a bound with none. Nil means
	// Analyzer. Its Input.Memory starts empty at the switch, so an
	// analyzer that keeps its evidence there judges the requests after
	// the switch only (Observation.CanaryTotal runs on across it).
	PostPromotionAnalyzer analysis.Analyzer
	// Router applies splits. Required: a *[traffic.Router] (every mesh
	// adapter, providers/httpsplit) or providers/fake's Router.
	Router Splitter
	// Scaler, when set, scales the canary to zero and restores the stable
	// version on a rollback.
	Scaler workload.Scaler
	// Readiness, when set, must report the canary ready by the progress
	// deadline.
	Readiness workload.Readiness
	// Gate, when set, is asked at every Step while the rollout waits at a
	// gate; Rollout.Approve works with or without it.
	Gate workload.Gate
	// Sink, when set, receives every event. Events it refuses are kept and
	// offered again at the next call, in order (see Sink for the
	// exactly-once contract).
	Sink Sink
	// Store, when set, keeps the rollout's state under Key: every decision
	// is saved, with the split it calls for, before it is acted on, and
	// the confirmed state after (write-ahead), with compare-and-swap so
	// that a second driver of the same rollout is fenced off
	// ([store.ErrConflict]). Open resumes a rollout from it. Key defaults to
	// Name; give each deployment its own (for example the name and the
	// canary's version): a finished rollout under the key makes Open
	// return [ErrFinished], and New's first save over any rollout under it
	// fails with [ErrKeyInUse].
	Store store.Store
	Key   string
	// Migrate lets Restore and Open continue a state saved under another
	// plan or policy, provided the state fits this one. Without it such a
	// state is refused.
	Migrate bool
}

// renderMetrics checks c.Metrics and renders each metric's queries once,
// for the plan p (whose interval is the default window).
func (c Config) renderMetrics(p *resolved) ([]renderedMetric, error) {
	if len(c.Metrics) > 0 && c.Analyzer == nil {
		return nil, canary.Invalid("Config.Analyzer", nil, "must be set when Metrics are given")
	}
	if c.Analyzer != nil && c.Target.Canary == c.Target.Stable && (c.Target.Canary != Workload{}) {
		return nil, canary.Invalid("Config.Target.Canary", c.Target.Canary.Version, "names the same workload and version as Target.Stable; the two versions could not be told apart")
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
			if rm.history = rm.stable; rm.history == "" {
				if rm.history, err = render(c.Target.Stable, w); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, rm)
	}
	if err := c.checkReads("Config.Analyzer", c.Analyzer); err != nil {
		return nil, err
	}
	if c.PostPromotionAnalyzer != nil {
		switch {
		case !p.blueGreen():
			return nil, canary.Invalid("Config.PostPromotionAnalyzer", nil, "is only used with Plan.Strategy %q", StrategyBlueGreen)
		case c.Analyzer == nil:
			return nil, canary.Invalid("Config.Analyzer", nil, "must be set when PostPromotionAnalyzer is")
		}
		if err := c.checkReads("Config.PostPromotionAnalyzer", c.PostPromotionAnalyzer); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// checkReads refuses an analyzer (the field named field) that reads what
// c.Metrics cannot give it.
func (c Config) checkReads(field string, a analysis.Analyzer) error {
	reads, stable, ok := analysis.Reads(a)
	if !ok {
		return nil
	}
	// Every analyzer of package analysis says what it reads
	// ([analysis.MetricReader]); one that cannot be satisfied is
	// refused now rather than rolled back at the deadline.
	if len(reads) == 0 {
		return canary.Invalid(field, nil, "reads no metric (an empty All or Any?), so it could never pass")
	}
	byName := map[string]Metric{}
	for _, m := range c.Metrics {
		byName[m.Name] = m
	}
	for _, name := range reads {
		if name == "" {
			return canary.Invalid(field, name, "reads a metric with no name (a preset built without PresetMetrics names?)")
		}
		if _, ok := byName[name]; !ok {
			return canary.Invalid(field, name, "reads a metric that Config.Metrics does not measure")
		}
	}
	for _, name := range stable {
		if byName[name].SkipStable {
			return canary.Invalid(field, name, "compares the canary with stable on a metric whose Config.Metrics entry has SkipStable")
		}
	}
	return nil
}

func varsFor(t Target, w Workload, window time.Duration) metrics.Vars {
	return metrics.Vars{Namespace: t.Namespace, Service: t.Service, Workload: w.Name, Version: w.Version, Window: window}
}

// PresetPolicy returns the Policy an [analysis.Preset] was tuned with, so a
// rollout uses a preset as its decision-quality figures were measured:
//
//	p := analysis.DefaultPreset(analysis.PresetMetrics{ErrorRate: "error-rate"})
//	cfg.Analyzer, cfg.Policy = p.Analyzer, rollback.PresetPolicy(p)
func PresetPolicy(p analysis.Preset) Policy {
	pol := Policy{FailureLimit: p.FailureLimit, NoData: p.NoData}
	if p.Consecutive {
		pol.Counting = Consecutive
	}
	if p.NoData == analysis.FailAfterNoData {
		pol.NoDataAfter = p.NoDataAfter
	}
	return pol
}

// Splitter is what a Rollout needs of a router: the method set of
// [traffic.Router], which every mesh adapter returns. It is an interface
// here, where it is used, so that providers/fake's recording Router and a
// caller's own wrapper fit too.
type Splitter interface {
	SetSplit(ctx context.Context, s traffic.Split) error
	Split(ctx context.Context) (traffic.Split, error)
	Release(ctx context.Context) error
}

// Validate reports the first bad field of p as a *[canary.FieldError], as New
// would: a tool that writes plans down (a rollout file, a custom resource)
// can check one without building a Rollout.
func (p Plan) Validate() error {
	_, err := p.resolve()
	return err
}

// Validate reports the first bad field of p as a *[canary.FieldError], as New
// would.
func (p Policy) Validate() error {
	_, err := p.resolve()
	return err
}

// Expand returns the plan's stages as a Rollout runs them: StageWeight and
// MaxWeight expanded and every Hold filled in (the promotion to 100 % comes
// after the last). An A/B test has one stage, 100 % (its promotion);
// blue/green one of 100 % held max(PostPromotion, ScaleDownDelay) (the
// analysis after the switch). It reports a bad plan as Validate does.
func (p Plan) Expand() ([]Stage, error) {
	r, err := p.resolve()
	if err != nil {
		return nil, err
	}
	return append([]Stage(nil), r.stages...), nil
}
