package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/meshcanary/canary"
)

// ResourcePer is what a resource metric is divided by before the canary is
// compared with stable.
type ResourcePer int

const (
	// ResourcePerRequest (the zero value) divides by the requests each
	// version served in the window (Resources.Requests): the right unit for
	// CPU, which grows with load. A canary at 10 % of the traffic uses less
	// CPU in total; per request it uses the same, and that is what counts.
	ResourcePerRequest ResourcePer = iota
	// ResourcePerReplica divides by each version's pods (Resources.Replicas):
	// the unit for memory, which a pod holds whatever its load.
	ResourcePerReplica
)

func (p ResourcePer) String() string {
	switch p {
	case ResourcePerRequest:
		return "per request"
	case ResourcePerReplica:
		return "per replica"
	}
	return "ResourcePer(" + strconv.Itoa(int(p)) + ")"
}

// ResourceUsage is one resource metric judged by Resources: the metric's
// Canary and Stable values are each version's total use over the window
// (cores, bytes), as the resource templates give them.
type ResourceUsage struct {
	Metric string      `json:"metric"`
	Per    ResourcePer `json:"per,omitempty"`
	// Tolerance and FailMargin override Resources' for this metric when
	// non-zero.
	Tolerance  float64 `json:"tolerance,omitempty"`
	FailMargin float64 `json:"failMargin,omitempty"`
}

// Resources judges the canary's resource use against stable's, per replica
// or per request served, with the three outcomes of the other analyzers:
//
//   - Fail: evidence that the canary uses more than (1 + FailMargin) × what
//     stable uses per unit, or any restart or OOM kill of the canary (a
//     Faults metric whose canary value is above zero) — a Fail on its own,
//     at the first look that shows it;
//   - Pass: evidence that it uses less than (1 + Tolerance) × stable's per
//     unit (non-inferiority), and no fault seen in this window;
//   - Inconclusive: neither yet.
//
// # Method: a sign test made anytime-valid
//
// A resource metric gives one total per version per window, not samples,
// so the unit of evidence is the look: at each analysis the ratio
// r = canary per unit / stable per unit is read once. Assume that, given
// the past, log r is the true log ratio plus noise whose median is zero
// (symmetric noise, such as the jitter of CPU sampling, qualifies). Then
// under the Fail null "true ratio ≤ 1 + FailMargin" each look has
// P(r > 1 + FailMargin) ≤ ½, and under the Pass null "true ratio ≥
// 1 + Tolerance" each has P(r < 1 + Tolerance) ≤ ½. For indicator
// outcomes X_t with P(X_t = 1 | past) ≤ ½, the product
//
//	E_n = ∏_{t ≤ n} 2 · (q_t if X_t = 1, else 1 − q_t)
//
// with q_t ∈ [½, 1) chosen from looks before t only, is a non-negative
// supermartingale with E_0 = 1 (each factor has conditional mean
// 2(pq + (1−p)(1−q)) ≤ 1 when p ≤ ½ ≤ q), so by Ville's inequality
// P(E_n ever ≥ 1/α) ≤ α: looking at every interval keeps the error rate.
// This is the betting view of testing (Shafer and Vovk, "Game-Theoretic
// Foundations for Probability and Finance", 2019; Waudby-Smith and Ramdas,
// "Estimating means of bounded random variables by betting", JRSS B 2024)
// applied to the signs of the looks, as in the classical sign test.
// q_t is a Krichevsky–Trofimov-style estimate of the rate of X = 1 over
// the last five looks, (k + 1)/(n + 1.25), clamped to [½, 0.95] (any bet
// fixed before the look keeps the guarantee; a recent one follows a trend
// such as a leak): with every look one way, E passes 1/0.05 = 20 at the
// sixth look. The canary fails when E_fail ≥ 1/Alpha, and a Fail stands
// for the rest of the step; it passes while E_pass ≥ 1/Beta, so looks
// against it after a Pass take the Pass back. A slow leak can be within
// the tolerance for a whole step and pass it; the evidence of the next
// step starts afresh and catches it there.
//
// The evidence lives in Verdict.Memory (counts and two log e-values per
// metric, bounded whatever the traffic) and starts afresh when Input.Stage
// changes, so evidence gathered at a lower weight cannot carry the canary
// past a regression at a higher one. A look where either version has no
// data, no replicas, or fewer than MinRequests requests (for per-request
// metrics) adds nothing.
//
// Resources reads the short-window Canary and Stable measurements of the
// named metrics: for usage metrics the version's total (Value), for
// Replicas its pod count (Value), for Requests the requests it served in
// the window (Value, else Count), for Faults the restarts or OOM kills in
// the window (Value). The zero Resources judges nothing and is refused.
type Resources struct {
	Usage  []ResourceUsage `json:"usage,omitempty"`
	Faults []string        `json:"faults,omitempty"`
	// Replicas and Requests name the metrics that usage is divided by; a
	// ResourcePerReplica usage needs Replicas, a ResourcePerRequest usage
	// needs Requests.
	Replicas string `json:"replicas,omitempty"`
	Requests string `json:"requests,omitempty"`
	// Tolerance is the non-inferiority margin: Pass is evidence that the
	// canary uses less than (1 + Tolerance) × stable's per unit. Zero
	// means 0.25.
	Tolerance float64 `json:"tolerance,omitempty"`
	// FailMargin is the margin of the Fail null: Fail is evidence that the
	// canary uses more than (1 + FailMargin) × stable's. Zero means 0.1;
	// use a negative value for exactly zero (any excess).
	FailMargin float64 `json:"failMargin,omitempty"`
	// Alpha bounds the chance of a false Fail and Beta of a false Pass,
	// over all looks of a step; zero means 0.05 for each.
	Alpha float64 `json:"alpha,omitempty"`
	Beta  float64 `json:"beta,omitempty"`
	// MinRequests is the fewest requests each version must have served in
	// the window for a per-request look to count; zero means 100.
	MinRequests int64 `json:"minRequests,omitempty"`
}

