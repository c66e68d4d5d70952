package rollback_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
)

func TestFormatTimeLondon(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC), "15/01/2026 12:00:00 GMT"},
		{time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC), "01/07/2026 13:00:00 BST"},
		// The clocks go forward at 01:00 GMT on the last Sunday of March.
		{time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC), "29/03/2026 00:59:59 GMT"},
		{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), "29/03/2026 02:00:00 BST"},
		// …and back at 01:00 GMT on the last Sunday of October.
		{time.Date(2026, 10, 25, 0, 59, 59, 0, time.UTC), "25/10/2026 01:59:59 BST"},
		{time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC), "25/10/2026 01:00:00 GMT"},
	} {
		if got := rollback.FormatTime(tc.t); got != tc.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

func TestFormatNumberUK(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		prec int
		want string
	}{
		{0, 2, "0"}, {1234567.891, 3, "1,234,567.891"}, {-1234.5, 2, "-1,234.5"}, {999, 0, "999"},
		{1000, 0, "1,000"}, {0.02, 4, "0.02"}, {100, 2, "100"}, {12345.678, 1, "12,345.7"},
	} {
		if got := rollback.FormatNumber(tc.v, tc.prec); got != tc.want {
			t.Errorf("FormatNumber(%v, %d) = %q, want %q", tc.v, tc.prec, got, tc.want)
		}
	}
	if got := rollback.FormatPercent(0.0523); got != "5.23 %" {
		t.Errorf("FormatPercent = %q", got)
	}
}

func TestJSONLinesIsUTCAndOneLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	sink := rollback.NewJSONLines(&buf)
	v := 0.05
	e := rollback.Event{Seq: 7, Time: time.Date(2026, 7, 1, 14, 0, 0, 0, rollback.London), Rollout: "checkout",
		Kind: rollback.KindAnalysis, From: rollback.Progressing, To: rollback.Progressing, WeightFrom: 10, WeightTo: 10,
		Verdict: &analysis.Verdict{Outcome: analysis.Fail, Details: []analysis.Detail{{Metric: "error-rate", Outcome: analysis.Fail, Value: &v, Bound: "<= 0.02", Reason: "0.05 is above the maximum 0.02"}}}}
	for i := 0; i < 2; i++ {
		if err := sink.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2: %q", len(lines), buf.String())
	}
	var back rollback.Event
	if err := json.Unmarshal([]byte(lines[0]), &back); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lines[0], `"time":"2026-07-01T13:00:00Z"`) || !strings.Contains(lines[0], `"from":"progressing"`) {
		t.Errorf("line %s: want UTC time and phase names", lines[0])
	}
	if back.Verdict == nil || back.Verdict.Outcome != analysis.Fail || *back.Verdict.Details[0].Value != 0.05 {
		t.Errorf("round trip lost the verdict: %+v", back.Verdict)
	}
	if s := e.String(); !strings.Contains(s, "01/07/2026 14:00:00 BST") || !strings.Contains(s, "error-rate 0.05 (<= 0.02)") {
		t.Errorf("String() = %q", s)
	}
}

func TestChainedTrailDetectsTampering(t *testing.T) {
	var buf bytes.Buffer
	sink, err := rollback.NewChainedJSONLines(&buf, "")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.05, 500))
	h.cfg.Sink = sink
	run(t, h.build(t), t0, t0.Add(time.Hour))
	trail := buf.String()
	n, last, err := rollback.VerifyChain(strings.NewReader(trail))
	if err != nil || n < 5 {
		t.Fatalf("VerifyChain of an untouched trail = %d lines, %v", n, err)
	}
	// Resuming the trail after a restart keeps the chain.
	sink2, err := rollback.NewChainedJSONLines(&buf, last)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink2.Record(ctx, rollback.Event{Seq: 99, Time: t0, Rollout: "checkout", Kind: rollback.KindManual, Actor: "auditor"}); err != nil {
		t.Fatal(err)
	}
	if n2, _, err := rollback.VerifyChain(strings.NewReader(buf.String())); err != nil || n2 != n+1 {
		t.Fatalf("resumed trail: %d lines, %v", n2, err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(trail, "\n"), "\n")
	for name, tampered := range map[string]string{
		"edited":    strings.Replace(trail, `"failures":2`, `"failures":1`, 1),
		"removed":   strings.Join(append(append([]string{}, lines[:2]...), lines[3:]...), ""),
		"reordered": strings.Join(append([]string{lines[1], lines[0]}, lines[2:]...), ""),
		"unchained": strings.Replace(trail, `,"chain":"`, `,"chain_":"`, 1),
	} {
		if tampered == trail {
			t.Fatalf("%s: the tampering did not apply", name)
		}
		if _, _, err := rollback.VerifyChain(strings.NewReader(tampered)); !errors.Is(err, rollback.ErrChainBroken) {
			t.Errorf("%s trail: VerifyChain = %v, want ErrChainBroken", name, err)
		}
	}
	if _, err := rollback.NewChainedJSONLines(&buf, "not-a-chain"); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("bad last chain accepted: %v", err)
	}
}
