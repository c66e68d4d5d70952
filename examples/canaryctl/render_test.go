package main

import (
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
)

// TestRenderShowsEvidence: with an analyzer that weighs evidence, the live
// screen shows progress towards each decision per metric and the requests
// still needed; the time is London's (BST in July).
func TestRenderShowsEvidence(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	v := view{name: "shop", now: now, stages: []int{10, 50},
		status: rollback.Status{Phase: rollback.Progressing, StageNumber: 1, Stages: 2, CanaryWeight: 10, FailureLimit: 1,
			Next: now.Add(30 * time.Second),
			Verdict: &analysis.Verdict{Outcome: analysis.Inconclusive, Reason: "not yet",
				Evidence: []analysis.Evidence{{Metric: "error-rate", Fail: 0.25, Pass: 0.6, Requests: 12345, More: 4200}}}}}
	got := render(v, nil, nil)
	for _, want := range []string{
		"canaryctl run shop   01/07/2026 13:00:00 BST",
		"evidence  error-rate     fail [###.......]  25 %  pass [######....]  60 %  12,345 requests, about 4,200 more requests",
		"next      analysis; next stage 50 % at 13:00:30 BST (in 30s)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("screen lacks %q:\n%s", want, got)
		}
	}
}
