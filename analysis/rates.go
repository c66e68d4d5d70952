package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/stats"
)

// Rate is one rate metric judged by Rates: a count of bad events over the
// requests behind them (errors per request, or the share of requests
// slower than a latency bound), measured for both versions over the same
// window. Measurement.Value is the rate in [0, 1] and Measurement.Count the
// number of requests.
//
// A regression is a canary rate at least Ratio × stable's AND at least
// Margin above it: with the defaults, twice stable's rate and 0.5 points
// more. Pass means evidence that the canary is not such a regression; Fail
// means evidence that its rate is above stable's.
type Rate struct {
	Metric string `json:"metric"`
	// Ratio is the relative part of the tolerance: a regression is at
	// least Ratio × the stable version's rate. Zero means 2; otherwise it
	// must be above 1.
	Ratio float64 `json:"ratio,omitempty"`
	// Margin is the absolute part, in rate units: a regression is also at
	// least Margin above the stable version's rate. Zero means 0.005
	// (0.5 points); otherwise it must be in (0, 1).
	Margin float64 `json:"margin,omitempty"`
	// Limit, when positive, adds the absolute guard of the rule "error
	// rate ≤ Limit, or no worse than the service's recent history": the
	// canary also fails when the evidence (an e-process over its own
	// counts, never a point estimate) shows its rate above both Limit and
	// the upper confidence bound of Observation.Baseline, when a baseline
	// was measured. It cannot tell a platform incident from a bad canary,
	// so it is off unless set. Must be in [0, 1).
	Limit float64 `json:"limit,omitempty"`
}

