package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/rollback"
)

// Decision is the kind of decision a Message reports.
type Decision string

// The decisions people are told about, one message each.
const (
	Started     Decision = "started"        // the rollout left pending
	Advanced    Decision = "stage-advanced" // the canary's weight went up a stage
	NeedsPerson Decision = "paused"         // paused, or waiting for an approval
	FailedCheck Decision = "failed-check"   // an analysis failed
	RolledBack  Decision = "rolled-back"    // the decision to roll back
	Promoted    Decision = "promoted"       // every request goes to the canary
)

// Message is one decision, as sent.
type Message struct {
	Rollout  string    `json:"rollout"`
	Decision Decision  `json:"decision"`
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	// TimeText is Time as people read it, in Config.Location
	// (Europe/London by default).
	TimeText   string `json:"timeText"`
	Title      string `json:"title"`
	WeightFrom int    `json:"weightFrom"`
	WeightTo   int    `json:"weightTo"`
	Actor      string `json:"actor,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Evidence is one line per metric of the last analysis: its value
	// against its bound, the canary requests behind it and, where the
	// analyzer weighs evidence, how far it stands from each decision.
	Evidence []string `json:"evidence,omitempty"`
	// Report links to the rollout's report; empty when none is known.
	Report string `json:"report,omitempty"`
}

// decide returns the decision e records, if any.
func decide(e rollback.Event) (Decision, bool) {
	switch e.Kind {
	case rollback.KindAnalysis:
		if e.Verdict != nil && e.Verdict.Outcome == analysis.Fail {
			return FailedCheck, true
		}
	case rollback.KindTransition:
		switch {
		case e.From == rollback.Pending:
			return Started, true
		case e.To == rollback.Paused || e.To == rollback.AwaitingApproval:
			return NeedsPerson, true
		case e.To == rollback.RollingBack:
			return RolledBack, true
		case e.To == rollback.Succeeded:
			return Promoted, true
		case e.To == rollback.Progressing && e.WeightTo > e.WeightFrom:
			return Advanced, true
		}
	}
	return "", false
}

var titles = map[Decision]string{
	Started:     "rollout started",
	Advanced:    "stage advanced",
	NeedsPerson: "waiting for a person",
	FailedCheck: "failed check",
	RolledBack:  "rolled back",
	Promoted:    "promoted",
}

// evidence renders a verdict's details and evidence, one line per metric.
func evidence(v *analysis.Verdict) []string {
	if v == nil {
		return nil
	}
	var out []string
	for _, d := range v.Details {
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %s", d.Metric, d.Outcome)
		if d.Value != nil {
			fmt.Fprintf(&b, ", %s", display.FormatNumber(*d.Value, 4))
		}
		if d.Bound != "" {
			fmt.Fprintf(&b, " (bound %s)", d.Bound)
		}
		if d.Count > 0 {
			fmt.Fprintf(&b, ", %s requests", display.FormatNumber(float64(d.Count), 0))
		}
		for _, e := range v.Evidence {
			if e.Metric == d.Metric {
				fmt.Fprintf(&b, ", %s of the way to a fail and %s to a pass on %s canary requests",
					display.FormatPercent(e.Fail), display.FormatPercent(e.Pass), display.FormatNumber(float64(e.Requests), 0))
			}
		}
		if d.Reason != "" && d.Outcome != analysis.Pass {
			fmt.Fprintf(&b, " — %s", d.Reason)
		}
		out = append(out, display.OneLine(b.String()))
	}
	return out
}

// compose builds the message for e, with the evidence of last (the
// rollout's last analysis) when e carries none, its time in loc (nil:
// Europe/London).
func compose(d Decision, e rollback.Event, last *analysis.Verdict, report string, loc *time.Location) Message {
	v := e.Verdict
	if v == nil {
		v = last
	}
	reason := e.Reason
	if reason == "" && e.Verdict != nil {
		reason = e.Verdict.Reason
	}
	return Message{
		Rollout: e.Rollout, Decision: d, Seq: e.Seq, Time: e.Time.UTC(), TimeText: display.FormatTimeIn(e.Time, loc),
		Title:      fmt.Sprintf("%s: %s", e.Rollout, titles[d]),
		WeightFrom: e.WeightFrom, WeightTo: e.WeightTo, Actor: e.Actor,
		Reason:   display.OneLine(reason),
		Evidence: evidence(v),
		Report:   report,
	}
}

// Text renders m on a few lines for people.
func (m Message) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s at %s, canary %d %% → %d %%", m.Title, m.TimeText, m.WeightFrom, m.WeightTo)
	if m.Actor != "" {
		fmt.Fprintf(&b, " by %s", m.Actor)
	}
	if m.Reason != "" {
		fmt.Fprintf(&b, "\n%s", m.Reason)
	}
	for _, l := range m.Evidence {
		fmt.Fprintf(&b, "\n• %s", l)
	}
	if m.Report != "" {
		fmt.Fprintf(&b, "\nReport: %s", m.Report)
	}
	return b.String()
}
