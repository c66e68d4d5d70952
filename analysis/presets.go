package analysis

import "fmt"

// NoDataPolicy mirrors rollback.Policy's NoData setting, so that a preset
// can say which one it was tuned with without this package importing
// rollback.
type NoDataPolicy string

const (
	// HoldOnNoData: an inconclusive analysis neither passes nor fails
	// (rollback.Hold, the rollout's default).
	HoldOnNoData NoDataPolicy = "hold"
	// FailOnNoData: every inconclusive analysis counts as a failure
	// (rollback.FailNoData).
	FailOnNoData NoDataPolicy = "fail"
	// FailAfterNoData: NoDataAfter inconclusive analyses in a row count as
	// one failure (rollback.FailAfter).
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

// PresetMetrics names the metrics the presets read. ErrorRate is a rate
// (errors / requests) with Count the number of requests; Latency is a
// latency percentile (for example p99, in seconds) with Count the number
// of requests behind it. An empty Latency leaves latency out.
type PresetMetrics struct {
	ErrorRate string
	Latency   string
}

// DefaultPreset catches a bad canary within one or two intervals and rolls
// back a good one rarely: a sequential test of the error rate against the
// stable version's (α = 1 % over every look of the rollout, so a single
// failed analysis may roll back), and the cumulative p99 latency against
// stable's with 25 % tolerance and a 10 ms margin. Inconclusive analyses
// hold the step.
func DefaultPreset(m PresetMetrics) Preset {
	parts := []Analyzer{Sequential{Metric: m.ErrorRate, Alpha: 0.01, MinCount: 200, ConfirmAlpha: 0.001}}
	if m.Latency != "" {
		parts = append(parts, Compare{MinCount: 500, Metrics: []Relative{{Metric: m.Latency, Tolerance: 0.25, Margin: 0.010, Cumulative: true}}})
	}
	return Preset{
		Name:         "default",
		Description:  "sequential error-rate test (α 1 %) and cumulative p99 within 1.25 × stable + 10 ms; one failure rolls back; no data holds",
		Analyzer:     All(parts...),
		FailureLimit: 1,
		NoData:       HoldOnNoData,
	}
}

// StrictPreset detects smaller regressions sooner and accepts more false
// rollbacks: α = 5 %, p99 within 15 % + 5 ms, and ten inconclusive
// analyses in a row count as a failure.
func StrictPreset(m PresetMetrics) Preset {
	parts := []Analyzer{Sequential{Metric: m.ErrorRate, Alpha: 0.05, MinCount: 100}}
	if m.Latency != "" {
		parts = append(parts, Compare{MinCount: 100, Metrics: []Relative{{Metric: m.Latency, Tolerance: 0.15, Margin: 0.005, Cumulative: true}}})
	}
	return Preset{
		Name:         "strict",
		Description:  "sequential error-rate test (α 5 %) and cumulative p99 within 1.15 × stable + 5 ms; one failure rolls back; 10 inconclusive in a row count as a failure",
		Analyzer:     All(parts...),
		FailureLimit: 1,
		NoData:       FailAfterNoData,
		NoDataAfter:  10,
	}
}

// LenientPreset rolls back only on strong evidence: α = 0.1 % for a canary
// at least 20 % worse than stable, p99 within 50 % + 20 ms, two failed
// analyses in a row.
func LenientPreset(m PresetMetrics) Preset {
	parts := []Analyzer{Sequential{Metric: m.ErrorRate, Alpha: 0.001, Tolerance: 0.2, MinCount: 500}}
	if m.Latency != "" {
		parts = append(parts, Compare{MinCount: 500, Metrics: []Relative{{Metric: m.Latency, Tolerance: 0.5, Margin: 0.020, Cumulative: true}}})
	}
	return Preset{
		Name:         "lenient",
		Description:  "sequential error-rate test (α 0.1 %, 20 % tolerance) and cumulative p99 within 1.5 × stable + 20 ms; two failures in a row roll back; no data holds",
		Analyzer:     All(parts...),
		FailureLimit: 2,
		Consecutive:  true,
		NoData:       HoldOnNoData,
	}
}

// FixedThresholdPreset is the plain rule many rollouts use, kept as the
// baseline the other presets are measured against: error rate over the
// short window ≤ 2 %, five failed checks over the rollout roll back. It
// ignores the stable version and checks a fixed threshold at every look,
// so its false alarms grow with the number of looks.
func FixedThresholdPreset(m PresetMetrics) Preset {
	return Preset{
		Name:         "fixed-threshold",
		Description:  "error rate ≤ 2 % over the short window; 5 failed checks roll back (baseline)",
		Analyzer:     Threshold{Limits: []Limit{AtMost(m.ErrorRate, 0.02)}},
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
