package rollback

import (
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/traffic"
)

// TestOneRoundByHand traces one round through the machine alone, the way
// rollout.go drives it, printing the outbox at each turn: a newcomer's
// view of who decides (the machine) and who acts (the driver).
func TestOneRoundByHand(t *testing.T) {
	t0 := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)
	m, err := newMachine("checkout", Plan{Stages: Weights(10, 50), Interval: time.Minute}, Policy{FailureLimit: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	s := m.initial()
	s = m.step(s, inputs{}, t0) // the first Step starts the rollout
	out := m.outbox(s, s.Seq, true)
	if got, want := out.String(), "write stable 90% / canary 10%\ndeliver #1 transition\n"; got != want {
		t.Fatalf("outbox after the start:\n%s\nwant:\n%s", got, want)
	}
	if s.Intent == nil || !s.Intent.Equal(traffic.Weighted(10)) {
		t.Fatalf("the decision is not written ahead: intent %v", s.Intent)
	}
	// The driver writes the split and reports back.
	s = m.report(s, done{action: "set-split", split: *out.Split}, t0)
	if s.Intent != nil || !s.Applied.Equal(traffic.Weighted(10)) {
		t.Fatalf("after the write: applied %v intent %v", s.Applied, s.Intent)
	}
	s = m.delivered(s, s.Seq)

	// A failing analysis a minute later: the machine decides to roll back
	// and asks for the all-stable write, the scalings and the release.
	at := t0.Add(time.Minute)
	w := m.wants(s, at, false, false, true)
	if !w.analyse || w.input.Stage != 0 {
		t.Fatalf("wants %+v", w)
	}
	v := analysis.Verdict{Outcome: analysis.Fail, Reason: "error rate 5 %"}
	s = m.step(s, inputs{analysed: true, basis: w.applied, route: w.applied, verdict: &v}, at)
	s.StableReplicas, s.StableRecorded = 4, true
	out = m.outbox(s, 0, true)
	if got, want := out.String(), "write stable 100% / canary 0%\nscale canary to 0\nscale stable to 4\n"; got != want {
		t.Fatalf("outbox after the failing analysis:\n%s\nwant:\n%s", got, want)
	}
	for _, d := range []done{{action: "set-split", split: *out.Split}, {action: "scale-canary"}, {action: "restore-stable", replicas: 4}, {action: "release"}} {
		s = m.report(s, d, at)
	}
	if s.Phase != RolledBack {
		t.Fatalf("after every action: %v", s.Phase)
	}
	if got := m.outbox(s, s.Seq, true).String(); got == "nothing\n" || len(m.outbox(s, s.Seq, true).Deliver) != len(s.Undelivered) {
		t.Errorf("the events are not offered for delivery: %q", got)
	}
}