// Rates judges rate metrics in both directions with anytime-valid
// evidence, comparing the canary with the stable version within each
// analysis window so that what hits both versions at once cancels. The
// package documentation ("Evidence in both directions") says what its
// verdicts mean and the bounds on their errors; what follows is how.
//
// Of the three bounds the package documentation states, the first two are
// proven under the model below. The third is weak with
// the default StageBeta = 0.9 (0.73 with three steps to go): each step's
// own windows need only favour "no regression", which costs a good canary
// about one window a step instead of the several that StageBeta = β^(1/3)
// (≤ β with three steps to go; LenientPreset keeps it) costs. What
// protects against a canary that turns bad at a later step in practice is
// the regression detector and the Fail e-detector described below: in the
// decision-quality suite no clear regression was promoted, canaries that
// turn bad late included (BENCHMARKS.md gives the counts). This is
// measured, not proven.
//
// The evidence is built from the conditional binomial of each window
// (x of the t = x + y bad events of both versions falling on the canary's
// n requests against stable's m: a shared shock cancels) and e-processes
// on it; [stats] documents both, with their references, and the pieces
// used below ([stats.ConditionalLogLR], [stats.CUSUM], [stats.EDetector],
// [stats.LogMix], [stats.Dispersion]).
//
//   - Fail multiplies LR(ρ₁ : 1) with ρ₁ a lower confidence bound of the
//     ratio estimated from earlier windows, never below the regression
//     ratio ρ_bad (Robbins' predictable plug-in): valid against ρ ≤ 1.
//     The plug-in (weight ½) is mixed with products against the fixed
//     ratios 3, 6, 12 and 30 (each raised to ρ_bad when below it; weight
//     ⅛ each), so that a large regression seen in few events is found
//     before the plug-in's lower bound has grown. Each of these is kept
//     since the start (weight 0.9) and, with the regression ratio for the
//     plug-in, as an e-detector over start windows (weight 0.1; below) so
//     that a regression that starts late (the CUSUM problem of Page 1954
//     and Lorden 1971) is not buried under the evidence of the good
//     windows before it. α is shared among the metrics and their guards
//     (Bonferroni, weighted: the first metric, the error rate in the
//     presets, gets three quarters when there are others; a weighted
//     split keeps the sum of the levels at α).
//   - Pass multiplies LR(1 : ρ_bad): valid against ρ ≥ ρ_bad.
//     ρ_bad = max(Ratio, 1 + Margin / p̄) with p̄ an upper confidence bound
//     of stable's rate from earlier windows, so the boundary tested is
//     below the true one but by a small chance. When stable has almost no
//     bad events the ratio carries no information; a regression is then at
//     least Margin in absolute terms, so a second product counts the
//     binomial LR of the canary's own x of n at a rate q₁ like stable's
//     against Margin. The Pass e-process is the mean of the two with
//     weights 0.8 and 0.2 (a mean of e-processes is one): the relative
//     test is immune to incidents on both versions, the absolute one is
//     not but decides when stable has no errors at all. So the absolute
//     test sits out a window in which stable's count of bad events is more
//     than three standard deviations (plus 3) above what its rate over the
//     windows the test used predicts — an incident on both versions —
//     where a 10 % failure rate for three minutes cost it more evidence
//     than hours of clean windows bring back. At low counts that rule's
//     "plus 3" lets an incident through (a stable version expecting 0.03
//     bad events a window shows 2 or 3), so the absolute test also sits out
//     a window whose stable count has an upper Poisson tail below 1 % at
//     stable's usual rate (its history and the windows without a shock),
//     and the window after one (rateState.stableLoud). Whether it bets
//     depends only on stable's counts, which given the window's rates are
//     independent of the canary's, so every product stays valid against
//     "regression".
//   - A Pass needs the product since the start ≥ 1/β AND, over the
//     current step's windows, the same mixture with the relative test
//     taken at LR(√ρ_bad : ρ_bad) ≥ 1/StageBeta (also valid against
//     ρ ≥ ρ_bad; an alternative nearer the boundary makes a good canary's
//     first window at a step favour it more often): earlier steps alone
//     cannot carry the canary past a regression that starts at a later
//     one. The step's own mixture starts with the step, so its weights may
//     depend on the windows before it: when stable's rate is near or above
//     the margin, where the absolute test can only drift away from a Pass,
//     the step's Pass is the relative test alone (its 0.8 weight would
//     otherwise lift the bar of each step from 0.105 to 0.33 nats). That
//     rate is judged on the history and the windows without a shock, so a
//     step that begins during an incident keeps the absolute test.
//   - The step's own requirement is kept, for the rest of the step, once
//     met, and the whole-rollout one for the rest of the rollout (Ville's
//     inequality bounds the probability that an e-process EVER crosses
//     its threshold, so stopping at the first crossing — as Wald's SPRT
//     does — costs nothing of the guarantees above). What keeps a latched
//     proof from carrying a canary that turned bad afterwards is the
//     regression detector below: while it has fired there is no Pass.
//   - The regression detector (issue 18; Page 1954): the CUSUM
//     W = max(0, W + log LR(ρ_bad : 1)) of the conditional binomial over
//     the windows, the largest log likelihood ratio of the regression
//     against a canary like stable over any run of latest windows. While
//     W ≥ log 20 the latest evidence points to a regression: no Pass, no
//     leaning, and the verdict says Regressing. (At log 4 one stray error
//     at a 0.1 % error rate fired it.) Under a canary no worse than stable
//     W drifts down, and P(W ≥ h) ≤ e^−h at any look.
//   - The Fail e-process's second part is an e-detector (Shin, Ramdas and
//     Rinaldo, "E-detectors", 2023): a mixture over start windows j of the
//     products of the windows from j on, with weights 1/((j+1)(j+2)), which
//     sum to 1, so it is itself an e-process and keeps the α bound, while
//     a regression that starts late is judged on the windows since it
//     started, not buried under the good ones before. Its recursion is
//     M_k = LR_k (M_{k−1} + w_k), in log space.
//   - Incidents that add errors. An incident on both versions often adds
//     errors to both (10 % more of every request failing) rather than
//     multiplying their rates; while it lasts any canary's ratio looks
//     like 1, and a regression's windows would favour "no regression". So
//     the relative Pass test, like the absolute one, sits out the window
//     after one in which stable showed a shock: whether it bets then
//     depends on earlier windows only, so it stays an e-process. (In the
//     decision-quality suite's regressions during an incident, 14 % of the
//     clear ones were promoted without it, 2 % with it.)
//   - Leaning: nothing failed, the detector is quiet, and either the
//     Pass e-process since the start is at least 1 (the evidence so far
//     favours "no regression" over the regression) or the Fail
//     e-process is below 1 (it does not favour a canary worse than
//     stable): issue 18's two examples. A canary at the regression's
//     boundary, which the detector finds slowly, is thereby held at its
//     weight once its Fail evidence passes 1. (The Pass e-process alone
//     held good canaries whose stray errors came early: in the
//     decision-quality suite one of the 2,684 good canaries the oracle
//     promotes within an hour was paused for a person; with either, none
//     was, and no clear regression was promoted.)
//
// What a rollout does with these (rollback.AdvanceOnLeaning, the
// default): it advances a stage on leaning evidence, promotes on a Pass
// at the last stage, and goes back to the first stage's weight on
// Regressing. In the decision-quality suite (BENCHMARKS.md) no clear
// regression was promoted, the canary that turns bad at minute 4 (at
// 40–50 %) included, and issue 19's canary that turns 3 % bad in the last
// stage (lenient preset) is never promoted by any preset (rollback's
// TestLateRegressionInTheLastStageIsNotPromoted). This is measured, not
// proven: the proven bounds are those above.
//
// Prior knowledge. When the rollout measures the stable version's history
// (Observation.Baseline, for example the previous 30 minutes), the first
// window's counts of it set the scale of the alternatives (the stable
// rate's upper confidence bound in ρ_bad, the absolute test's
// alternative) before the rollout has measured stable's rate itself, and
// when it shows stable's errors near or above the margin, where the
// absolute test can only drift away from a Pass, the whole rollout's Pass
// e-process is the relative test alone (weights 1 and 0, fixed before any
// canary request is judged; at 0.5 requests/s and 1 % errors the 0.2
// weight cost about a quarter of an hour). Later, ρ_bad's scale comes
// from the history and from stable's windows that showed no shock: an
// incident's errors say nothing of stable's usual rate, and counting them
// lowered ρ_bad for the rest of the rollout. The history is known before
// every window it is used for and says nothing about the canary, so every
// e-process stays valid whatever it says (a stale history costs power,
// never the guarantee); without one the behaviour is as before. When the
// history comes per bucket (Observation.Baseline.Buckets: stable's counts
// per analysis window, from the range query a rollback.Rollout asks a
// metric's provider for behind its Metric.Baseline when the provider
// answers range queries with counts), its dispersion over them says
// whether stable's bad events come in clusters before the first canary
// request is judged; showing none, it lets one window's Fail evidence
// decide from the first window (see Overdispersion). A history as one
// count cannot say, and the rollout's own windows must, as before.
//
// Overdispersion. Beyond what conditioning removes (for example errors in
// clusters from one client), the windows' Pearson residuals around the
// prediction from earlier windows (with the prediction's own variance) are
// summed; when the sum is well above its χ² mean, each window's log LR is
// divided by the measured dispersion φ (quasi-likelihood). A power
// 1/φ ≤ 1 of an e-value is still an e-value (Jensen), so this never breaks
// the guarantee under the model. The dispersion is measured only once
// earlier windows hold five bad events of each version (before that there
// is no prediction, and a real regression in the first window would read
// as overdispersion and slow its own rollback). And no window may add
// more than half of what its e-process needs to decide on its weight in
// the mixture (min(LR, C) of an e-value is an e-value), so no single
// window decides; two can. The Fail e-processes drop that cap once the
// stable version's dispersion has been measured on three buckets and
// shows no clustering (nor the conditional model's), or the stable
// version's history per bucket before the rollout has shown none over
// three (rateState.unclustered): then one window may
// decide, and a canary that turns bad at 50 requests/s after a few
// minutes is rolled back as soon as by the suite's oracle (stable 1 %:
// median 11 → 5 minutes, 178 → 100 canary errors served). The cap is
// chosen from earlier windows only (predictable), and min(LR, C) is an
// e-value for any such C, infinite included, so the Fail e-processes stay
// e-processes and Ville's inequality bounds a good canary's rollback by α
// as before. (Letting a window decide alone when its evidence reaches
// 1/α² from the first window would roll back at 500 requests/s in one minute
// instead of two — the target is met either way — but failed 22
// of 100 good canaries with clustered errors, against 7.) Both are approximate defences, not a guarantee: with
// errors in clusters of 20 within each version, 9 % of good canaries were
// failed at α = 1 % (10 % before h18speed; 9 % with the cap never dropped, 39 % without any
// cap; TestRatesOverdispersion), most of them in the first windows,
// before the dispersion could be measured. The absolute test,
// which does not condition, is tempered by the stable version's own
// dispersion over time, measured over the windows it used (an incident it
// sat out would otherwise inflate the dispersion, capped at 100, for
// hours).
//
// Memory and stages. The evidence is a handful of sufficient statistics
// per metric kept in Verdict.Memory (under 1 KB a metric, whatever the
// traffic); the rollout hands it back as Input.Memory and says which stage
// the window belongs to (Input.Stage). All, Any and Scorecard keep their
// parts' memories. Verdict.Evidence says, per metric, the progress towards
// each decision and a rough number of further canary requests needed
// (More), which the rollout shows when it asks a person at the progress
// deadline.
//
// Assumptions. Windows do not overlap (the metric window is the analysis
// interval, the rollout's default); within a window, bad events of the
// two versions follow rates whose ratio is the canary's (shared shocks
// allowed); the Margin part of the tolerance is judged against the stable
// rate estimated from earlier windows. Latency is judged the same way as
// the share of requests slower than a bound, in seconds.
//
// The guard. Rate.Limit adds the rule "rate ≤ Limit, or no worse than the
// service's recent history" (Observation.Baseline) as an e-process over
// the canary's own counts against max(Limit, the baseline's upper bound):
// a Fail needs evidence, never a point estimate from a few requests. It
// cannot tell an incident from a bad canary, so it is off by default.
//
// Bad input. A window whose counts are negative, whose rate is NaN,
// infinite or outside [0, 1] (more bad events than requests), or that was
// not observed, is not used: the metric stays Inconclusive with the
// reason. Every statistic is kept in log space; the verdict's numbers are
// finite. A memory that cannot be read, or that belongs to other metrics,
// is not trusted: the evidence starts afresh and the reason says so.
//
// The traffic a decision needs, and how the presets compare with the
// fixed-threshold rule and with the oracle (Wald's SPRT knowing the true
// rates), is measured by the decision-quality suite in internal/quality
// and written in BENCHMARKS.md.
//
// It keeps its evidence between analyses in Verdict.Memory (a few numbers
// per metric) and reads Input.Stage: Pass at a stage needs evidence from that
// stage's own windows, so that a canary that turns bad at a later stage is
// not carried to promotion by what it showed earlier. The metric's window
// must be the analysis interval (the rollout's default), so that no request
// is counted twice.
//
// The zero Rates has no metrics and is refused.
type Rates struct {
	Metrics []Rate `json:"metrics"`
	// Alpha bounds the probability that a canary whose every rate is no
	// higher than stable's is ever failed, over all the analyses of the
	// rollout. It is shared among the metrics and their guards: the first
	// metric (the error rate in the presets) gets three quarters of it when
	// there are others, the rest is shared equally. Zero means 0.01.
	Alpha float64 `json:"alpha,omitempty"`
	// Beta bounds, for each metric, the probability that a canary that is a
	// regression on it from the start is ever passed. Zero means 0.01.
	Beta float64 `json:"beta,omitempty"`
	// StageBeta is the level of the evidence a Pass needs from the current
	// stage's own windows (their likelihood ratio of a ratio between 1 and
	// the regression against the regression must reach 1/StageBeta): a
	// regression that starts at a later stage must pass each remaining
	// stage at this level, so one that starts with j stages to go is
	// promoted with probability at most StageBeta^j by this requirement
	// alone. Zero means 0.9: each stage's own windows must favour "no
	// regression", which costs a good canary about one window a stage; the
	// proven bound is then weak (0.73 with three stages to go) and the
	// protection in practice comes from the regression detector and the
	// Fail e-detector (see the type documentation; in the suite no
	// clear regression was promoted, those that turn bad late included).
	// Set it to
	// Beta^(1/3) for a bound of Beta with three stages to go, at about
	// 1.5 × the minutes to promote at 50 requests/s. 1 turns the stage
	// requirement off.
	StageBeta float64 `json:"stepBeta,omitempty"`
}

