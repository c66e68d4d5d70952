package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Outcome is the result of an analysis. The zero Outcome is Inconclusive,
// so a verdict that was never filled in can never pass.
type Outcome int

const (
	// Inconclusive: not enough evidence either way (no data, too few
	// requests). A rollout's policy decides what it means.
	Inconclusive Outcome = iota
	// Pass: the evidence says the canary is healthy.
	Pass
	// Fail: the evidence says the canary is worse than allowed.
	Fail
)

var outcomeNames = [...]string{"inconclusive", "pass", "fail"}

func (o Outcome) String() string {
	if o >= 0 && int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// MarshalText writes the outcome's name.
func (o Outcome) MarshalText() ([]byte, error) {
	if o < 0 || int(o) >= len(outcomeNames) {
		return nil, fmt.Errorf("analysis: unknown outcome %d", int(o))
	}
	return []byte(o.String()), nil
}

// UnmarshalText reads an outcome's name and refuses any other text.
func (o *Outcome) UnmarshalText(b []byte) error {
	for i, n := range outcomeNames {
		if string(b) == n {
			*o = Outcome(i)
			return nil
		}
	}
	return fmt.Errorf("analysis: unknown outcome %q", b)
}

// Measurement is one metric's value for one version over one window. The
// zero Measurement means "not observed" (Observed is false), never zero.
type Measurement struct {
	// Observed is false when the provider had no data (or was not asked).
	Observed bool `json:"observed"`
	// Value is the metric's value; meaningful only when Observed.
	Value float64 `json:"value,omitempty"`
	// Samples are the points behind Value where the provider has them.
	Samples []float64 `json:"samples,omitempty"`
	// Count is the number of events (requests) behind Value; 0 when unknown.
	Count int64 `json:"count,omitempty"`
	// Buckets, where the provider has them, are the same measurement over
	// consecutive intervals of equal length that do not overlap and
	// together make up the window, oldest first (a range query whose step
	// equals the rate window it evaluates, and the request count over each
	// step); nil otherwise. An interval without data is a zero Measurement.
	// Rates reads the buckets of Observation.Baseline to tell whether the
	// stable version's bad events come in clusters before the first
	// canary request is judged (see Rates); points of rates over
	// overlapping windows are not buckets and belong in Samples. A
	// rollback.Rollout fills the Baseline's buckets from a range query
	// when the metric's provider answers one (rollback.Metric.Baseline).
	Buckets []Measurement `json:"buckets,omitempty"`
}

// Observed returns a Measurement of value v resting on count events.
func Observed(v float64, count int64) Measurement {
	return Measurement{Observed: true, Value: v, Count: count}
}

// Observation is what was measured for one metric at one analysis.
type Observation struct {
	Metric string `json:"metric"`
	// Canary and Stable are the two versions over the short window that
	// ends at the analysis instant.
	Canary Measurement `json:"canary"`
	Stable Measurement `json:"stable"`
	// Baseline is the stable version's history over the long window that
	// ends where the short window begins (for example the previous 30 min).
	Baseline Measurement `json:"baseline"`
	// CanaryTotal and StableTotal accumulate every short window since the
	// analysis of this rollout began: Count is the sum of the windows'
	// counts and Value their count-weighted mean. Sequential tests read
	// them.
	CanaryTotal Measurement `json:"canaryTotal"`
	StableTotal Measurement `json:"stableTotal"`
}

// Input is everything an Analyzer is given.
type Input struct {
	// Time is the analysis instant.
	Time time.Time `json:"time"`
	// CanaryWeight is the canary's traffic percentage during the window.
	CanaryWeight int `json:"canaryWeight"`
	// Looks is how many analyses this rollout has made before this one.
	Looks int `json:"looks"`
	// Observations holds one entry per metric.
	Observations []Observation `json:"observations"`
	// Stage is the index of the plan's stage the window belongs to,
	// counted from 0 like rollback.State.Stage (Status.StageNumber counts
	// from 1); -1 during a zero-traffic validation. Analyzers that keep
	// evidence per stage start afresh when it changes, so that evidence
	// gathered at an earlier stage cannot carry the canary past a
	// regression at a later one.
	Stage int `json:"stage"`
	// Memory is what this analyzer returned as Verdict.Memory at the
	// previous analysis of the rollout; nil at the first. The rollout keeps
	// it in its state, so an analyzer stays a pure function of its Input.
	Memory json.RawMessage `json:"memory,omitempty"`
}

// Observation returns the observation of metric, and false when there is
// none.
func (in Input) Observation(metric string) (Observation, bool) {
	for _, o := range in.Observations {
		if o.Metric == metric {
			return o, true
		}
	}
	return Observation{}, false
}

// Detail is one metric's line in a verdict: what was measured, what it was
// held against, and why it got its outcome.
type Detail struct {
	Metric  string  `json:"metric"`
	Outcome Outcome `json:"outcome"`
	// Class is a finer classification where the analyzer has one
	// ("pass", "high", "low", "nodata").
	Class string `json:"class,omitempty"`
	// Value is the canary's value; Stable and Baseline the values it was
	// compared with, where the analyzer used them.
	Value    *float64 `json:"value,omitempty"`
	Stable   *float64 `json:"stable,omitempty"`
	Baseline *float64 `json:"baseline,omitempty"`
	// Unit is what Value and Stable are counted in, where the analyzer
	// says: Cost's line gives its currency symbol ("£"), its values being
	// per million requests.
	Unit string `json:"unit,omitempty"`
	// Bound is the limit the value was held against, as text ("<= 0.02",
	// ">= 0.99", "<= 1.1 × stable + 0.005").
	Bound string `json:"bound,omitempty"`
	// Statistic, PValue and Score are set by statistical analyzers.
	Statistic *float64 `json:"statistic,omitempty"`
	PValue    *float64 `json:"pValue,omitempty"`
	Score     *float64 `json:"score,omitempty"`
	Count     int64    `json:"count,omitempty"`
	Reason    string   `json:"reason"`
}

// Verdict is an Analyzer's answer.
type Verdict struct {
	Outcome Outcome `json:"outcome"`
	// Score is an overall score in [0, 100] for analyzers that compute one;
	// nil otherwise.
	Score   *float64 `json:"score,omitempty"`
	Details []Detail `json:"details"`
	Reason  string   `json:"reason"`
	// Leaning, on an Inconclusive verdict, says that the evidence so far
	// leans towards "no regression" without proving it: nothing failed,
	// and the latest windows do not point to a regression. A rollout
	// (rollback.AdvanceOnLeaning, its default) may raise the canary's
	// weight on it, never promote. A Pass leans too; a Fail never does.
	// Analyzers that do not weigh evidence leave it false, and a rollout
	// then advances on a Pass only.
	Leaning bool `json:"leaning,omitempty"`
	// Regressing, on an Inconclusive verdict, says that the latest
	// windows point to a regression that is not proven yet (a change
	// detector has fired). A rollout under rollback.AdvanceOnLeaning then
	// takes the canary back to its first stage's weight, where it does
	// less harm while the evidence comes in.
	Regressing bool `json:"regressing,omitempty"`
	// Evidence says, for analyzers that weigh evidence in both
	// directions, how far each metric stands from a Fail and from a Pass.
	Evidence []Evidence `json:"evidence,omitempty"`
	// Memory is the analyzer's summary of the evidence so far, handed back
	// as Input.Memory at the next analysis. It is small and bounded
	// whatever the traffic (sufficient statistics, not samples). It is not
	// part of the verdict's JSON: the rollout persists it in its state.
	Memory json.RawMessage `json:"-"`
}

// Evidence is how far one metric's evidence stands from each decision.
type Evidence struct {
	Metric string `json:"metric"`
	// Fail and Pass are the progress towards each decision, from 0 (no
	// evidence) to 1 (decided): log E / log(1/α) for the e-value E against
	// "the canary is no worse than stable" (Fail) and log E / log(1/β) for
	// the e-value against "the canary is worse beyond the tolerance"
	// (Pass), clamped to [0, 1].
	Fail float64 `json:"fail"`
	Pass float64 `json:"pass"`
	// Requests is the number of canary requests the evidence rests on.
	Requests int64 `json:"requests"`
	// More is a rough estimate of how many more canary requests a decision
	// would need at the rates seen so far: 0 once decided, -1 when no
	// estimate can be made yet.
	More int64 `json:"more"`
}

func (v Verdict) String() string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Analyzer judges the canary from what was observed. Analyzers are pure:
// the same Input gives the same Verdict, and they keep no state between
// calls. An error means the Analyzer or its Input is misconfigured (a
// *canary.FieldError); a lack of evidence is an Inconclusive verdict, not an
// error.
type Analyzer interface {
	Analyze(ctx context.Context, in Input) (Verdict, error)
}

// AnalyzerFunc adapts a function to the Analyzer interface.
type AnalyzerFunc func(ctx context.Context, in Input) (Verdict, error)

// Analyze calls f(ctx, in).
func (f AnalyzerFunc) Analyze(ctx context.Context, in Input) (Verdict, error) { return f(ctx, in) }

func ptr(v float64) *float64 { return &v }
