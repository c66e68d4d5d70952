package main

import (
	"bytes"
	"image/color"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
)

func f(v float64) *float64 { return &v }

func TestBoundOf(t *testing.T) {
	for _, tc := range []struct {
		bound  string
		stable *float64
		obs    float64
		want   float64
		ok     bool
	}{
		{"<= 0.02", nil, math.NaN(), 0.02, true},
		{"<= 1.1 × stable + 0.005", f(0.01), math.NaN(), 0.016, true},
		{"<= 1.1 × stable + 0.005", nil, 0.02, 0.027, true},
		{"Λ < 100 (α = 0.01 over all looks) for canary ≤ 1.2 × stable + 0", nil, 0.01, 0.012, true},
		{"<= 1.1 × stable + 0.005", nil, math.NaN(), 0, false}, // no stable value
		{">= 0.99", nil, math.NaN(), 0, false},
	} {
		v := &analysis.Verdict{Details: []analysis.Detail{{Metric: "error-rate", Bound: tc.bound, Stable: tc.stable}}}
		got, ok := boundOf(v, "error-rate", tc.obs)
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("boundOf(%q, stable %v, observed %v) = %v, %v; want %v, %v", tc.bound, tc.stable, tc.obs, got, ok, tc.want, tc.ok)
		}
	}
}

// TestChartAndPage draws a synthetic trail: a manual pause, a verdict with
// evidence and a relative bound, a rollback; in July, so London is on BST.
func TestChartAndPage(t *testing.T) {
	t0 := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	obs := []analysis.Observation{{Metric: "error-rate", Canary: analysis.Observed(0.05, 900), Stable: analysis.Observed(0.01, 9000)}}
	verdict := &analysis.Verdict{Outcome: analysis.Fail,
		Details:  []analysis.Detail{{Metric: "error-rate", Bound: "<= 1.1 × stable + 0.005"}},
		Evidence: []analysis.Evidence{{Metric: "error-rate", Fail: 1, Pass: 0.1, Requests: 900}}}
	evs := []rollback.Event{
		{Seq: 1, Time: t0, Kind: rollback.KindTransition, From: rollback.Pending, To: rollback.Progressing, WeightTo: 10, Reason: "rollout started"},
		{Seq: 2, Time: t0.Add(time.Minute), Kind: rollback.KindAnalysis, To: rollback.Progressing, WeightFrom: 10, WeightTo: 10, Verdict: verdict, Observations: obs},
		{Seq: 3, Time: t0.Add(90 * time.Second), Kind: rollback.KindManual, Action: "pause", To: rollback.Paused, WeightFrom: 10, WeightTo: 10, Actor: "alice", Reason: "look"},
		{Seq: 4, Time: t0.Add(90 * time.Second), Kind: rollback.KindTransition, From: rollback.Progressing, To: rollback.Paused, WeightFrom: 10, WeightTo: 10, Actor: "alice", Reason: "look"},
		{Seq: 5, Time: t0.Add(2 * time.Minute), Kind: rollback.KindAnalysis, To: rollback.Paused, WeightFrom: 10, WeightTo: 10, Verdict: verdict, Observations: obs},
		{Seq: 6, Time: t0.Add(3 * time.Minute), Kind: rollback.KindTransition, From: rollback.Paused, To: rollback.RolledBack, WeightFrom: 10, Reason: "aborted"},
	}
	ms := markers(evs)
	if len(ms) != 3 || ms[1].What != "manual pause" || ms[1].Actor != "alice" || ms[2].What != "decision: rolled-back" {
		t.Errorf("markers = %+v", ms)
	}
	svg, err := chart("shop", evs, "svg", nil)
	if err != nil {
		t.Fatal(err)
	}
	png, err := chart("shop", evs, "png", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkChartPNG(t, png, 3, true)
	for _, want := range []string{"<svg", "canary weight", "error-rate: canary against stable and the bound",
		"evidence: progress towards a decision", "error-rate towards fail", "time (Europe/London, BST)", "13:01:00"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("chart lacks %q", want)
		}
	}
	var page bytes.Buffer
	rec := rolloutRecord{Status: rollback.Status{Phase: rollback.RolledBack, Reason: "aborted", FailureLimit: 2, Failures: 2}}
	if err := writeReport(&page, "shop", rec, evs, svg, "intact over 6 lines", nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"01/07/2026 13:00:00 BST", "01/07/2026 13:03:00 BST", "alice", "manual pause", "rolled-back", "@media print"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// checkChartPNG decodes a chart drawn by gonum/plot's vgimg and checks that
// it is drawn, not just written: its size is 26 cm by 8 cm a panel at
// pngDPI, the background is white, the canary's weight line (blue) runs in
// the top panel, and the canary (orange) and stable (green) lines are
// drawn below it (when metricLines: a healthy canary's line can hide
// under stable's at zero). panels <= 0: the number of panels is read from the
// height (at least two).
func checkChartPNG(t *testing.T, b []byte, panels int, metricLines bool) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("PNG chart: %v", err)
	}
	bounds := img.Bounds()
	dpi := float64(pngDPI)
	if panels <= 0 { // as many as drawn, at least the weight's and one metric's
		panels = max(2, int(float64(bounds.Dy())/(8/2.54*dpi)+0.5))
	}
	wantW := int(26/2.54*dpi + 0.5)
	wantH := int(float64(panels)*8/2.54*dpi + 0.5)
	if abs(bounds.Dx()-wantW) > 1 || abs(bounds.Dy()-wantH) > 1 {
		t.Fatalf("PNG chart is %d×%d pixels, want %d×%d", bounds.Dx(), bounds.Dy(), wantW, wantH)
	}
	count := map[color.RGBA]int{}
	blueTop, blueXs := 0, map[int]bool{}
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			count[c]++
			if c == blue {
				blueXs[x/10] = true
				if y < bounds.Dy()/panels {
					blueTop++
				}
			}
		}
	}
	total := bounds.Dx() * bounds.Dy()
	if white := count[color.RGBA{255, 255, 255, 255}]; white*2 < total || white == total {
		t.Errorf("PNG chart: %d of %d pixels white, want a drawn chart on a white background", white, total)
	}
	// The weight line is 2 pt wide (about 4 pixels at 150 dpi) and spans
	// the time axis: its exact colour covers many pixels in the top panel
	// along most of the width.
	if blueTop < 1000 || blueTop != count[blue] || len(blueXs)*10 < bounds.Dx()/2 {
		t.Errorf("PNG chart: the weight line's blue covers %d pixels (%d in the top panel) over %d of %d columns of ten",
			count[blue], blueTop, len(blueXs), bounds.Dx()/10)
	}
	if metricLines && (count[orange] < 100 || count[green] < 100) {
		t.Errorf("PNG chart: canary orange on %d pixels, stable green on %d", count[orange], count[green])
	}
	t.Logf("PNG chart %d×%d: %d white, weight blue %d (top panel %d), canary orange %d, stable green %d, %d colours",
		bounds.Dx(), bounds.Dy(), count[color.RGBA{255, 255, 255, 255}], count[blue], blueTop, count[orange], count[green], len(count))
	if len(count) < 20 {
		t.Errorf("PNG chart has %d distinct colours", len(count))
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
