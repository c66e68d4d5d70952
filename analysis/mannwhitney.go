package analysis

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/stats"
)

// NaNStrategy says what the Mann-Whitney judge does with NaN samples. The
// zero NaNStrategy is RemoveNaN.
type NaNStrategy int

const (
	// RemoveNaN drops NaN (and infinite) samples.
	RemoveNaN NaNStrategy = iota
	// ReplaceNaN replaces NaN samples with zero (for counts, where a
	// missing point means nothing happened); infinite samples are dropped.
	ReplaceNaN
)

// Judged configures one metric of the MannWhitney judge, in the manner of
// Kayenta's canary configuration.
type Judged struct {
	Metric string `json:"metric"`
	// Group names the metric's group for the weighted score; empty is the
	// group "default".
	Group string `json:"group,omitempty"`
	// Direction says which shift fails the metric; zero is Increase.
	Direction Direction   `json:"direction,omitempty"`
	NaN       NaNStrategy `json:"nan,omitempty"`
	// RemoveOutliers drops samples outside the IQR fences
	// [Q1 − 1.5 IQR, Q3 + 1.5 IQR] of each version before the test.
	RemoveOutliers bool `json:"removeOutliers,omitempty"`
	// AllowedIncrease and AllowedDecrease gate a significant shift by its
	// effect size, the ratio of the means (canary / stable): an increase
	// counts as "high" only when the ratio is at least AllowedIncrease, a
	// decrease as "low" only when it is at most AllowedDecrease. Zero
	// means 1 (any significant shift counts).
	AllowedIncrease float64 `json:"allowedIncrease,omitempty"`
	AllowedDecrease float64 `json:"allowedDecrease,omitempty"`
	// CriticalIncrease and CriticalDecrease, when set, fail the whole
	// verdict (score 0) for a significant shift whose ratio reaches them.
	CriticalIncrease float64 `json:"criticalIncrease,omitempty"`
	CriticalDecrease float64 `json:"criticalDecrease,omitempty"`
	// Critical makes any high/low classification of this metric fail the
	// whole verdict.
	Critical bool `json:"critical,omitempty"`
	// MinSamples is the fewest samples each version needs after cleaning;
	// zero means 3. Fewer is "nodata".
	MinSamples int `json:"minSamples,omitempty"`
}

// MannWhitney is a judge in Kayenta's manner: each metric's canary samples
// (Observation.Canary.Samples) are compared with the stable version's
// (Observation.Stable.Samples) by the Mann-Whitney U test; the 1 − α
// confidence interval for the shift (Hodges–Lehmann) decides whether the
// canary is significantly higher or lower, the ratio of means whether the
// shift is large enough to matter. Each metric is classified pass, high,
// low or nodata; the score is the weighted mean over groups of the share
// of passing metrics (nodata metrics left out), 0 when a critical metric
// fails.
//
// The verdict is Fail when a critical metric fails or the score is below
// MarginalScore, Pass when it reaches PassScore, and Inconclusive in
// between (Kayenta's "marginal") or when no metric had data.
//
// The zero MannWhitney has no metrics and is refused.
type MannWhitney struct {
	Metrics []Judged `json:"metrics"`
	// GroupWeights weights each group's score; when set it must name every
	// group used and its weights must add up to 100. Empty gives every
	// group the same weight.
	GroupWeights map[string]float64 `json:"groupWeights,omitempty"`
	// ConfLevel is the confidence level of the interval, in (0, 1); zero
	// means 0.98 (Kayenta's).
	ConfLevel float64 `json:"confLevel,omitempty"`
	// PassScore and MarginalScore are in [0, 100]; zero means 95 and 75.
	PassScore     float64 `json:"passScore,omitempty"`
	MarginalScore float64 `json:"marginalScore,omitempty"`
	// NormalOnly uses the normal approximation for every sample size, as
	// Kayenta does; by default small samples (both under 50) use the exact
	// distribution, ties included ([stats.MethodExactTies]).
	NormalOnly bool `json:"normalOnly,omitempty"`
}

func (m MannWhitney) scores() (pass, marginal float64) {
	pass, marginal = m.PassScore, m.MarginalScore
	if pass == 0 {
		pass = 95
	}
	if marginal == 0 {
		marginal = 75
	}
	return pass, marginal
}

func groupOf(j Judged) string {
	if j.Group == "" {
		return "default"
	}
	return j.Group
}