func (r Resources) withDefaults() Resources {
	if r.Tolerance == 0 {
		r.Tolerance = 0.25
	}
	if r.FailMargin == 0 {
		r.FailMargin = 0.1
	} else if r.FailMargin < 0 {
		r.FailMargin = 0
	}
	if r.Alpha == 0 {
		r.Alpha = 0.05
	}
	if r.Beta == 0 {
		r.Beta = 0.05
	}
	if r.MinRequests == 0 {
		r.MinRequests = 100
	}
	return r
}

// Validate reports the first bad field of r.
func (r Resources) Validate() error {
	if len(r.Usage) == 0 && len(r.Faults) == 0 {
		return canary.Invalid("Resources.Usage", nil, "judges nothing: give Usage or Faults metrics")
	}
	switch {
	case r.Tolerance < 0 || math.IsNaN(r.Tolerance) || math.IsInf(r.Tolerance, 0):
		return canary.Invalid("Resources.Tolerance", r.Tolerance, "must be a positive fraction, 0 meaning 0.25")
	case math.IsNaN(r.FailMargin) || math.IsInf(r.FailMargin, 0):
		return canary.Invalid("Resources.FailMargin", r.FailMargin, "must be a number")
	case r.Alpha < 0 || r.Alpha >= 1 || math.IsNaN(r.Alpha):
		return canary.Invalid("Resources.Alpha", r.Alpha, "must be in (0, 1), 0 meaning 0.05")
	case r.Beta < 0 || r.Beta >= 1 || math.IsNaN(r.Beta):
		return canary.Invalid("Resources.Beta", r.Beta, "must be in (0, 1), 0 meaning 0.05")
	case r.MinRequests < 0:
		return canary.Invalid("Resources.MinRequests", r.MinRequests, "must not be negative")
	}
	seen := map[string]bool{}
	for i, u := range r.Usage {
		f := fmt.Sprintf("Resources.Usage[%d]", i)
		switch {
		case u.Metric == "":
			return canary.Invalid(f+".Metric", u.Metric, "must not be empty")
		case seen[u.Metric]:
			return canary.Invalid(f+".Metric", u.Metric, "is judged twice")
		case u.Per != ResourcePerRequest && u.Per != ResourcePerReplica:
			return canary.Invalid(f+".Per", int(u.Per), "must be ResourcePerRequest or ResourcePerReplica")
		case u.Per == ResourcePerRequest && r.Requests == "":
			return canary.Invalid("Resources.Requests", r.Requests, "must name the requests metric: %s is judged per request", u.Metric)
		case u.Per == ResourcePerReplica && r.Replicas == "":
			return canary.Invalid("Resources.Replicas", r.Replicas, "must name the replicas metric: %s is judged per replica", u.Metric)
		case u.Tolerance < 0 || math.IsNaN(u.Tolerance) || math.IsInf(u.Tolerance, 0):
			return canary.Invalid(f+".Tolerance", u.Tolerance, "must be a positive fraction, 0 meaning Resources.Tolerance")
		case math.IsNaN(u.FailMargin) || math.IsInf(u.FailMargin, 0):
			return canary.Invalid(f+".FailMargin", u.FailMargin, "must be a number")
		}
		seen[u.Metric] = true
	}
	for i, m := range r.Faults {
		if m == "" {
			return canary.Invalid(fmt.Sprintf("Resources.Faults[%d]", i), m, "must not be empty")
		}
		if seen[m] {
			return canary.Invalid(fmt.Sprintf("Resources.Faults[%d]", i), m, "is judged twice")
		}
		seen[m] = true
	}
	return nil
}

