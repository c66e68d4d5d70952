package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/meshcanary/canary"
)

// All is the analyzer whose verdict is Fail when any part fails, Pass when
// every part passes, and Inconclusive otherwise. Its details are every
// part's details, in order. An empty All is refused.
func All(parts ...Analyzer) Analyzer { return compose{mode: "all", parts: parts} }

// Any is the analyzer whose verdict is Pass when any part passes, Fail when
// every part fails, and Inconclusive otherwise. An empty Any is refused.
func Any(parts ...Analyzer) Analyzer { return compose{mode: "any", parts: parts} }

type compose struct {
	mode  string
	parts []Analyzer
}

// runParts runs every part on in, handing each its own memory: a
// composition's memory is the JSON array of its parts' memories, in order
// (a part without memory has null), so that parts with evidence between
// analyses keep it inside All, Any and Scorecard.
func runParts(ctx context.Context, field string, parts []Analyzer, in Input) ([]Verdict, error) {
	if len(parts) == 0 {
		return nil, canary.Invalid(field, nil, "must have at least one analyzer")
	}
	var mems []json.RawMessage
	if len(in.Memory) > 0 {
		if err := json.Unmarshal(in.Memory, &mems); err != nil || len(mems) != len(parts) {
			mems = nil // another shape: every part starts afresh
		}
	}
	out := make([]Verdict, len(parts))
	for i, p := range parts {
		if p == nil {
			return nil, canary.Invalid(fmt.Sprintf("%s[%d]", field, i), nil, "must not be nil")
		}
		pin := in
		pin.Memory = nil
		if mems != nil && string(mems[i]) != "null" {
			pin.Memory = mems[i]
		}
		v, err := p.Analyze(ctx, pin)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// carry sets v's memory and evidence from its parts' verdicts.
func carry(v *Verdict, parts []Verdict) {
	mems := make([]json.RawMessage, len(parts))
	any := false
	for i, p := range parts {
		v.Evidence = append(v.Evidence, p.Evidence...)
		if len(p.Memory) > 0 {
			mems[i], any = p.Memory, true
		} else {
			mems[i] = json.RawMessage("null")
		}
	}
	if any {
		v.Memory, _ = json.Marshal(mems) // raw JSON from the parts: cannot fail
	}
}

func (c compose) Analyze(ctx context.Context, in Input) (Verdict, error) {
	vs, err := runParts(ctx, c.mode, c.parts, in)
	if err != nil {
		return Verdict{}, err
	}
	var v Verdict
	n := map[Outcome]int{}
	leaning, regressing := 0, false
	for _, p := range vs {
		n[p.Outcome]++
		regressing = regressing || p.Outcome == Inconclusive && p.Regressing
		if p.Outcome == Pass || p.Outcome == Inconclusive && p.Leaning {
			leaning++
		}
		v.Details = append(v.Details, p.Details...)
	}
	carry(&v, vs)
	if c.mode == "all" {
		switch {
		case n[Fail] > 0:
			v.Outcome = Fail
		case n[Pass] == len(vs):
			v.Outcome = Pass
		}
		v.Leaning = v.Outcome == Inconclusive && leaning == len(vs)
	} else {
		switch {
		case n[Pass] > 0:
			v.Outcome = Pass
		case n[Fail] == len(vs):
			v.Outcome = Fail
		}
		v.Leaning = v.Outcome == Inconclusive && leaning > 0
	}
	v.Regressing = v.Outcome == Inconclusive && regressing
	v.Reason = partsReason(v.Outcome, n, vs)
	return v, nil
}

// partsReason is a combined verdict's reason, a sentence a person reads:
// how many checks came out which way, then each check's own reason, the
// ones that decided first.
func partsReason(o Outcome, n map[Outcome]int, vs []Verdict) string {
	total := len(vs)
	var head string
	switch {
	case n[Pass] == total:
		head = fmt.Sprintf("all %d checks passed", total)
	case n[Fail] == total:
		head = fmt.Sprintf("all %d checks failed", total)
	default:
		var parts []string
		for _, k := range []struct {
			o    Outcome
			what string
		}{{Fail, "failed"}, {Pass, "passed"}, {Inconclusive, "undecided"}} {
			if n[k.o] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n[k.o], k.what))
			}
		}
		head = fmt.Sprintf("of %d checks, %s", total, strings.Join(parts, ", "))
	}
	var reasons []string
	for _, first := range []Outcome{o, Fail, Pass, Inconclusive} {
		for i, p := range vs {
			if p.Outcome == first && p.Reason != "" && !slices.Contains(reasons, vs[i].Reason) {
				reasons = append(reasons, p.Reason)
			}
		}
	}
	if len(reasons) == 0 {
		return head
	}
	return head + ": " + strings.Join(reasons, "; ")
}

