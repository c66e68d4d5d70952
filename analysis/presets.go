package analysis

import (
	"fmt"
	"math"
)

// NoDataPolicy mirrors rollback.Policy's NoData setting, so that a preset
// can say which one it was tuned with without this package importing
// rollback.
type NoDataPolicy string

const (
	// HoldOnNoData: an inconclusive analysis neither passes nor fails
	// (the rollout's default, rollback.Policy.NoData empty).
	HoldOnNoData NoDataPolicy = "hold"
	// FailOnNoData: every inconclusive analysis counts as a failure
	// (rollback.Policy.NoData).
	FailOnNoData NoDataPolicy = "fail"
	// FailAfterNoData: NoDataAfter inconclusive analyses in a row count as
	// one failure (rollback.Policy.NoData and NoDataAfter).
	FailAfterNoData NoDataPolicy = "fail-after"
)

// Preset is an analyzer together with the rollout policy it was tuned
// with (failure limit, counting, no-data handling); rollback.PresetPolicy
// turns it into a rollback.Policy. The decision-quality figures of every
// preset are in BENCHMARKS.md.
type Preset struct {
	Name        string
	Description string
	Analyzer    Analyzer
	// FailureLimit is how many failed analyses roll the canary back.
	FailureLimit int
	// Consecutive counts failed analyses in a row instead of over the
	// whole rollout.
	Consecutive bool
	NoData      NoDataPolicy
	NoDataAfter int
}

// PresetMetrics names the metrics the presets read. Every one is a rate
// metric: Value a share in [0, 1] of the Count requests measured over the
// analysis window, for the canary and for the stable version.
type PresetMetrics struct {
	// ErrorRate is the share of requests that failed.
	ErrorRate string
	// Slow, when set, is the share of requests slower than a latency
	// bound (for example 0.25 s, or stable's usual p99): latency judged
	// as counts, on the same footing as errors. Durations are in seconds
	// across the module.
	Slow string
	// Latency is a latency percentile in seconds; only the
	// FixedThresholdPreset baseline reads it (p99 ≤ 0.5 s).
	Latency string
	// Ratio and Margin, when set, replace the preset's tolerance: a
	// regression is at least Ratio × stable's rate and at least Margin
	// above it (see Rate). A larger Margin needs fewer requests for a Pass
	// when the stable version has almost no errors.
	Ratio, Margin float64
}

func (m PresetMetrics) rates(ratio, margin float64) []Rate {
	if m.Ratio != 0 {
		ratio = m.Ratio
	}
	if m.Margin != 0 {
		margin = m.Margin
	}
	r := []Rate{{Metric: m.ErrorRate, Ratio: ratio, Margin: margin}}
	if m.Slow != "" {
		r = append(r, Rate{Metric: m.Slow, Ratio: ratio, Margin: margin})
	}
	return r
}

// DefaultPreset decides in both directions on anytime-valid evidence
// (Rates): Fail when the canary's error rate (or slow share) is shown to be
// above stable's, with P(Fail | canary as good as stable) ≤ 1 % over the
// whole rollout (three quarters of it for the error rate when the slow
// share is judged too); Pass when it is shown not to be a regression — at
// least 2 × stable's rate and 0.5 points above it — with P(Pass |
// regression from the start) ≤ 1 % per metric, and each stage's own
// windows favouring "no regression" (Rates.StageBeta 0.9). An Inconclusive
// verdict that leans lets the rollout advance (rollback.AdvanceOnLeaning);
// a person is asked only when the evidence cannot come within the
// rollout's budget (rollback.Plan.MaxDuration). One Fail rolls back.
//
// Traffic it needs (decision-quality suite, BENCHMARKS.md: plan 10 → 50 %
// in steps of 10, 1-minute interval, stable error rate 0.1–2 %): a good
// canary is promoted in a median of 6–8 minutes at 500 requests/s, 8–21
// minutes at 50 requests/s and 44–141 minutes at 5 requests/s (after an
// incident on both versions at 0.1 % errors, 96 of 100 are promoted
// within 4 hours); a clear regression of 5 × or +5 points is rolled
// back in 2 minutes from 50 requests/s up (no single window decides) and
// 3–13 minutes at 5 requests/s (48 at 0.1 % errors). At 0.5 requests/s
// nothing but a large regression is decided in 4 hours and the rollout
// asks a person. When stable has no errors at all, a Pass needs about
// 6.5 / Margin canary requests at the first stage (1,300 for the default
// Margin).
func DefaultPreset(m PresetMetrics) Preset {
	return Preset{
		Name:         "default",
		Description:  "anytime-valid evidence both ways (α = β = 1 %), regression = 2 × stable and +0.5 points; one Fail rolls back; inconclusive holds",
		Analyzer:     Rates{Metrics: m.rates(2, 0.005)},
		FailureLimit: 1,
		NoData:       HoldOnNoData,
	}
}