// Validate reports the first bad field of r.
func (r Rates) Validate() error {
	if len(r.Metrics) == 0 {
		return canary.Invalid("Rates.Metrics", nil, "must have at least one metric")
	}
	switch {
	case r.Alpha != 0 && !(r.Alpha > 0 && r.Alpha < 1):
		return canary.Invalid("Rates.Alpha", r.Alpha, "must be between 0 and 1 (exclusive)")
	case r.Beta != 0 && !(r.Beta > 0 && r.Beta < 1):
		return canary.Invalid("Rates.Beta", r.Beta, "must be between 0 and 1 (exclusive)")
	case r.StageBeta != 0 && !(r.StageBeta > 0 && r.StageBeta <= 1):
		return canary.Invalid("Rates.StageBeta", r.StageBeta, "must be in (0, 1]")
	}
	seen := map[string]bool{}
	for i, m := range r.Metrics {
		f := fmt.Sprintf("Rates.Metrics[%d]", i)
		switch {
		case m.Metric == "":
			return canary.Invalid(f+".Metric", m.Metric, "must not be empty")
		case seen[m.Metric]:
			return canary.Invalid(f+".Metric", m.Metric, "is judged twice")
		}
		if err := validateTolerance(f, m.Ratio, m.Margin); err != nil {
			return err
		}
		if !(m.Limit >= 0 && m.Limit < 1) {
			return canary.Invalid(f+".Limit", m.Limit, "must be in [0, 1)")
		}
		seen[m.Metric] = true
	}
	return nil
}

const (
	// failWhole is the weight of the whole-rollout Fail e-process; the
	// rest is shared among the e-processes that start at each step.
	failWhole = 0.9
	// stepGamma: the step's own Pass evidence tests the alternative
	// ρ_bad^stepGamma against ρ_bad (see update).
	stepGamma = 0.5
	// errorShare is the first metric's share of α when there are others.
	errorShare = 0.75
	// dispersionEvents: the conditional model's dispersion is measured
	// once earlier windows hold this many bad events of each version.
	dispersionEvents = 5
	// failPlugIn is the plug-in Fail e-process's weight in the mixture
	// with the grid.
	failPlugIn = 0.5
	maxRatio   = 1000
	// defaultStageBeta is StageBeta's default.
	defaultStageBeta = 0.9
	// memoryVersion is the format of Rates' memory.
	memoryVersion = 3
	// detectAt is the level of the regression detector (see
	// rateState.Det): the latest windows point to a regression when their
	// likelihood ratio of the regression against a canary like stable
	// exceeds e^detectAt = 20 (at 4, one stray canary error at a low
	// error rate fired it, and the canary went back and stayed at the first
	// stage: a good canary at 5 requests/s was paused for a person).
	detectAt = 2.995732273553991 // log 20
)

func (r Rates) levels() (alpha, beta, stageBeta float64) {
	alpha, beta, stageBeta = r.Alpha, r.Beta, r.StageBeta
	if alpha == 0 {
		alpha = 0.01
	}
	if beta == 0 {
		beta = 0.01
	}
	if stageBeta == 0 {
		stageBeta = defaultStageBeta
	}
	return alpha, beta, stageBeta
}

func (m Rate) tolerance() (ratio, margin float64) {
	ratio, margin = m.Ratio, m.Margin
	if ratio == 0 {
		ratio = 2
	}
	if margin == 0 {
		margin = 0.005
	}
	return ratio, margin
}

// levels are the log thresholds of the Fail and the Pass e-processes.
type levels struct{ fail, pass, step, guard float64 }

// alphaWeights returns each metric's share of α (before normalizing) and
// their total, guards included (weight 1 each): the first metric — the
// error rate in the presets — gets errorShare of the metrics' weight when
// there are others.
func (r Rates) alphaWeights() ([]float64, float64) {
	w := make([]float64, len(r.Metrics))
	total := 0.0
	for i, m := range r.Metrics {
		w[i] = 1
		if i == 0 && len(r.Metrics) > 1 {
			w[i] = errorShare * float64(len(r.Metrics)-1) / (1 - errorShare)
		}
		total += w[i]
		if m.Limit > 0 {
			total++
		}
	}
	return w, total
}

// rateState is one metric's evidence between analyses: sufficient
// statistics, a fixed number of them whatever the traffic. Log e-values
// are in nats.
type rateState struct {
	Metric string `json:"metric"`
	// Step is the stage (Input.Stage) the stage-local evidence belongs to;
	// Steps how many distinct stages were seen before it. The JSON keys stay
	// "step" and "steps": a saved rollout's memory must still decode.
	Step  int `json:"step"`
	Steps int `json:"steps"`
	// N, X: the canary's requests and bad events; M, Y: the stable
	// version's; StepN the canary's requests at this step.
	N     float64 `json:"n"`
	X     float64 `json:"x"`
	M     float64 `json:"m"`
	Y     float64 `json:"y"`
	StepN float64 `json:"stepN"`
	// StepX, StepM, StepY: the step's canary bad events and stable
	// requests and bad events.
	StepX float64 `json:"stepX"`
	StepM float64 `json:"stepM"`
	StepY float64 `json:"stepY"`
	// Pass and PassStep: log e-values against "regression" of the
	// relative and the absolute test, since the start and over this step.
	Pass     [2]float64 `json:"pass"`
	PassStep [2]float64 `json:"passStep"`
	// Fail and FailStep: log e-values against "no worse than stable",
	// since the start and since this step began.
	Fail     float64 `json:"fail"`
	FailStep float64 `json:"failStep"`
	// FailGrid and FailGridStep: the same against the fixed alternatives
	// of failGrid, since the start and since this step began.
	FailGrid     [len(failGrid)]float64 `json:"failGrid"`
	FailGridStep [len(failGrid)]float64 `json:"failGridStep"`
	// Passed and StepPassed latch the two Pass requirements: this step's
	// own Pass e-process has crossed 1/StageBeta at some look of this step,
	// and, at the first step only, the whole-rollout one has crossed 1/β
	// at some look. Ville's inequality bounds the chance that an e-process
	// EVER crosses its threshold, so keeping a crossing once it happened
	// costs nothing of the guarantee (Wald's SPRT stops there too), and a
	// metric that passed need not wait, its random walk drifting back
	// under the line, until the others pass at the same look. At later
	// steps the whole-rollout evidence is mostly carried from earlier
	// steps, so it is not latched there: it must still stand at the look
	// that passes, and a canary that turns bad at a later step loses it.
	// (Latching it at every step let a canary that turned 5 × bad, within
	// the tolerance, at 30 % be promoted in 21 of 100 runs at 5 requests/s
	// instead of 15.) Both are cleared when a step begins.
	Passed     bool `json:"passed,omitempty"`
	StepPassed bool `json:"stepPassed,omitempty"`
	// LastM, LastY: the stable version's requests and bad events in the
	// last window without a shock (see absoluteUsable).
	LastM float64 `json:"lastM,omitempty"`
	LastY float64 `json:"lastY,omitempty"`
	// AbsM, AbsY: the stable version's requests and bad events over the
	// windows the absolute test used (see update).
	AbsM float64 `json:"absM,omitempty"`
	AbsY float64 `json:"absY,omitempty"`
	// StepRelOnly: this step's own Pass e-process is the relative test
	// alone (chosen when the step began, see absoluteHopeless).
	StepRelOnly bool `json:"stepRelOnly,omitempty"`
	// RelOnly: the whole rollout's Pass e-process is the relative test
	// alone, chosen from the stable version's history before any canary
	// request was judged (see update).
	RelOnly bool `json:"relOnly,omitempty"`
	// Guard: log e-value against "within Limit or the baseline".
	Guard float64 `json:"guard,omitempty"`
	// Loud: the stable version's count in the last window used was
	// improbable at its usual rate (see stableLoud); the absolute Pass
	// test sits out the next one too.
	Loud bool `json:"loud,omitempty"`
	// Shock: the last window used showed a shock on the stable version
	// (see absoluteUsable); the relative Pass test sits out the next one.
	Shock bool `json:"shock,omitempty"`
	// Det is the regression detector: Page's CUSUM of the log likelihood
	// ratio of the regression ratio against 1 over the windows (the
	// largest log LR of any run of latest windows, at least 0). Above
	// detectAt the latest evidence points to a regression: no Pass and no
	// leaning, whatever the earlier windows showed.
	Det float64 `json:"det,omitempty"`
	// K counts the windows with bad events (the conditional test's
	// informative windows): the index of the Fail detector's start times.
	K float64 `json:"k,omitempty"`
	// BaseM, BaseY: the stable version's history before the first window
	// (Observation.Baseline), which sets the scale of the alternatives
	// before the rollout has measured stable's rate itself.
	BaseM float64 `json:"baseM,omitempty"`
	BaseY float64 `json:"baseY,omitempty"`
	// HS, HK: the Pearson statistic of the stable version's history over
	// its buckets (Observation.Baseline.Buckets), read with BaseM and
	// BaseY, and the number of buckets it sums (see historyDispersion).
	HS float64 `json:"hs,omitempty"`
	HK float64 `json:"hk,omitempty"`
	// Dispersion: Pearson statistics of the conditional (D) and the
	// stable-only (S) models, bucketed: sums of squared standardized
	// residuals, number of buckets, and the open bucket.
	D, DK, DR, DV float64
	S, SK, SR, SV float64
}