// Validate reports the first bad field of m.
func (m MannWhitney) Validate() error {
	if len(m.Metrics) == 0 {
		return canary.Invalid("MannWhitney.Metrics", nil, "must have at least one metric")
	}
	if m.ConfLevel != 0 && !(m.ConfLevel > 0 && m.ConfLevel < 1) {
		return canary.Invalid("MannWhitney.ConfLevel", m.ConfLevel, "must be between 0 and 1 (exclusive)")
	}
	pass, marginal := m.scores()
	if !(pass >= 0 && pass <= 100) {
		return canary.Invalid("MannWhitney.PassScore", m.PassScore, "must be in [0, 100]")
	}
	if !(marginal >= 0 && marginal <= 100) || marginal > pass {
		return canary.Invalid("MannWhitney.MarginalScore", m.MarginalScore, "must be in [0, 100] and not above the pass score %v", pass)
	}
	groups := map[string]bool{}
	for i, j := range m.Metrics {
		f := fmt.Sprintf("MannWhitney.Metrics[%d]", i)
		ratio := func(name string, v float64) error {
			if !finite(v) || v < 0 {
				return canary.Invalid(f+"."+name, v, "must be a finite ratio ≥ 0")
			}
			return nil
		}
		switch {
		case j.Metric == "":
			return canary.Invalid(f+".Metric", j.Metric, "must not be empty")
		case !j.Direction.valid():
			return canary.Invalid(f+".Direction", int(j.Direction), "must be Increase, Decrease or Either")
		case j.NaN != RemoveNaN && j.NaN != ReplaceNaN:
			return canary.Invalid(f+".NaN", int(j.NaN), "must be RemoveNaN or ReplaceNaN")
		case j.MinSamples < 0:
			return canary.Invalid(f+".MinSamples", j.MinSamples, "must not be negative")
		}
		for _, e := range []error{ratio("AllowedIncrease", j.AllowedIncrease), ratio("AllowedDecrease", j.AllowedDecrease),
			ratio("CriticalIncrease", j.CriticalIncrease), ratio("CriticalDecrease", j.CriticalDecrease)} {
			if e != nil {
				return e
			}
		}
		if j.AllowedIncrease != 0 && j.AllowedIncrease < 1 {
			return canary.Invalid(f+".AllowedIncrease", j.AllowedIncrease, "must be ≥ 1 (a ratio of means)")
		}
		if j.AllowedDecrease > 1 {
			return canary.Invalid(f+".AllowedDecrease", j.AllowedDecrease, "must be ≤ 1 (a ratio of means)")
		}
		groups[groupOf(j)] = true
	}
	if len(m.GroupWeights) > 0 {
		sum := 0.0
		names := make([]string, 0, len(m.GroupWeights))
		for g := range m.GroupWeights {
			names = append(names, g)
		}
		sort.Strings(names)
		for _, g := range names {
			w := m.GroupWeights[g]
			if !finite(w) || w < 0 {
				return canary.Invalid("MannWhitney.GroupWeights["+g+"]", w, "must be a finite weight ≥ 0")
			}
			sum += w
		}
		for g := range groups {
			if _, ok := m.GroupWeights[g]; !ok {
				return canary.Invalid("MannWhitney.GroupWeights", g, "has no weight for group %q", g)
			}
		}
		if math.Abs(sum-100) > 1e-9 {
			return canary.Invalid("MannWhitney.GroupWeights", sum, "must add up to 100")
		}
	}
	return nil
}

// clean applies the NaN strategy and the outlier fences.
func (j Judged) clean(s []float64) []float64 {
	out := make([]float64, 0, len(s))
	for _, v := range s {
		switch {
		case math.IsNaN(v) && j.NaN == ReplaceNaN:
			out = append(out, 0)
		case finite(v):
			out = append(out, v)
		}
	}
	if j.RemoveOutliers && len(out) >= 4 {
		sorted := slices.Clone(out)
		slices.Sort(sorted)
		q1, q3 := stats.Quantile(sorted, 0.25), stats.Quantile(sorted, 0.75)
		lo, hi := q1-1.5*(q3-q1), q3+1.5*(q3-q1)
		kept := out[:0]
		for _, v := range out {
			if v >= lo && v <= hi {
				kept = append(kept, v)
			}
		}
		out = kept
	}
	return out
}

// mean is the mean of finite s, summed as v/n so that samples near the
// largest float64 cannot overflow it to an infinity.
func mean(s []float64) float64 {
	t, n := 0.0, float64(len(s))
	for _, v := range s {
		t += v / n
	}
	return t
}

// effectRatio is mean(canary) / mean(stable): 1 when both are 0, +Inf when
// only the stable mean is 0 and the canary's is above it, NaN when a mean
// is negative (a ratio of means says nothing then).
func effectRatio(c, s float64) float64 {
	switch {
	case c < 0 || s < 0:
		return math.NaN()
	case s == 0 && c == 0:
		return 1
	case s == 0:
		return math.Inf(1)
	}
	return c / s
}

