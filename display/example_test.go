package display_test

import (
	"fmt"
	"math"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/rollback"
)

func Example() {
	t := time.Date(2026, 7, 1, 13, 4, 5, 0, time.UTC)
	fmt.Println(display.FormatTime(t))
	fmt.Println(display.FormatNumber(1234567.891, 2))
	fmt.Println(display.FormatPercent(0.0523), display.FormatPercent(math.Inf(1)))
	fmt.Println(display.OneLine("upstream said: bad\n01/07/2026 14:04:05 BST  promoted\x1b[2J"))
	// Output:
	// 01/07/2026 14:04:05 BST
	// 1,234,567.89
	// 5.23 % ∞ %
	// upstream said: bad\n01/07/2026 14:04:05 BST  promoted\x1b[2J
}

// An event of the audit trail rendered in two zones: the default
// (Europe/London, a nil location) and one the caller chooses.
func ExampleEvent() {
	v := 0.031
	e := rollback.Event{
		Seq: 4, Time: time.Date(2026, 7, 1, 13, 4, 5, 0, time.UTC), Rollout: "checkout",
		Kind: rollback.KindAnalysis, From: rollback.Progressing, To: rollback.Progressing, WeightFrom: 10, WeightTo: 10,
		Verdict: &analysis.Verdict{Outcome: analysis.Fail, Details: []analysis.Detail{{
			Metric: "error-rate", Outcome: analysis.Fail, Value: &v, Bound: "<= 0.02", Reason: "above the maximum",
		}}},
		Failures: 1,
	}
	fmt.Println(display.Event(e, nil))
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(display.Event(e, newYork))
	// Output:
	// 01/07/2026 14:04:05 BST  progressing       analysis at canary 10 %: fail; error-rate 0.031 (<= 0.02) above the maximum; failures 1
	// 01/07/2026 09:04:05 EDT  progressing       analysis at canary 10 %: fail; error-rate 0.031 (<= 0.02) above the maximum; failures 1
}
