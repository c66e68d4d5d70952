package spec_test

import (
	"errors"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
)

// A rollout file names analysis.HistoryRate after a blue/green switch
// under historyRate, with the analyzer's own keys; a bad setting is a
// FieldError under the file's path.
func TestPostPromotionHistoryRate(t *testing.T) {
	bluegreen := map[string]any{"strategy": "bluegreen", "blueGreen": map[string]any{"mirror": 10}}
	post := func(h map[string]any) map[string]any {
		m := shaped(t, bluegreen)
		m["analysis"].(map[string]any)["postPromotion"] = []any{map[string]any{"historyRate": h}}
		return m
	}
	ro, err := decode(t, post(map[string]any{"metric": "error-rate", "ratio": 3, "margin": 0.01, "alpha": 0.02, "beta": 0.05}))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ro.Core(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := analysis.HistoryRate{Metric: "error-rate", Ratio: 3, Margin: 0.01, Alpha: 0.02, Beta: 0.05}
	if h, ok := cfg.PostPromotionAnalyzer.(analysis.HistoryRate); !ok || h != want {
		t.Fatalf("PostPromotionAnalyzer = %#v, want %#v", cfg.PostPromotionAnalyzer, want)
	}
	for _, tc := range []struct {
		name, field string
		h           map[string]any
	}{
		{"unknown metric", "analysis.postPromotion[0].historyRate.metric", map[string]any{"metric": "p95"}},
		{"no metric", "analysis.postPromotion[0].historyRate.metric", map[string]any{"ratio": 2}},
		{"ratio", "analysis.postPromotion[0].historyRate.ratio", map[string]any{"metric": "error-rate", "ratio": 0.5}},
		{"beta", "analysis.postPromotion[0].historyRate.beta", map[string]any{"metric": "error-rate", "beta": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ro, err := decode(t, post(tc.h))
			if err == nil {
				_, err = ro.Core(nil)
			}
			var fe *canary.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("got %v, want a FieldError for %s", err, tc.field)
			}
		})
	}
}