type ratesMemory struct {
	V       int         `json:"v"`
	Metrics []rateState `json:"metrics"`
}

// Analyze judges in and returns the verdict with its evidence and memory.
func (r Rates) Analyze(ctx context.Context, in Input) (Verdict, error) {
	if err := r.Validate(); err != nil {
		return Verdict{}, err
	}
	alpha, beta, stageBeta := r.levels()
	weights, total := r.alphaWeights()
	guardAt := math.Log(total / alpha)
	passAt, stepAt := math.Log(1/beta), math.Log(1/stageBeta)

	mem, memWhy := decodeRatesMemory(in.Memory, r.Metrics)
	v := Verdict{Details: make([]Detail, 0, len(r.Metrics)), Evidence: make([]Evidence, 0, len(r.Metrics))}
	leaning, regressing := true, false
	for i, m := range r.Metrics {
		st := &mem.Metrics[i]
		failAt := math.Log(total / (alpha * weights[i]))
		why := st.update(m, in, levels{fail: failAt, pass: passAt, guard: guardAt})
		d, ev, leans := st.judge(m, levels{fail: failAt, pass: passAt, step: stepAt, guard: guardAt})
		leaning = leaning && leans
		regressing = regressing || st.Det >= detectAt
		if why != "" {
			d.Reason = why + "; " + d.Reason
		}
		v.Details = append(v.Details, d)
		v.Evidence = append(v.Evidence, ev)
	}
	summarize(&v, "rate metrics")
	v.Leaning = v.Outcome == Inconclusive && leaning
	v.Regressing = v.Outcome == Inconclusive && regressing
	if memWhy != "" {
		v.Reason = memWhy + "; " + v.Reason
	}
	reasons := make([]string, len(v.Details))
	for i, d := range v.Details {
		reasons[i] = d.Metric + ": " + d.Reason
	}
	v.Reason += " (" + strings.Join(reasons, "; ") + ")"
	b, err := json.Marshal(mem)
	if err != nil {
		return Verdict{}, fmt.Errorf("analysis: Rates memory: %w", err)
	}
	v.Memory = b
	return v, nil
}

// decodeRatesMemory reads the memory for metrics, starting afresh (and
// saying why) when it is missing, malformed or for other metrics.
func decodeRatesMemory(b json.RawMessage, metrics []Rate) (ratesMemory, string) {
	fresh := ratesMemory{V: memoryVersion, Metrics: make([]rateState, len(metrics))}
	for i, m := range metrics {
		fresh.Metrics[i] = rateState{Metric: m.Metric, Step: math.MinInt32}
	}
	if len(b) == 0 || string(b) == "null" {
		return fresh, ""
	}
	var mem ratesMemory
	if err := json.Unmarshal(b, &mem); err != nil || mem.V != memoryVersion || len(mem.Metrics) != len(metrics) {
		return fresh, "evidence memory unreadable, starting afresh"
	}
	for i, m := range metrics {
		if mem.Metrics[i].Metric != m.Metric || !mem.Metrics[i].sane() {
			return fresh, "evidence memory does not fit these metrics, starting afresh"
		}
	}
	return mem, ""
}

// sane reports whether every number of s is finite and every count ≥ 0.
func (s *rateState) sane() bool {
	for _, v := range []float64{s.N, s.X, s.M, s.Y, s.StepN, s.StepX, s.StepM, s.StepY, s.LastM, s.LastY, s.D, s.DK, s.DV, s.S, s.SK, s.SV, s.Det, s.K, s.BaseM, s.BaseY, s.HS, s.HK} {
		if !finite(v) || v < 0 {
			return false
		}
	}
	vals := []float64{s.Pass[0], s.Pass[1], s.PassStep[0], s.PassStep[1], s.Fail, s.FailStep, s.Guard, s.DR, s.SR}
	vals = append(append(vals, s.FailGrid[:]...), s.FailGridStep[:]...)
	for _, v := range vals {
		if !finite(v) {
			return false
		}
	}
	return s.X <= s.N && s.Y <= s.M && s.BaseY <= s.BaseM && s.Steps >= 0
}

// countsOf checks a measurement of a rate and returns its requests and bad
// events, or why it cannot be used.
func countsOf(m Measurement) (n, x float64, why string) {
	switch {
	case !m.Observed:
		return 0, 0, "no data"
	case !finite(m.Value):
		return 0, 0, fmt.Sprintf("value %v is not a number", m.Value)
	case m.Count < 0:
		return 0, 0, fmt.Sprintf("negative request count %d", m.Count)
	case m.Value < 0 || m.Value > 1:
		return 0, 0, fmt.Sprintf("rate %v is outside [0, 1] (more bad events than requests?)", m.Value)
	}
	n = float64(m.Count)
	return n, m.Value * n, ""
}

// rhoBad is the regression ratio for the next window: max(Ratio, 1 +
// Margin / p̄), with p̄ an upper confidence bound of the stable rate from
// earlier windows only (predictable), so that the boundary used is never
// above the true one but by a small chance.
func (s *rateState) rhoBad(ratio, margin float64) float64 {
	ucb := s.stableUCB()
	return math.Min(maxRatio, math.Max(ratio, 1+margin/ucb))
}

func (s *rateState) stableUCB() float64 {
	y, m := s.stableCounts()
	p := (y + 0.5) / (m + 1)
	return math.Min(1, p+3*math.Sqrt(p*(1-p)/(m+1))+3/(m+1))
}