// resState is one usage metric's evidence in the current step.
type resState struct {
	Looks    int     `json:"n"`
	Over     int     `json:"over"`  // looks with ratio > 1 + FailMargin
	Within   int     `json:"under"` // looks with ratio < 1 + Tolerance
	LogFail  float64 `json:"lf"`
	LogPass  float64 `json:"lp"`
	Requests int64   `json:"req"` // canary requests behind the looks
	Failed   bool    `json:"failed,omitempty"`
	// OverBits and WithinBits hold the last resRecent looks' outcomes
	// (bit 0 the latest), for the bets.
	OverBits   uint8 `json:"ob"`
	WithinBits uint8 `json:"wb"`
}

type resMemory struct {
	// Step is Input.Stage; the key stays "step" so that saved memory decodes.
	Step    int                  `json:"step"`
	Metrics map[string]*resState `json:"metrics"`
}

// lean says whether the evidence of a usage metric leans towards "no
// excess use" — nothing failed, the Pass bet stands at least as high as
// the Fail bet, and the latest look was within the tolerance — and whether
// the latest two looks were both above the fail margin (evidence pointing
// to excess use that is not proven yet).
func (st *resState) lean() (leans, regresses bool) {
	if st.Failed || st.Looks == 0 {
		return false, false
	}
	regresses = st.Looks >= 2 && st.OverBits&3 == 3
	leans = !regresses && st.LogPass >= st.LogFail && st.WithinBits&1 == 1
	return leans, regresses
}

// resMaxQ caps the bet, so that one contrary look cannot wipe the evidence
// out entirely (its factor is 2 × 0.05 = 0.1).
const resMaxQ = 0.95

// resRecent is how many past looks the bet is estimated from.
const resRecent = 5

// resBet is the predictable bet q_t from the recent looks' outcomes
// (bits) out of n looks so far.
func resBet(bits uint8, n int) float64 {
	n = min(n, resRecent)
	k := 0
	for i := range n {
		k += int(bits >> i & 1)
	}
	return min(max((float64(k)+1)/(float64(n)+1.25), 0.5), resMaxQ)
}

