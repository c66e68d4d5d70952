package analysis_test

import (
	"context"
	"strings"
	"testing"

	"github.com/meshcanary/canary/analysis"
)

func said(o analysis.Outcome, leaning bool, reason string) analysis.Analyzer {
	return analysis.AnalyzerFunc(func(context.Context, analysis.Input) (analysis.Verdict, error) {
		return analysis.Verdict{Outcome: o, Leaning: leaning, Reason: reason}, nil
	})
}

// TestCompositionReasonIsASentence (issue 19, item 15): a combined
// verdict's reason says how many checks went which way and why, with no
// internal indices ("all[0] fail").
func TestCompositionReasonIsASentence(t *testing.T) {
	a := analysis.All(said(analysis.Pass, false, "error rate fine"), said(analysis.Fail, false, "latency doubled"),
		said(analysis.Inconclusive, false, "too few requests"))
	v, err := a.Analyze(context.Background(), analysis.Input{})
	if err != nil {
		t.Fatal(err)
	}
	want := "of 3 checks, 1 failed, 1 passed, 1 undecided: latency doubled; error rate fine; too few requests"
	if v.Reason != want {
		t.Errorf("reason %q, want %q", v.Reason, want)
	}
	for _, bad := range []string{"all[", "any[", "] fail", "] pass"} {
		if strings.Contains(v.Reason, bad) {
			t.Errorf("reason %q shows %q", v.Reason, bad)
		}
	}
	v, _ = analysis.Any(said(analysis.Pass, false, "ok"), said(analysis.Pass, false, "fine")).Analyze(context.Background(), analysis.Input{})
	if v.Reason != "all 2 checks passed: ok; fine" {
		t.Errorf("reason %q", v.Reason)
	}
}

// TestCompositionLeaning: All leans when every part passes or leans and
// none failed; Any when one does; a Pass or a Fail never "leans" on top.
func TestCompositionLeaning(t *testing.T) {
	P, L, I, F := said(analysis.Pass, false, "p"), said(analysis.Inconclusive, true, "l"),
		said(analysis.Inconclusive, false, "i"), said(analysis.Fail, false, "f")
	for _, tc := range []struct {
		name string
		a    analysis.Analyzer
		want bool
	}{
		{"all pass and lean", analysis.All(P, L), true},
		{"all lean", analysis.All(L, L), true},
		{"all with one undecided", analysis.All(P, L, I), false},
		{"all with a fail", analysis.All(L, F), false},
		{"all pass is a pass", analysis.All(P, P), false},
		{"any lean", analysis.Any(I, L), true},
		{"any undecided", analysis.Any(I, F), false},
	} {
		v, err := tc.a.Analyze(context.Background(), analysis.Input{})
		if err != nil {
			t.Fatal(err)
		}
		if v.Leaning != tc.want {
			t.Errorf("%s: leaning %v (%v), want %v", tc.name, v.Leaning, v.Outcome, tc.want)
		}
	}
}
