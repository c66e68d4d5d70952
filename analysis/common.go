package analysis

import (
	"fmt"
	"strconv"
)

// Direction says which change of a metric is bad. The zero Direction is
// Increase (error rates, latencies).
type Direction int

const (
	// Increase: a higher canary value is bad (errors, latency).
	Increase Direction = iota
	// Decrease: a lower canary value is bad (success rate, throughput).
	Decrease
	// Either: a change either way is bad.
	Either
)

func (d Direction) String() string {
	switch d {
	case Increase:
		return "increase"
	case Decrease:
		return "decrease"
	case Either:
		return "either"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

func (d Direction) valid() bool { return d >= Increase && d <= Either }

func fmtg(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// usable reports why m cannot be judged ("" when it can): not observed, not
// a number, a negative count, or fewer than minCount events.
func usable(m Measurement, minCount int64) string {
	switch {
	case !m.Observed:
		return "no data"
	case !finite(m.Value):
		return fmt.Sprintf("value %v is not a number", m.Value)
	case m.Count < 0:
		return fmt.Sprintf("negative request count %d", m.Count)
	case minCount > 0 && m.Count < minCount:
		return fmt.Sprintf("%d requests, fewer than the %d needed", m.Count, minCount)
	}
	return ""
}

// summarize sets v's outcome and reason from its details: Fail if any
// failed, Pass if all passed, Inconclusive otherwise.
func summarize(v *Verdict, what string) {
	fails, unknown := 0, 0
	for _, d := range v.Details {
		switch d.Outcome {
		case Fail:
			fails++
		case Inconclusive:
			unknown++
		}
	}
	n := len(v.Details)
	switch {
	case fails > 0:
		v.Outcome, v.Reason = Fail, fmt.Sprintf("%d of %d %s failed", fails, n, what)
	case unknown > 0 || n == 0:
		v.Outcome, v.Reason = Inconclusive, fmt.Sprintf("%d of %d %s without enough evidence", unknown, n, what)
	default:
		v.Outcome, v.Reason = Pass, fmt.Sprintf("all %d %s passed", n, what)
	}
}