// Analyze judges the canary's resource use. See Resources.
func (r Resources) Analyze(ctx context.Context, in Input) (Verdict, error) {
	if err := ctx.Err(); err != nil {
		return Verdict{}, err
	}
	if err := r.Validate(); err != nil {
		return Verdict{}, err
	}
	c := r.withDefaults()
	mem := resMemory{Step: in.Stage, Metrics: map[string]*resState{}}
	if len(in.Memory) > 0 {
		var prev resMemory
		if err := json.Unmarshal(in.Memory, &prev); err != nil {
			return Verdict{}, canary.Invalid("Input.Memory", nil, "is not the memory of a Resources analyzer: %v", err)
		}
		if prev.Step == in.Stage && prev.Metrics != nil {
			mem = prev
		}
	}
	var v Verdict
	fail, pass := 0, 0
	leaning, regressing := true, false
	for _, name := range c.Faults {
		d, ev := c.fault(in, name)
		v.Details = append(v.Details, d)
		v.Evidence = append(v.Evidence, ev)
		leaning = leaning && d.Outcome == Pass
		switch d.Outcome {
		case Fail:
			fail++
		case Pass:
			pass++
		}
	}
	for _, u := range c.Usage {
		st := mem.Metrics[u.Metric]
		if st == nil {
			st = &resState{}
			mem.Metrics[u.Metric] = st
		}
		d, ev := c.usage(in, u, st)
		v.Details = append(v.Details, d)
		v.Evidence = append(v.Evidence, ev)
		leans, regresses := st.lean()
		leaning = leaning && (d.Outcome == Pass || leans)
		regressing = regressing || regresses
		switch d.Outcome {
		case Fail:
			fail++
		case Pass:
			pass++
		}
	}
	total := len(c.Faults) + len(c.Usage)
	switch {
	case fail > 0:
		v.Outcome = Fail
		var names []string
		for _, d := range v.Details {
			if d.Outcome == Fail {
				names = append(names, d.Metric)
			}
		}
		v.Reason = "canary uses more resources than stable, or restarted: " + strings.Join(names, ", ")
	case pass == total:
		v.Outcome = Pass
		v.Reason = "canary's resource use is no worse than stable's beyond the tolerance, and it did not restart"
	default:
		v.Outcome = Inconclusive
		v.Reason = fmt.Sprintf("%d of %d resource checks decided; not enough evidence yet", pass, total)
		// The same footing as the rate metrics (Verdict.Leaning,
		// Regressing): a rollout may raise the weight on leaning evidence
		// and takes it back when the latest looks point to excess use.
		v.Leaning, v.Regressing = leaning && !regressing, regressing
		switch {
		case v.Regressing:
			v.Reason += "; the latest looks point to more use than stable's"
		case v.Leaning:
			v.Reason += ", leaning to no excess use"
		}
	}
	b, err := json.Marshal(mem)
	if err != nil {
		return Verdict{}, err
	}
	v.Memory = b
	return v, nil
}

func (c Resources) fault(in Input, name string) (Detail, Evidence) {
	d := Detail{Metric: name, Bound: "= 0"}
	ev := Evidence{Metric: name, More: -1}
	o, ok := in.Observation(name)
	if !ok || !o.Canary.Observed || math.IsNaN(o.Canary.Value) {
		d.Outcome, d.Class, d.Reason = Inconclusive, "nodata", "no data for the canary"
		return d, ev
	}
	d.Value = ptr(o.Canary.Value)
	if o.Stable.Observed {
		d.Stable = ptr(o.Stable.Value)
	}
	if o.Canary.Value > 0 {
		d.Outcome, d.Class = Fail, "high"
		d.Reason = fmt.Sprintf("the canary restarted or was OOM-killed %s times in the window; that fails it on its own", fmtg(o.Canary.Value))
		ev.Fail, ev.More = 1, 0
		return d, ev
	}
	d.Outcome, d.Class, d.Reason = Pass, "pass", "none in the window"
	ev.Pass, ev.More = 1, 0
	return d, ev
}

// perUnit returns a version's use per unit, and false with a reason when
// the look cannot count.
func (c Resources) perUnit(in Input, use Measurement, per ResourcePer, version string, pick func(Observation) Measurement) (float64, int64, string) {
	if !use.Observed || math.IsNaN(use.Value) || math.IsInf(use.Value, 0) || use.Value < 0 {
		return 0, 0, "no usable data for " + version
	}
	var requests int64
	if o, ok := in.Observation(c.Requests); ok && c.Requests != "" {
		if m := pick(o); m.Observed && m.Value >= 0 && !math.IsInf(m.Value, 0) {
			requests = int64(math.Round(m.Value))
		} else if m.Count > 0 {
			requests = m.Count
		}
	}
	unitName, metric := "requests", c.Requests
	if per == ResourcePerReplica {
		unitName, metric = "replicas", c.Replicas
	}
	o, ok := in.Observation(metric)
	if !ok {
		return 0, requests, "no " + unitName + " for " + version
	}
	m := pick(o)
	units := m.Value
	if per == ResourcePerRequest && !m.Observed && m.Count > 0 {
		units = float64(m.Count)
	} else if !m.Observed {
		return 0, requests, "no " + unitName + " for " + version
	}
	if per == ResourcePerRequest && units < float64(c.MinRequests) {
		return 0, requests, fmt.Sprintf("%s served %s requests, fewer than %d", version, fmtg(units), c.MinRequests)
	}
	if !(units > 0) || math.IsInf(units, 0) {
		return 0, requests, "no " + unitName + " for " + version
	}
	return use.Value / units, requests, ""
}