// StrictPreset declares smaller regressions (1.5 × stable and +0.25
// points) and accepts more false rollbacks (α = 5 %): it needs roughly
// twice the traffic DefaultPreset needs for a Pass (in the suite it
// promotes about 55 % of the good canaries within 4 hours where
// DefaultPreset promotes about 73 %), and rolls back about 1 % of good
// canaries.
func StrictPreset(m PresetMetrics) Preset {
	return Preset{
		Name:         "strict",
		Description:  "anytime-valid evidence both ways (α = 5 %, β = 1 %), regression = 1.5 × stable and +0.25 points; one Fail rolls back",
		Analyzer:     Rates{Metrics: m.rates(1.5, 0.0025), Alpha: 0.05},
		FailureLimit: 1,
		NoData:       HoldOnNoData,
	}
}

// LenientPreset tolerates more (a regression is 3 × stable and +1 point)
// and rolls back only on strong evidence (α = 0.1 %, β = 5 %, and each
// stage's own evidence at β^⅓, so that a regression that starts with three
// stages to go is promoted with probability at most β): it promotes with
// about half the traffic DefaultPreset needs. Its figures are in
// BENCHMARKS.md.
func LenientPreset(m PresetMetrics) Preset {
	return Preset{
		Name:         "lenient",
		Description:  "anytime-valid evidence both ways (α = 0.1 %, β = 5 %), regression = 3 × stable and +1 point; one Fail rolls back",
		Analyzer:     Rates{Metrics: m.rates(3, 0.01), Alpha: 0.001, Beta: 0.05, StageBeta: math.Cbrt(0.05)},
		FailureLimit: 1,
		NoData:       HoldOnNoData,
	}
}

// FixedThresholdPreset is the plain rule many rollouts use, kept as the
// baseline the other presets are measured against: error rate over the
// short window ≤ 2 % (and, when named, slow share ≤ 5 % and p99 ≤ 0.5 s),
// five failed checks over the rollout roll back. It ignores the stable
// version and checks a fixed threshold at every look, so its false alarms
// grow with the number of looks, and it passes a stage on any window that
// happens to look fine.
func FixedThresholdPreset(m PresetMetrics) Preset {
	limits := []Limit{AtMost(m.ErrorRate, 0.02)}
	if m.Slow != "" {
		limits = append(limits, AtMost(m.Slow, 0.05))
	}
	if m.Latency != "" {
		limits = append(limits, AtMost(m.Latency, 0.5))
	}
	return Preset{
		Name:         "fixed-threshold",
		Description:  "error rate ≤ 2 % over the short window; 5 failed checks roll back (baseline)",
		Analyzer:     Threshold{Limits: limits},
		FailureLimit: 5,
		NoData:       HoldOnNoData,
	}
}

// Presets returns the shipped presets, DefaultPreset first, then the
// baseline rule last.
func Presets(m PresetMetrics) []Preset {
	return []Preset{DefaultPreset(m), StrictPreset(m), LenientPreset(m), FixedThresholdPreset(m)}
}

func (p Preset) String() string {
	return fmt.Sprintf("%s: %s", p.Name, p.Description)
}
