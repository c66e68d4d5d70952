package rollback

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/meshcanary/canary/traffic"
)

// TestRoundValue: a round is one value, computed by the machine alone,
// that says everything the first Step asks for (the saves around each
// action, the write, the deliveries); the driver's report on it, once,
// makes the State that the round's last save holds, and a report of a
// failed write makes the State the single report of that failure does.
func TestRoundValue(t *testing.T) {
	t0 := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	m, err := newMachine("checkout", Plan{Stages: Weights(10, 50), Interval: time.Minute}, Policy{}, false)
	if err != nil {
		t.Fatal(err)
	}
	s := m.step(m.initial(), inputs{}, t0) // the first Step starts the rollout
	rd := m.ready(s, legAct, 0, true, true, maxActions+2, t0, nil)
	want := "save progressing 10 % with #1..#1 undelivered\n" +
		"write stable 90% / canary 10%\n" +
		"save progressing 10 % with #1..#2 undelivered\n" +
		"deliver #1 transition\n" +
		"deliver #2 action set-split\n" +
		"save progressing 10 %\n"
	if got := rd.String(); got != want {
		t.Fatalf("the first round:\n%s\nwant:\n%s", got, want)
	}
	if rd.tasks[0].state.Intent == nil || !rd.tasks[0].state.Intent.Equal(traffic.Weighted(10)) {
		t.Fatalf("the first save does not hold the split ahead of the write: intent %v", rd.tasks[0].state.Intent)
	}

	// Every task done: the State is the one the last save holds.
	all := m.advance(s, &rd, 0, outcome{done: len(rd.tasks)}, t0)
	if got, want := encode(t, all), encode(t, *rd.tasks[len(rd.tasks)-1].state); got != want {
		t.Fatalf("advance over the whole round:\n%s\nwant the last save's state:\n%s", got, want)
	}

	// The write failed: the report is the failure's, and the next round
	// delivers the events so far (the failure included) and saves.
	errReset := errors.New("connection reset")
	failed := m.advance(s, &rd, 0, outcome{done: 1, cut: true, err: errReset}, t0)
	if got, want := encode(t, failed), encode(t, m.report(s, done{action: "set-split", err: errReset}, t0)); got != want {
		t.Fatalf("advance with a failed write:\n%s\nwant:\n%s", got, want)
	}
	want = "save progressing 10 % with #1..#2 undelivered\n" +
		"deliver #1 transition\n" +
		"deliver #2 failure set-split\n" +
		"save progressing 10 %\n"
	if got := m.ready(failed, legEvents, s.Seq, true, true, 0, t0, nil).String(); got != want {
		t.Fatalf("the round after a failed write:\n%s\nwant:\n%s", got, want)
	}
}

func encode(t *testing.T, s State) string {
	t.Helper()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