// stableCounts are the stable version's requests and bad events that set
// the scale of the alternatives: the windows so far that showed no shock
// (those the absolute test used, see absoluteUsable), plus its history
// before the rollout (Observation.Baseline) when one was measured. They
// are known before the window they are used for, so the tests stay valid
// whatever the history says (a stale history costs power, never the
// guarantee). A platform incident's windows are left out: the errors it
// adds to both versions for a few minutes would otherwise raise stable's
// estimated rate for the rest of the rollout, lower the regression ratio
// 1 + Margin / rate the relative tests are set at, and slow every later
// decision (at 50 requests/s and 0.1 % errors a good canary through a
// 3-minute incident took a median 14 minutes to promote, the oracle 8;
// now 10).
func (s *rateState) stableCounts() (y, m float64) { return s.AbsY + s.BaseY, s.AbsM + s.BaseM }

// capped caps what one window adds to an e-process at a little over half
// the log threshold it is held to (plus 0.25, what the mixtures' weights
// cost: 0.11 for Fail's 0.9, 0.22 for Pass's 0.8): min(LR, C) of an
// e-value is an e-value, and a single window — one burst of clustered
// errors before any dispersion could be measured — can then never decide
// alone; two can. (The Fail e-processes drop their cap once the
// dispersion has been measured and shows no clustering: see
// rateState.unclustered.) (Letting a window decide alone when its evidence
// reaches 2 × the threshold would roll back at 500 requests/s in one
// minute instead of two, but failed 22 of 100 good canaries with errors
// in clusters of 20 in TestRatesOverdispersion, against 7 then.)
func capped(l, at float64) float64 { return math.Min(l, at/2+0.25) }

// plugIn is the Fail alternative for the next window: a lower confidence
// bound (1.5 standard errors on the log scale) of the rate ratio estimated
// from the earlier windows x/n against y/m, never below the regression
// ratio rb. An alternative above the true ratio loses power quickly, one
// below it slowly, hence the lower bound.
func plugIn(rb, x, n, y, m float64) float64 {
	if x < 1 || y < 1 || n <= 0 || m <= 0 {
		return rb
	}
	lcb := math.Log((x/n)/(y/m)) - 1.5*math.Sqrt(1/x+1/y)
	return math.Min(maxRatio, math.Max(rb, math.Exp(lcb)))
}

// update adds in's window for metric m; it returns why the window was
// not used ("" when it was).
func (s *rateState) update(m Rate, in Input, lv levels) string {
	if s.Step != in.Stage {
		if s.Step != math.MinInt32 {
			s.Steps++
		}
		s.Step = in.Stage
		_, margin := m.tolerance()
		s.StepRelOnly = s.absoluteHopeless(margin)
		s.StepN, s.StepX, s.StepM, s.StepY, s.PassStep = 0, 0, 0, 0, [2]float64{}
		s.StepPassed = false
	}
	o, ok := in.Observation(m.Metric)
	if !ok {
		return "no observation this window"
	}
	n, x, why := countsOf(o.Canary)
	if why != "" {
		return "canary: " + why + ", window not used"
	}
	mm, y, why := countsOf(o.Stable)
	if why != "" {
		return "stable: " + why + ", window not used"
	}
	if s.M == 0 && s.BaseM == 0 {
		// The stable version's history, once, before its own windows.
		if bn, bx, why := countsOf(o.Baseline); why == "" && bn > 0 {
			s.BaseM, s.BaseY = bn, bx
			s.HS, s.HK = historyDispersion(o.Baseline.Buckets)
			// When the history shows a stable version whose errors are near
			// or above the margin, the absolute Pass test cannot help (see
			// absoluteHopeless), and its weight would only raise the bar of
			// the relative one (from log(1/β) to log(1/(0.8 β)): 0.22 nats,
			// about a quarter of an hour at 0.5 requests/s and 1 % errors).
			// The weights of a mixture may be chosen from anything known
			// before its first bet: here nothing has been judged yet.
			_, margin := m.tolerance()
			if s.N == 0 {
				s.RelOnly = hopelessAt(bx, bn, margin)
			}
			if s.StepN == 0 {
				s.StepRelOnly = s.StepRelOnly || hopelessAt(bx, bn, margin)
			}
		}
	}
	ratio, margin := m.tolerance()
	rb := s.rhoBad(ratio, margin)
	t := x + y
	// Relative tests on the conditional binomial, tempered by the measured
	// dispersion (a power 1/φ ≤ 1 of an e-value is an e-value).
	var pass [2]float64
	var stepRel float64
	rho := ((s.X + 0.5) / (s.N + 1)) / ((s.Y + 0.5) / (s.M + 1))
	if n > 0 && mm > 0 && t > 0 {
		f := 1 / stats.Dispersion(s.D, s.DK)
		if !s.Shock {
			// Not in the window after one in which stable showed a shock
			// (an incident on both versions, which adds errors to both
			// rather than multiplying their rates, and makes any canary's
			// ratio look like 1): whether it bets depends only on earlier
			// windows, so it stays an e-process.
			pass[0] = capped(f*stats.ConditionalLogLR(x, t, n, mm, 1, rb), lv.pass)
			stepRel = capped(f*stats.ConditionalLogLR(x, t, n, mm, math.Pow(rb, stepGamma), rb), lv.pass)
		}
		// Fail: the alternative is the ratio estimated from earlier
		// windows (a predictable plug-in, Robbins' method), never below
		// the regression ratio: the whole rollout's estimate for the
		// e-process since the start, this step's for the one since the
		// step began.
		// Each is capped so that two windows, but never one, can take it
		// past the threshold on its own weight in the mixture — until
		// earlier windows have shown that the bad events do not come in
		// clusters (unclustered): then one window may decide alone. The
		// cap (finite or not) is chosen from earlier windows only, and
		// min(LR, C) with C fixed before the window is an e-value, so
		// each product stays an e-process (Ville's inequality holds).
		capP, capG := failCap(lv.fail, failPlugIn), failCap(lv.fail, failGridWeight())
		unclustered := s.unclustered()
		if unclustered {
			capP, capG = math.Inf(1), math.Inf(1)
		}
		s.Fail += math.Min(f*stats.ConditionalLogLR(x, t, n, mm, plugIn(rb, s.X, s.N, s.Y, s.M), 1), capP)
		// The detector (FailStep, FailGridStep): a mixture over start
		// windows j of the products from j on, weight 1/((j+1)(j+2)) —
		// Shin, Ramdas and Rinaldo's e-detector made an e-process by the
		// weights (they sum to 1), so a regression that starts late is not
		// buried under the good windows before it. Its recursion is
		// M_k = LR_k (M_{k−1} + w_k); every start shares the alternative
		// (the regression ratio, or a grid ratio above it), fixed before
		// the window. Its caps are the whole-rollout ones, so a start late
		// in the rollout (which needs more evidence) needs more than two
		// windows: clustered errors must not decide, a regression persists.
		lw := -math.Log((s.K + 1) * (s.K + 2))
		detCap := func(w float64) float64 {
			if unclustered {
				return math.Inf(1)
			}
			return (lv.fail + math.Log(1/(w*(1-failWhole))) - lw) / 3
		}
		prev := func(l float64) float64 {
			if s.K == 0 {
				return math.Inf(-1) // no start yet: M = 0
			}
			return l
		}
		s.FailStep = stats.EDetector(prev(s.FailStep), math.Min(f*stats.ConditionalLogLR(x, t, n, mm, rb, 1), detCap(failPlugIn)), lw)
		// And against fixed alternatives (a grid): a large regression
		// seen in few events is found sooner than by the plug-in, whose
		// lower bound stays near the regression ratio while events are few.
		for i, g := range failGrid {
			a := math.Max(rb, g)
			s.FailGrid[i] += math.Min(f*stats.ConditionalLogLR(x, t, n, mm, a, 1), capG)
			s.FailGridStep[i] = stats.EDetector(prev(s.FailGridStep[i]), math.Min(f*stats.ConditionalLogLR(x, t, n, mm, a, 1), detCap(failGridWeight())), lw)
		}
		s.K++
		// The regression detector for Pass and leaning (Page's CUSUM).
		s.Det = stats.CUSUM(s.Det, f*stats.ConditionalLogLR(x, t, n, mm, rb, 1))
		// Dispersion: residual of x around its prediction from earlier
		// windows' ratio estimate.
		// The prediction's own error adds to the variance (delta method:
		// Var log ρ̂ ≈ 1/X + 1/Y), so that a canary whose ratio is far from
		// the early estimate is not read as overdispersed.
		// Only once earlier windows hold a few events of each version: before
		// that there is no prediction to measure against, and a real
		// regression in the first window would read as overdispersion and
		// slow its own rollback.
		p := n * rho / (n*rho + mm)
		v := t * p * (1 - p)
		if s.X >= dispersionEvents && s.Y >= dispersionEvents {
			pool(&s.D, &s.DK, &s.DR, &s.DV, x-t*p, v*(1+v*(1/(s.X+0.5)+1/(s.Y+0.5))))
		}
	}
	// Absolute test on the canary's own counts: a regression is at least
	// Margin above stable, so at least Margin; the alternative is a rate
	// like stable's. Tempered by the stable version's own dispersion over
	// time (bursts that move both versions' rates). It sits out a window
	// in which the stable version shows a shock (absoluteUsable): a
	// platform incident that fails 10 % of both versions' requests for a
	// few minutes would otherwise cost it more evidence than hours of clean
	// windows bring back, and inflate the dispersion it is tempered by.
	// At low counts that rule (three standard deviations plus 3) misses an
	// incident, so the test also sits out a window whose stable count is
	// improbable at the stable version's usual rate, and the window after
	// one (stableLoud).
	useAbs := s.absoluteUsable(mm, y)
	defer func() { s.Shock = !useAbs }()
	loud, afterLoud := s.stableLoud(mm, y), s.Loud
	s.Loud = loud
	if n > 0 && useAbs && !loud && !afterLoud {
		qs := (s.Y + 0.5) / (s.M + 1)
		q1 := math.Min(margin/2, math.Max(margin/20, qs))
		pass[1] = capped(stats.BinomialLogLR(x, n, q1, margin)/stats.Dispersion(s.S, s.SK), lv.pass)
	}
	for i, l := range pass {
		s.Pass[i] += l
		s.PassStep[i] += l
	}
	s.PassStep[0] += stepRel - pass[0]
	// The stable version's dispersion over the windows the absolute test
	// used, around its rate over those windows.
	if mm > 0 && s.AbsY >= 5 && useAbs {
		qs := s.AbsY / s.AbsM
		pool(&s.S, &s.SK, &s.SR, &s.SV, y-mm*qs, mm*qs*(1-qs)*(1+mm/s.AbsM))
	}
	// Guard: canary above max(Limit, baseline's upper bound).
	if m.Limit > 0 && n > 0 {
		q0 := m.Limit
		if bn, bx, why := countsOf(o.Baseline); why == "" && bn > 0 {
			b := bx / bn
			q0 = math.Max(q0, math.Min(0.999, b+3*math.Sqrt(b*(1-b)/bn)+3/bn))
		}
		if q0 < 0.999 {
			q1 := math.Min(0.9995, 2*q0)
			if q1 <= q0 {
				q1 = (q0 + 1) / 2
			}
			s.Guard += capped(stats.BinomialLogLR(x, n, q1, q0), lv.guard)
		}
	}
	s.N += n
	s.X += x
	s.StepN += n
	s.StepX += x
	s.StepM += mm
	s.StepY += y
	s.M += mm
	s.Y += y
	if useAbs {
		s.LastM, s.LastY = mm, y
		s.AbsM += mm
		s.AbsY += y
	}
	return ""
}