// Part is one weighted part of a Scorecard analyzer.
type Part struct {
	Analyzer Analyzer
	Weight   float64
}

// Scorecard scores the canary by its parts' verdicts: a part scores its
// verdict's Score/100 when it has one, else 1 for Pass and 0 for Fail. An
// inconclusive part is counted both ways: the verdict is Pass only when the
// score reaches PassScore even with every inconclusive part scoring 0, and
// Fail only when it stays below MarginalScore even with every inconclusive
// part scoring 1 — so missing evidence can never make a verdict better.
// Scores are in [0, 100]; the weights must add up to 1.
type Scorecard struct {
	Parts []Part
	// PassScore and MarginalScore are in [0, 100]; zero means 75 and 50.
	PassScore     float64
	MarginalScore float64
}

// Validate reports the first bad field of w.
func (w Scorecard) Validate() error {
	if len(w.Parts) == 0 {
		return canary.Invalid("Scorecard.Parts", nil, "must have at least one part")
	}
	sum := 0.0
	for i, p := range w.Parts {
		if p.Analyzer == nil {
			return canary.Invalid(fmt.Sprintf("Scorecard.Parts[%d].Analyzer", i), nil, "must not be nil")
		}
		if !finite(p.Weight) || p.Weight < 0 {
			return canary.Invalid(fmt.Sprintf("Scorecard.Parts[%d].Weight", i), p.Weight, "must be a finite weight ≥ 0")
		}
		sum += p.Weight
	}
	if math.Abs(sum-1) > 1e-9 {
		return canary.Invalid("Scorecard.Parts", sum, "weights must add up to 1")
	}
	pass, marginal := w.scores()
	if !(pass >= 0 && pass <= 100) {
		return canary.Invalid("Scorecard.PassScore", w.PassScore, "must be in [0, 100]")
	}
	if !(marginal >= 0 && marginal <= pass) {
		return canary.Invalid("Scorecard.MarginalScore", w.MarginalScore, "must be in [0, PassScore]")
	}
	return nil
}

func (w Scorecard) scores() (pass, marginal float64) {
	pass, marginal = w.PassScore, w.MarginalScore
	if pass == 0 {
		pass = 75
	}
	if marginal == 0 {
		marginal = 50
	}
	return pass, marginal
}

// Analyze runs every part and scores them.
func (w Scorecard) Analyze(ctx context.Context, in Input) (Verdict, error) {
	if err := w.Validate(); err != nil {
		return Verdict{}, err
	}
	parts := make([]Analyzer, len(w.Parts))
	for i, p := range w.Parts {
		parts[i] = p.Analyzer
	}
	vs, err := runParts(ctx, "Scorecard.Parts", parts, in)
	if err != nil {
		return Verdict{}, err
	}
	var v Verdict
	carry(&v, vs)
	low, high := 0.0, 0.0
	for i, p := range vs {
		v.Details = append(v.Details, p.Details...)
		s := 0.0
		switch {
		case p.Outcome == Inconclusive:
			high += w.Parts[i].Weight * 100
			continue
		case p.Score != nil && finite(*p.Score):
			s = math.Max(0, math.Min(100, *p.Score))
		case p.Outcome == Pass:
			s = 100
		}
		low += w.Parts[i].Weight * s
		high += w.Parts[i].Weight * s
	}
	pass, marginal := w.scores()
	switch {
	case low >= pass:
		v.Outcome, v.Score = Pass, ptr(low)
		v.Reason = fmt.Sprintf("weighted score %s ≥ %s", fmtg(low), fmtg(pass))
	case high < marginal:
		v.Outcome, v.Score = Fail, ptr(high)
		v.Reason = fmt.Sprintf("weighted score %s < %s", fmtg(high), fmtg(marginal))
	default:
		v.Reason = fmt.Sprintf("weighted score between %s and %s: neither ≥ %s nor surely < %s", fmtg(low), fmtg(high), fmtg(pass), fmtg(marginal))
	}
	return v, nil
}