func (c Resources) usage(in Input, u ResourceUsage, st *resState) (Detail, Evidence) {
	tol, margin := c.Tolerance, c.FailMargin
	if u.Tolerance > 0 {
		tol = u.Tolerance
	}
	if u.FailMargin > 0 {
		margin = u.FailMargin
	} else if u.FailMargin < 0 {
		margin = 0
	}
	d := Detail{Metric: u.Metric, Bound: fmt.Sprintf("< %s × stable %s (fail above %s ×)", fmtg(1+tol), u.Per, fmtg(1+margin))}
	logA, logB := math.Log(1/c.Alpha), math.Log(1/c.Beta)
	evidence := func() Evidence {
		ev := Evidence{Metric: u.Metric, Requests: st.Requests, More: -1,
			Fail: min(max(st.LogFail/logA, 0), 1), Pass: min(max(st.LogPass/logB, 0), 1)}
		if st.Failed {
			ev.Fail = 1
		}
		passed := !st.Failed && st.LogPass >= logB
		if passed {
			ev.Pass = 1
		}
		switch {
		case st.Failed || passed:
			ev.More = 0
		case st.Looks > 0 && st.Requests > 0:
			// Looks still needed if every further look went the Pass way at
			// the largest bet, times the canary requests a look has had.
			looks := math.Ceil((logB - st.LogPass) / math.Log(2*resMaxQ))
			ev.More = int64(looks) * (st.Requests / int64(st.Looks))
		}
		return ev
	}
	decided := func() {
		switch {
		case st.Failed:
			d.Outcome, d.Class = Fail, "high"
			d.Reason = fmt.Sprintf("evidence that the canary uses more than %s × stable's %s (e-value %s ≥ %s over %d looks)",
				fmtg(1+margin), u.Per, fmtg(math.Exp(st.LogFail)), fmtg(1/c.Alpha), st.Looks)
		case st.LogPass >= logB:
			d.Outcome, d.Class = Pass, "pass"
			d.Reason = fmt.Sprintf("evidence that the canary uses less than %s × stable's %s (e-value %s ≥ %s over %d looks)",
				fmtg(1+tol), u.Per, fmtg(math.Exp(st.LogPass)), fmtg(1/c.Beta), st.Looks)
		}
	}
	o, ok := in.Observation(u.Metric)
	if !ok {
		o = Observation{Metric: u.Metric}
	}
	cu, creq, why := c.perUnit(in, o.Canary, u.Per, "the canary", func(o Observation) Measurement { return o.Canary })
	var su float64
	if why == "" {
		su, _, why = c.perUnit(in, o.Stable, u.Per, "stable", func(o Observation) Measurement { return o.Stable })
	}
	if why == "" && !(su > 0) {
		why = "stable used none"
	}
	if why != "" {
		d.Outcome, d.Class, d.Reason = Inconclusive, "nodata", why+"; this look adds no evidence"
		decided()
		return d, evidence()
	}
	ratio := cu / su
	d.Value, d.Stable, d.Score = ptr(cu), ptr(su), ptr(ratio)
	d.Count = creq
	if !st.Failed {
		over := ratio > 1+margin
		within := ratio < 1+tol
		bet := func(logE *float64, bits *uint8, count *int, hit bool) {
			q := resBet(*bits, st.Looks)
			*bits <<= 1
			if hit {
				*logE += math.Log(2 * q)
				*count++
				*bits |= 1
			} else {
				*logE += math.Log(2 * (1 - q))
			}
		}
		bet(&st.LogFail, &st.OverBits, &st.Over, over)
		bet(&st.LogPass, &st.WithinBits, &st.Within, within)
		st.Looks++
		st.Requests += creq
		st.Failed = st.LogFail >= logA
	}
	d.Statistic = ptr(math.Exp(st.LogFail))
	d.Outcome, d.Class = Inconclusive, "inconclusive"
	d.Reason = fmt.Sprintf("canary/stable %s = %s; %d of %d looks above %s ×, %d below %s ×",
		u.Per, fmtg(ratio), st.Over, st.Looks, fmtg(1+margin), st.Within, fmtg(1+tol))
	decided()
	return d, evidence()
}