// unclustered reports whether earlier windows have shown that the bad
// events do not come in clusters: the stable version's dispersion over
// time (its Pearson statistic over the windows the absolute test used)
// has been measured on at least unclusteredBuckets buckets and is within
// one standard deviation of its χ² mean, and so is the conditional
// model's (trivially while it has no bucket yet). Only then may one
// window's Fail evidence decide alone (see update): at 50 requests/s a
// canary that turns bad after a few minutes is then rolled back within
// the minute it turns, as the suite's oracle does. At 4 buckets the gate opened too late to help the suite's
// canaries that turn bad at minute 4; errors in clusters of 20 keep it
// shut but by chance (TestRatesOverdispersion: 10 of 100 good canaries
// failed, against 9 with the cap always on).
//
// The stable version's history before the rollout, when its provider
// gave it per bucket (Observation.Baseline.Buckets), counts too: when it
// holds unclusteredBuckets buckets and shows no clustering, one window
// may decide from the first (at 50 requests/s a canary 5 × as bad as
// stable, or 5 points worse, is then rolled back after one window at
// 10 %, as by the suite's oracle, instead of two). A history that shows
// clustering keeps the gate shut, whatever the rollout's own buckets say;
// without buckets the rollout's own are needed, as before. The history
// is known before any canary request is judged, so the cap stays
// predictable and the Fail e-processes stay e-processes. What this
// assumes is that clustering is a property of the service's traffic that
// its history shows: errors that cluster only once the rollout has begun
// are caught by the rollout's own buckets, but not in its first windows.
func (s *rateState) unclustered() bool {
	return (s.SK >= unclusteredBuckets || s.HK >= unclusteredBuckets) &&
		within(s.S, s.SK) && within(s.HS, s.HK) && within(s.D, s.DK)
}

// historyDispersion returns the Pearson statistic of the stable version's
// bad events over the buckets of its history around their overall rate,
// and the number of buckets it sums: consecutive buckets are pooled until
// the pooled variance reaches 3 events (as the rollout's own dispersion
// is), so that a history at a low rate is not judged on buckets that
// expect a fraction of an event. Buckets without data are skipped; one
// that cannot be a count (negative, NaN, more bad events than requests)
// makes the whole history unusable for this (0, 0: no buckets). Under
// independent events the statistic is about the number of buckets minus
// one (the rate is estimated from the same buckets); errors in clusters
// of c multiply it by about c.
func historyDispersion(buckets []Measurement) (stat, k float64) {
	var m, y float64
	for _, b := range buckets {
		if !b.Observed {
			continue
		}
		bn, bx, why := countsOf(b)
		if why != "" {
			return 0, 0
		}
		m, y = m+bn, y+bx
	}
	if m <= 0 || y <= 0 {
		return 0, 0
	}
	q := y / m
	var r, v float64
	for _, b := range buckets {
		if !b.Observed {
			continue
		}
		bn, bx, _ := countsOf(b)
		pool(&stat, &k, &r, &v, bx-bn*q, bn*q*(1-q))
	}
	return stat, k
}

// validateTolerance checks a regression's Ratio and Margin (zero: the
// defaults), naming them under prefix.
func validateTolerance(prefix string, ratio, margin float64) error {
	switch {
	case ratio != 0 && !(ratio > 1 && ratio <= maxRatio):
		return canary.Invalid(prefix+".Ratio", ratio, "must be above 1 and at most %g", float64(maxRatio))
	case margin != 0 && !(margin > 0 && margin < 1):
		return canary.Invalid(prefix+".Margin", margin, "must be in (0, 1)")
	}
	return nil
}

// within reports whether a Pearson dispersion statistic over k buckets
// is within its chi-square reference's mean plus two standard deviations
// (k + √(2k)): no sign of clustering.
func within(stat, k float64) bool { return stat <= k+math.Sqrt(2*k) }

