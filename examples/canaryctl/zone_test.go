package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/rollback"
)

// -tz moves every time a command shows; the default stays Europe/London
// (TestBacktestCSV, TestChartAndPage).
func TestZoneFlag(t *testing.T) {
	file := write(t, "r.yaml", goodRollout)
	data := write(t, "good.csv", csvRows(20, 99))
	out, errOut, code := ctl(t, t.TempDir(), "backtest", "-f", file, "--csv", data, "-tz", "Asia/Tokyo")
	if code != 0 || !strings.Contains(out, "(times in Asia/Tokyo)") || !strings.Contains(out, "01/07/2026 21:0") ||
		!strings.Contains(out, "JST") || strings.Contains(out, "BST") {
		t.Errorf("backtest -tz Asia/Tokyo: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = ctl(t, t.TempDir(), "backtest", "-f", file, "--csv", data)
	if !strings.Contains(out, "(times in Europe/London)") {
		t.Errorf("backtest without -tz:\n%s", out)
	}
	for _, bad := range []string{"Mars/Olympus_Mons", ""} {
		_, errOut, code := ctl(t, t.TempDir(), "backtest", "-f", file, "--csv", data, "-tz", bad)
		if code != 2 || !strings.Contains(errOut, "-tz") {
			t.Errorf("-tz %q: exit %d, stderr %q; want 2 naming the flag", bad, code, errOut)
		}
	}
}

func TestReportInZone(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	evs := []rollback.Event{
		{Seq: 1, Time: t0, Kind: rollback.KindTransition, From: rollback.Pending, To: rollback.Progressing, WeightTo: 10, Reason: "rollout started"},
		{Seq: 2, Time: t0.Add(time.Minute), Kind: rollback.KindManual, Action: "pause", To: rollback.Paused, WeightFrom: 10, WeightTo: 10, Actor: "alice"},
	}
	svg, err := chart("shop", evs, "svg", tokyo)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("time (Asia/Tokyo, JST)")) || !bytes.Contains(svg, []byte("21:0")) {
		t.Errorf("chart in Tokyo lacks the zone or the local clock")
	}
	var page bytes.Buffer
	if err := writeReport(&page, "shop", rolloutRecord{}, evs, svg, "intact over 2 lines", tokyo); err != nil {
		t.Fatal(err)
	}
	p := page.String()
	for _, want := range []string{"Times are in Asia/Tokyo;", "01/07/2026 21:00:00 JST", "01/07/2026 21:01:00 JST"} {
		if !strings.Contains(p, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(p, " BST") || strings.Contains(p, "Europe/London") {
		t.Errorf("page in Tokyo still shows London")
	}
}

// The live screen's reason writes the instant the evidence arrived
// (Status.EvidenceAt) in the zone -tz names; by default in Europe/London,
// as the reason used to hold it.
func TestReasonInZone(t *testing.T) {
	at := time.Date(2026, 7, 1, 9, 3, 0, 0, time.UTC)
	st := rollback.Status{Name: "checkout", Phase: rollback.Paused, Stages: 2, EvidenceAt: at,
		Reason: "progress deadline passed; the evidence has arrived since: a passing analysis, analysis 6; Resume to go on, or Promote or Abort"}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	for loc, want := range map[*time.Location]string{
		nil:   "reason    progress deadline passed; the evidence has arrived since: a passing analysis at 01/07/2026 10:03:00 BST, analysis 6; Resume to go on, or Promote or Abort\n",
		tokyo: "reason    progress deadline passed; the evidence has arrived since: a passing analysis at 01/07/2026 18:03:00 JST, analysis 6; Resume to go on, or Promote or Abort\n",
	} {
		if out := render(view{name: "checkout", status: st, stages: []int{10, 50}, now: at, loc: loc}, nil, nil); !strings.Contains(out, want) {
			t.Errorf("in %v:\n%s\nwant the line %q", loc, out, want)
		}
	}
}
