package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/rollback"
)

// view is what the progress display shows.
type view struct {
	name   string
	status rollback.Status
	stages []int // the plan's weights
	recent []rollback.Event
	now    time.Time
	loc    *time.Location // where times are shown; nil: Europe/London
}

// progress shows a running rollout: redrawn in place on a terminal, plain
// lines otherwise.
type progress interface {
	note(msg string)
	event(e rollback.Event)
	stepErr(err error)
	update(v view)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newProgress returns the display of a running rollout, its times in loc
// (nil: Europe/London).
func newProgress(w io.Writer, tty bool, loc *time.Location) progress {
	if tty {
		return &liveView{w: w, loc: loc}
	}
	return &plainView{w: w, loc: loc}
}

// plainView writes one line per event and one per change of phase,
// weight or stage.
type plainView struct {
	w    io.Writer
	loc  *time.Location
	last string
}

func (p *plainView) note(msg string)        { fmt.Fprintln(p.w, msg) }
func (p *plainView) event(e rollback.Event) { fmt.Fprintln(p.w, eventLine(e, p.loc)) }
func (p *plainView) stepErr(err error) {
	if err != nil {
		fmt.Fprintln(p.w, "error (retried at the next round):", oneLine(err.Error()))
	}
}
func (p *plainView) update(v view) {
	s := v.status
	line := fmt.Sprintf("status: %s, canary %d %%, stage %d of %d, failures %d of %d", s.Phase, s.CanaryWeight, s.StageNumber, s.Stages, s.Failures, s.FailureLimit)
	if line != p.last {
		p.last = line
		fmt.Fprintln(p.w, line)
	}
}

// liveView redraws the whole screen, at most every 200 ms, or when
// something changed.
type liveView struct {
	w     io.Writer
	notes []string
	err   error
	drawn time.Time
	last  string
	loc   *time.Location
}

func (l *liveView) note(msg string) {
	l.notes = append(l.notes, msg)
	if len(l.notes) > 3 {
		l.notes = l.notes[1:]
	}
}
func (l *liveView) event(rollback.Event) {}
func (l *liveView) stepErr(err error)    { l.err = err }
func (l *liveView) update(v view) {
	v.loc = l.loc
	text := render(v, l.notes, l.err)
	if text == l.last && v.now.Sub(l.drawn) < time.Second {
		return
	}
	l.last, l.drawn = text, v.now
	// Home, clear the screen, draw.
	fmt.Fprint(l.w, "\x1b[H\x1b[2J"+strings.ReplaceAll(text, "\n", "\r\n"))
}

// render draws the progress screen.
func render(v view, notes []string, stepErr error) string {
	s := v.status
	var b strings.Builder
	fmt.Fprintf(&b, "canaryctl run %s   %s\n\n", v.name, fmtTime(v.now, v.loc))
	fmt.Fprintf(&b, "phase     %s\n", s.Phase)
	fmt.Fprintf(&b, "canary    %3d %%  %s  stage %d of %d\n", s.CanaryWeight, bar(float64(s.CanaryWeight)/100, 30), s.StageNumber, s.Stages)
	fmt.Fprintf(&b, "failures  %d of %d\n", s.Failures, s.FailureLimit)
	b.WriteString(evidenceText(s.Verdict))
	if c, ok := costText(s.Verdict); ok {
		fmt.Fprintf(&b, "cost      %s\n", c)
	}
	if s.Gate != nil {
		fmt.Fprintf(&b, "gate      %s: canary %d %% → %d %% waits for approval (canaryctl approve %s)\n", s.Gate.Kind, s.Gate.From, s.Gate.To, v.name)
	}
	if s.Reason != "" {
		fmt.Fprintf(&b, "reason    %s\n", display.Reason(s, v.loc))
	}
	fmt.Fprintf(&b, "next      %s\n", nextText(s, v.stages, v.now, v.loc))
	if stepErr != nil {
		fmt.Fprintf(&b, "error     %s\n", oneLine(stepErr.Error()))
	}
	b.WriteString("\nlast events\n")
	for _, e := range v.recent {
		fmt.Fprintf(&b, "  %s\n", oneLine(eventLine(e, v.loc)))
	}
	for _, n := range notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// evidenceText shows the evidence towards pass and fail per metric when the
// analyzer gives it, and the verdict's details otherwise.
func evidenceText(v *analysis.Verdict) string {
	if v == nil {
		return "evidence  no analysis yet\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "verdict   %s — %s\n", v.Outcome, oneLine(v.Reason))
	if len(v.Evidence) > 0 {
		for _, e := range v.Evidence {
			more := "decided"
			switch {
			case e.More < 0:
				more = "more needed: unknown"
			case e.More > 0:
				more = "about " + fmtNum(float64(e.More), 0) + " more requests"
			}
			fmt.Fprintf(&b, "evidence  %-14s fail %s %3.0f %%  pass %s %3.0f %%  %s requests, %s\n", e.Metric,
				bar(e.Fail, 10), 100*e.Fail, bar(e.Pass, 10), 100*e.Pass, fmtNum(float64(e.Requests), 0), more)
		}
		return b.String()
	}
	for _, d := range v.Details {
		val := "no data"
		if d.Value != nil {
			val = fmtNum(*d.Value, 4)
		}
		fmt.Fprintf(&b, "metric    %-14s %-12s %s %s", d.Metric, d.Outcome, val, d.Bound)
		if d.Count > 0 {
			fmt.Fprintf(&b, "  (%s requests)", fmtNum(float64(d.Count), 0))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// costText shows what the cost analyzer ([analysis.Cost]) found, when the
// verdict has its line with both versions' cost: stable's and the canary's
// cost per million requests and the difference, in the analyzer's currency
// (pounds by default), UK number format.
func costText(v *analysis.Verdict) (string, bool) {
	if v == nil {
		return "", false
	}
	for _, d := range v.Details {
		if d.Metric != analysis.CostMetric || d.Value == nil || d.Stable == nil {
			continue
		}
		p := analysis.Prices{Currency: d.Unit}
		c, st := *d.Value, *d.Stable
		sign := "+"
		if c < st {
			sign = "-"
		}
		diff := sign + p.Money(math.Abs(c-st))
		if st > 0 {
			diff += " (" + sign + display.FormatPercent(math.Abs(c/st-1)) + ")"
		}
		return fmt.Sprintf("per million requests: stable %s, canary %s, difference %s", p.Money(st), p.Money(c), diff), true
	}
	return "", false
}

func nextText(s rollback.Status, stages []int, now time.Time, loc *time.Location) string {
	if s.Phase.Final() {
		return "nothing: the rollout has finished"
	}
	if s.Next.IsZero() {
		return "waiting"
	}
	what := "analysis"
	if s.StageNumber < len(stages) && s.Phase == rollback.Progressing {
		what = fmt.Sprintf("analysis; next stage %d %%", stages[s.StageNumber])
	} else if s.Phase == rollback.Progressing || s.Phase == rollback.Pending {
		what = "analysis; then promotion to 100 %"
	}
	in := s.Next.Sub(now).Round(time.Second)
	if in < 0 {
		in = 0
	}
	return fmt.Sprintf("%s at %s (in %s)", what, fmtClock(s.Next, loc), in)
}

func bar(frac float64, width int) string {
	frac = min(max(frac, 0), 1)
	n := int(frac*float64(width) + 0.5)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