// pool adds a Pearson residual and its variance to the open bucket (r, v)
// and, once the bucket's variance reaches poolVariance, closes it into
// the dispersion statistic (stat, k buckets) that [stats.Dispersion]
// reads: buckets of a few events' variance keep the statistic close to
// its chi-square reference even when each window holds less than one
// expected event.
func pool(stat, k, r, v *float64, resid, variance float64) {
	*r += resid
	*v += variance
	if *v >= poolVariance {
		*stat += *r * *r / *v
		*k++
		*r, *v = 0, 0
	}
}

// poolVariance is the variance at which pool closes a bucket.
const poolVariance = 3

// unclusteredBuckets: the stable version's dispersion buckets needed
// before one window may decide alone.
const unclusteredBuckets = 3

// failGrid are the fixed alternatives (rate ratios, raised to the
// regression ratio when below it) of the Fail e-processes mixed with the
// plug-in one, each with weight failGridWeight.
var failGrid = [...]float64{3, 6, 12, 30}

func failGridWeight() float64 { return (1 - failPlugIn) / float64(len(failGrid)) }

// failCap is what one window may add to a Fail e-process of weight w in
// the mixture: half of what it needs alone, log(1/(α' w failWhole)), so
// that two windows can decide and one cannot (see capped) while
// clustering cannot be ruled out (see rateState.unclustered).
func failCap(at, w float64) float64 { return (at + math.Log(1/(w*failWhole))) / 2 }

// logFail is the log of the Fail e-process: the whole-rollout mixture
// (weight failWhole) plus the detector over start windows (weight
// 1 − failWhole).
func (s *rateState) logFail() float64 {
	w := make([]float64, 1+len(failGrid))
	w[0] = failPlugIn
	for i := range failGrid {
		w[1+i] = failGridWeight()
	}
	whole := stats.LogMix(append([]float64{s.Fail}, s.FailGrid[:]...), w)
	step := stats.LogMix(append([]float64{s.FailStep}, s.FailGridStep[:]...), w)
	if s.K == 0 {
		return stats.LogMix([]float64{whole}, []float64{failWhole})
	}
	return stats.LogMix([]float64{whole, step}, []float64{failWhole, 1 - failWhole})
}

// passWeights weigh the relative and the absolute Pass e-processes. The
// relative one decides in most services and is immune to incidents on
// both versions; the absolute one, which does not condition and so loses
// its evidence in an incident, matters only when the stable version has
// almost no errors.
var passWeights = []float64{0.8, 0.2}

// logPass is the log of the Pass e-process (the weighted mean of the
// relative and the absolute one, each valid against "regression"), since
// the start and over this step.
func (s *rateState) logPass() (whole, step float64) {
	w, ws := passWeights, passWeights
	if s.RelOnly {
		w = relativeOnly
	}
	if s.StepRelOnly {
		ws = relativeOnly
	}
	return stats.LogMix(s.Pass[:], w), stats.LogMix(s.PassStep[:], ws)
}

// absoluteUsable reports whether the absolute Pass test bets on a window
// in which the stable version served mm requests with y bad events: not
// when y is more than three standard deviations (plus 3) above what the
// stable version's rate over the windows the test used so far predicts —
// a shock that hits both versions, such as a platform incident. Skipping
// keeps the test an e-process: whether it bets depends only on the stable
// version's counts, which given the window's rates are independent of the
// canary's, so under "regression" the canary's count still has a
// likelihood ratio of mean at most 1 in every window that is used. Before
// any window was used, every window is.
func (s *rateState) absoluteUsable(mm, y float64) bool {
	if mm <= 0 || s.AbsM <= 0 {
		return true
	}
	q := (s.AbsY + 0.5) / (s.AbsM + 1)
	return y <= mm*q+3*math.Sqrt(mm*q)+3
}

// loudTail: a stable count whose upper Poisson tail at the stable
// version's usual rate is below this is a shock to the absolute Pass test
// (see stableLoud).
const loudTail = 0.01

// stableLoud reports whether the stable version's y bad events over mm
// requests in a window are improbable at its usual rate — the rate over
// its history and the windows without a shock (stableCounts), known
// before the window: P(Y ≥ y) < loudTail for Y Poisson with that mean.
// The absolute Pass test sits out such a window and the one after it.
// This is absoluteUsable's rule made sensitive at low counts, where its
// "plus 3" let an incident through: at 0.5 requests/s and 0.1 % errors a
// stable version at 10 % expects 0.03 bad events a minute, so the 3
// minutes of a platform incident that fails 10 % of both versions'
// requests showed 2 or 3 a minute, under the rule's 3.6, and each of the
// canary's errors in them cost the absolute test about an hour of
// evidence (in the decision-quality suite, 400 runs, such good canaries
// were promoted within 4 hours in 13 % of the runs, 79 % without the
// incident; now in 47 %, and the other good families of that cell lost
// about one point).
// The window after a loud one is sat out too because an incident that
// starts or ends within a window shows only part of its errors there.
// Like absoluteUsable, the rule reads the stable version's counts only,
// which given the window's rates are independent of the canary's, so the
// absolute test stays an e-process against "regression"; it costs the
// test at most about 2 % of its windows (those with a chance excess and
// the ones after them). The stable rate estimate, the dispersion and the
// relative test are not affected. Before any stable rate is known no
// window is loud.
func (s *rateState) stableLoud(mm, y float64) bool {
	sy, sm := s.stableCounts()
	if mm <= 0 || sm <= 0 {
		return false
	}
	return poissonUpper(y, mm*(sy+0.5)/(sm+1)) < loudTail
}

// poissonUpper is P(Y ≥ k) for Y Poisson with mean l: exact below a mean
// of 50 (one minus the sum of the terms below k), the normal
// approximation with continuity correction above.
func poissonUpper(k, l float64) float64 {
	switch {
	case k <= 0:
		return 1
	case l <= 0:
		return 0
	case l > 50:
		return 0.5 * math.Erfc((k-0.5-l)/math.Sqrt(2*l))
	}
	term, below := math.Exp(-l), 0.0
	for j := 0.0; j < k; j++ {
		below += term
		if below >= 1 || term < 1e-300 && j > l {
			break
		}
		term *= l / (j + 1)
	}
	return math.Max(0, 1-below)
}

// relativeOnly weighs a step's own Pass e-process when the absolute test
// cannot help (see absoluteHopeless).
var relativeOnly = []float64{1, 0}

// absoluteHopeless reports whether, at the stable rate estimated from the
// windows so far, the absolute Pass test drifts away from its threshold
// for a canary like stable (its expected log LR per request, at the rate
// q₁ it tests against Margin, is ≤ 0): a stable version with errors near
// or above the margin. A step's own Pass e-process starts at the step, so
// its mixture weights may depend on the windows before it (they are fixed
// when it starts); when the absolute test is hopeless, its weight of 0.2
// would only raise the bar the relative test must reach at each step, from
// log(1/StageBeta) = 0.105 to 0.33 nats with the defaults, so it is left
// out. It must be hopeless both at the rate over the earlier windows
// (stableCounts: the history and the windows without a shock) and at the
// rate of the last window without a shock, so that a platform incident,
// over or not, does not take the absolute test away from a stable version
// with almost no errors. (Counting the incident's windows did, and in the
// window after the incident, which the relative test sits out, a step
// that began during it had no test that could pass: at 50 requests/s and
// 0.1 % errors a good canary took a median 11 minutes to promote through a
// 3-minute incident, the oracle 7.) With no stable window yet the weights
// stay as they are.
func (s *rateState) absoluteHopeless(margin float64) bool {
	y, m := s.stableCounts()
	if m <= 0 || s.LastM <= 0 {
		return false
	}
	return hopelessAt(y, m, margin) && hopelessAt(s.LastY, s.LastM, margin)
}

