package display

import (
	"fmt"
	"strings"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
)

// Event writes e for people on one line: the time in loc as FormatTimeIn
// writes it (a nil loc means the default location, Europe/London), the
// phase after the event, then what the event records: a transition with
// the canary's weights, an analysis with each metric's value in UK format
// (four decimals at most), its bound and, when it did not pass, its
// reason, an action with the split it wrote, a failure with its repeat
// count, an alert; then the actor and the reason. The whole line passes
// through OneLine, so a back end's error text cannot break it or drive a
// terminal.
//
//	01/07/2026 14:00:00 BST  progressing       analysis at canary 10 %: fail; error-rate 0.05 (<= 0.02) 0.05 is above the maximum 0.02
func Event(e rollback.Event, loc *time.Location) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-17s", FormatTimeIn(e.Time, loc), e.To)
	switch e.Kind {
	case rollback.KindTransition:
		fmt.Fprintf(&b, " %s → %s", e.From, e.To)
		if e.WeightFrom != e.WeightTo {
			fmt.Fprintf(&b, ", canary %d %% → %d %%", e.WeightFrom, e.WeightTo)
		}
	case rollback.KindAnalysis:
		if e.Verdict != nil {
			fmt.Fprintf(&b, " analysis at canary %d %%: %s", e.WeightTo, e.Verdict.Outcome)
			for _, d := range e.Verdict.Details {
				fmt.Fprintf(&b, "; %s", d.Metric)
				if d.Value != nil {
					fmt.Fprintf(&b, " %s", FormatNumber(*d.Value, 4))
				}
				if d.Bound != "" {
					fmt.Fprintf(&b, " (%s)", d.Bound)
				}
				if d.Outcome != analysis.Pass {
					fmt.Fprintf(&b, " %s", d.Reason)
				}
			}
			if e.Failures > 0 {
				fmt.Fprintf(&b, "; failures %d", e.Failures)
			}
		}
	case rollback.KindAction:
		fmt.Fprintf(&b, " %s", e.Action)
		if e.Split != nil {
			fmt.Fprintf(&b, " %v", *e.Split)
		}
	case rollback.KindManual:
		fmt.Fprintf(&b, " %s", e.Action)
	case rollback.KindFailure:
		fmt.Fprintf(&b, " %s failed: %s", e.Action, e.Error)
		if e.Repeats > 0 {
			fmt.Fprintf(&b, " (%d times)", e.Repeats)
		}
	case rollback.KindAlert:
		fmt.Fprintf(&b, " alert %s", e.Action)
	}
	if e.Actor != "" {
		fmt.Fprintf(&b, " by %s", e.Actor)
	}
	if e.Reason != "" && e.Kind != rollback.KindAnalysis {
		fmt.Fprintf(&b, " — %s", e.Reason)
	}
	return OneLine(b.String())
}