// Analyze judges every metric and scores the canary.
func (m MannWhitney) Analyze(ctx context.Context, in Input) (Verdict, error) {
	if err := m.Validate(); err != nil {
		return Verdict{}, err
	}
	conf := m.ConfLevel
	if conf == 0 {
		conf = 0.98
	}
	method := stats.MethodExactTies
	if m.NormalOnly {
		method = stats.MethodNormal
	}
	type tally struct{ pass, judged int }
	groups := map[string]*tally{}
	var order []string
	critical := ""
	v := Verdict{Details: make([]Detail, 0, len(m.Metrics))}
	for _, j := range m.Metrics {
		if err := ctx.Err(); err != nil {
			return Verdict{}, err
		}
		g := groupOf(j)
		if groups[g] == nil {
			groups[g] = &tally{}
			order = append(order, g)
		}
		d, crit := j.judge(in, conf, method)
		if d.Class != "nodata" {
			groups[g].judged++
			if d.Class == "pass" {
				groups[g].pass++
			}
		}
		if crit && critical == "" {
			critical = j.Metric
		}
		v.Details = append(v.Details, d)
	}
	passScore, marginal := m.scores()
	num, den := 0.0, 0.0
	for _, g := range order {
		t := groups[g]
		if t.judged == 0 {
			continue
		}
		w := 1.0
		if len(m.GroupWeights) > 0 {
			w = m.GroupWeights[g]
		}
		num += w * 100 * float64(t.pass) / float64(t.judged)
		den += w
	}
	switch {
	case critical != "":
		v.Score = ptr(0)
		v.Outcome, v.Reason = Fail, fmt.Sprintf("critical metric %s failed", critical)
	case den == 0:
		v.Outcome, v.Reason = Inconclusive, "no metric had enough data"
	default:
		score := num / den
		v.Score = ptr(score)
		switch {
		case score >= passScore:
			v.Outcome, v.Reason = Pass, fmt.Sprintf("score %s ≥ pass score %s", fmtg(score), fmtg(passScore))
		case score < marginal:
			v.Outcome, v.Reason = Fail, fmt.Sprintf("score %s < marginal score %s", fmtg(score), fmtg(marginal))
		default:
			v.Outcome, v.Reason = Inconclusive, fmt.Sprintf("marginal score %s (pass at %s, fail below %s)", fmtg(score), fmtg(passScore), fmtg(marginal))
		}
	}
	return v, nil
}

// judge classifies one metric; crit reports a critical failure.
func (j Judged) judge(in Input, conf float64, method stats.Method) (d Detail, crit bool) {
	d = Detail{Metric: j.Metric, Class: "nodata"}
	o, ok := in.Observation(j.Metric)
	if !ok || !o.Canary.Observed || !o.Stable.Observed {
		d.Reason = "no samples for one of the versions"
		return d, false
	}
	c, s := j.clean(o.Canary.Samples), j.clean(o.Stable.Samples)
	need := j.MinSamples
	if need == 0 {
		need = 3
	}
	if len(c) < need || len(s) < need {
		d.Reason = fmt.Sprintf("%d canary and %d stable samples after cleaning, fewer than the %d needed", len(c), len(s), need)
		return d, false
	}
	r, err := stats.UTest(c, s, stats.UTestOptions{ConfLevel: conf, Method: method})
	if err != nil { // cannot happen after cleaning; never pass on it
		d.Reason = "test refused the samples: " + err.Error()
		return d, false
	}
	mc, ms := mean(c), mean(s)
	ratio := effectRatio(mc, ms)
	d.Value, d.Stable = ptr(mc), ptr(ms)
	d.Statistic, d.PValue, d.Count = ptr(r.W), ptr(r.PValue), int64(len(c))
	allowInc, allowDec := j.AllowedIncrease, j.AllowedDecrease
	if allowInc == 0 {
		allowInc = 1
	}
	if allowDec == 0 {
		allowDec = 1
	}
	d.Bound = fmt.Sprintf("%s%% CI of the shift [%s, %s] (estimate %s), mean ratio %s, allowed %s–%s",
		fmtg(100*r.ConfLevel), fmtg(r.Low), fmtg(r.High), fmtg(r.Estimate), fmtg(ratio), fmtg(allowDec), fmtg(allowInc))
	up := r.Low > 0
	down := r.High < 0
	// A NaN ratio (negative means) cannot clear the effect-size gate:
	// a significant shift then counts on its own.
	bigUp := math.IsNaN(ratio) || ratio >= allowInc
	bigDown := math.IsNaN(ratio) || ratio <= allowDec
	switch {
	case up && j.Direction != Decrease && bigUp:
		d.Class, d.Outcome = "high", Fail
		d.Reason = fmt.Sprintf("canary significantly higher (shift %s, ratio %s)", fmtg(r.Estimate), fmtg(ratio))
		crit = j.Critical || (j.CriticalIncrease > 0 && ratio >= j.CriticalIncrease)
	case down && j.Direction != Increase && bigDown:
		d.Class, d.Outcome = "low", Fail
		d.Reason = fmt.Sprintf("canary significantly lower (shift %s, ratio %s)", fmtg(r.Estimate), fmtg(ratio))
		crit = j.Critical || (j.CriticalDecrease > 0 && ratio <= j.CriticalDecrease)
	default:
		d.Class, d.Outcome = "pass", Pass
		d.Reason = fmt.Sprintf("no significant harmful shift (p = %.3g, ratio %s)", r.PValue, fmtg(ratio))
	}
	if crit {
		d.Reason += "; critical"
	}
	return d, crit
}