// hopelessAt reports whether the absolute Pass test drifts away from its
// threshold for a canary like a stable version that served m requests with
// y bad events (see absoluteHopeless).
func hopelessAt(y, m, margin float64) bool {
	qs := (y + 0.5) / (m + 1)
	q1 := math.Min(margin/2, math.Max(margin/20, qs))
	return qs*math.Log(q1/margin)+(1-qs)*(math.Log1p(-q1)-math.Log1p(-margin)) <= 0
}

func clamp01(v float64) float64 { return math.Max(0, math.Min(1, v)) }

// judge turns the state into a detail and evidence, and says whether the
// metric leans towards "no regression" (a Pass, or nothing failed and the
// regression detector quiet).
func (s *rateState) judge(m Rate, lv levels) (Detail, Evidence, bool) {
	failAt, passAt, stepAt := lv.fail, lv.pass, lv.step
	ratio, margin := m.tolerance()
	d := Detail{Metric: m.Metric, Count: int64(s.N),
		Bound: fmt.Sprintf("regression: canary ≥ %s × stable and ≥ stable + %s", fmtg(ratio), fmtg(margin))}
	ev := Evidence{Metric: m.Metric, Requests: int64(s.N), More: -1}
	if s.N > 0 {
		d.Value = ptr(s.X / s.N)
	}
	if s.M > 0 {
		d.Stable = ptr(s.Y / s.M)
	}
	lf := s.logFail()
	lp, lps := s.logPass()
	if stepAt <= 0 {
		lps = math.Inf(1) // StageBeta 1: no evidence asked of the step itself
	}
	// Latch each requirement at its first crossing (see rateState.Passed).
	s.Passed = s.Passed || lp >= passAt
	s.StepPassed = s.StepPassed || lps >= stepAt
	detected := s.Det >= detectAt
	if s.Passed {
		lp = math.Max(lp, passAt)
	}
	if s.StepPassed {
		lps = math.Max(lps, stepAt)
	}
	stat := math.Max(-1e6, math.Min(1e6, lf))
	d.Statistic = ptr(stat)
	d.PValue = ptr(math.Min(1, math.Exp(-math.Max(0, stat))))
	ev.Fail = clamp01(lf / failAt)
	ev.Pass = clamp01(lp / passAt)
	if stepAt > 0 {
		ev.Pass = math.Min(ev.Pass, clamp01(lps/stepAt))
	}
	guardFail := m.Limit > 0 && s.Guard >= lv.guard
	switch {
	case lf >= failAt || guardFail:
		d.Outcome, d.Class, ev.More, ev.Fail = Fail, "high", 0, 1
		if guardFail && lf < failAt {
			d.Reason = fmt.Sprintf("canary rate %s over %s requests is above the limit %s and the baseline (log e = %.3g ≥ %.3g)",
				fmtg(s.X/s.N), fmtg(s.N), fmtg(m.Limit), s.Guard, lv.guard)
		} else {
			d.Reason = fmt.Sprintf("canary worse than stable: %s against %s over %s canary requests (log e = %.3g ≥ %.3g)",
				fmtg(rate(s.X, s.N)), fmtg(rate(s.Y, s.M)), fmtg(s.N), lf, failAt)
		}
	case lp >= passAt && lps >= stepAt && !detected:
		d.Outcome, d.Class, ev.More, ev.Pass = Pass, "pass", 0, 1
		d.Reason = fmt.Sprintf("no regression: %s against %s over %s canary requests (log e = %.3g ≥ %.3g, this step %.3g ≥ %.3g)",
			fmtg(rate(s.X, s.N)), fmtg(rate(s.Y, s.M)), fmtg(s.N), lp, passAt, math.Min(lps, 1e6), stepAt)
	default:
		d.Class = "nodata"
		ev.More = s.more(lf, lp, lps, failAt, passAt, stepAt, s.passDrift(m))
		if detected {
			ev.Pass = math.Min(ev.Pass, 0.99)
			d.Reason = fmt.Sprintf("the latest windows point to a regression (their likelihood ratio for it is %.3g, above %.3g) over %s canary requests: fail %.0f %%",
				math.Exp(math.Min(s.Det, 700)), math.Exp(detectAt), fmtg(s.N), 100*ev.Fail)
			return d, ev, false
		}
		// Leaning also needs the evidence so far to favour "no
		// regression" over the regression (the Pass e-process at least 1)
		// or the Fail e-process to be below 1 (the evidence does not
		// favour a canary worse than stable): a canary at the regression's
		// boundary, where the detector climbs slowly, is then held at its
		// weight, where it does less harm, once its Fail evidence is above
		// 1, and a good one with a stray error or two early is not.
		leans := lp >= 0 || lf < 0
		lean := "leaning to no regression"
		if !leans {
			lean = "not leaning to no regression (the evidence so far favours the regression, and a canary worse than stable)"
		}
		d.Reason = fmt.Sprintf("not yet decided over %s canary requests, %s: fail %.0f %%, pass %.0f %%",
			fmtg(s.N), lean, 100*ev.Fail, 100*ev.Pass)
		if ev.More > 0 {
			d.Reason += fmt.Sprintf(", about %d more canary requests needed", ev.More)
		}
		return d, ev, leans
	}
	return d, ev, d.Outcome == Pass
}

func rate(x, n float64) float64 {
	if n <= 0 {
		return 0
	}
	return x / n
}

// more estimates the canary requests still needed for the nearer
// decision; -1 when neither side is moving towards its boundary. The Fail
// side extrapolates the drift seen so far; the Pass side takes the faster
// of that drift and drift, what a canary like stable adds per request at
// the current split (passDrift): the drift seen so far alone swings with a
// few errors either way, and after a stray canary error or two it said a
// good canary needed hours more when it was promoted within the budget
// (in the decision-quality suite, 3 of the 2,684 good canaries the oracle
// promotes within an hour were paused for a person on it).
func (s *rateState) more(lf, lp, lps, failAt, passAt, stepAt, drift float64) int64 {
	best := math.Inf(1)
	if s.N > 0 && lf > 0 {
		best = (failAt - lf) / (lf / s.N)
	}
	if s.N > 0 && lp > 0 {
		drift = math.Max(drift, lp/s.N)
	}
	if drift > 0 {
		need := (passAt - math.Min(lp, passAt)) / drift
		if math.IsInf(lps, 1) {
			// no step requirement
		} else if s.StepN > 0 && lps > 0 {
			need = math.Max(need, (stepAt-lps)/math.Max(drift, lps/s.StepN))
		} else if lps < stepAt {
			need = math.Max(need, (stepAt-lps)/drift)
		}
		best = math.Min(best, need)
	}
	if math.IsInf(best, 1) || !(best >= 0) || best > 1e15 {
		return -1
	}
	return int64(math.Ceil(best))
}

// passDrift is the expected log likelihood ratio per canary request that a
// canary like stable adds to the Pass e-processes at this step's split, at
// stable's rate seen so far: the larger of the relative test's,
// q ((1 + r) log((ρ_bad + r)/(1 + r)) − log ρ_bad) with r the stable
// version's requests per canary request, and the absolute test's; 0 before
// there is a split to judge it at.
func (s *rateState) passDrift(m Rate) float64 {
	y, mm := s.stableCounts()
	n, sm := s.StepN, s.StepM
	if n <= 0 || sm <= 0 {
		n, sm = s.N, s.M
	}
	if mm <= 0 || n <= 0 || sm <= 0 {
		return 0
	}
	q := (y + 0.5) / (mm + 1)
	r := sm / n
	ratio, margin := m.tolerance()
	rb := s.rhoBad(ratio, margin)
	rel := q * ((1+r)*math.Log((rb+r)/(1+r)) - math.Log(rb))
	q1 := math.Min(margin/2, math.Max(margin/20, q))
	abs := q*math.Log(q1/margin) + (1-q)*(math.Log1p(-q1)-math.Log1p(-margin))
	d := math.Max(rel, abs)
	if !(d > 0) || math.IsInf(d, 1) {
		return 0
	}
	return d
}
