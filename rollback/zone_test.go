package rollback_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
)

func tokyo(t *testing.T) *time.Location {
	t.Helper()
	l, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestShapeInTheCallersZone: the blue/green shape line's instant (until
// when the old version is kept warm) is a field, Status.WarmUntil, that
// display.Shape writes in the zone its caller chooses; the default is the
// line the bluegreen transcript shows.
func TestShapeInTheCallersZone(t *testing.T) {
	h := newHarness(bgPlan(rollback.BlueGreen{PrePromotion: 2 * time.Minute, PostPromotion: 2 * time.Minute, ScaleDownDelay: 3 * time.Minute}),
		rollback.Policy{}, fake.Constant(0.001, 500))
	r := h.build(t)
	var st rollback.Status
	for _, s := range run(t, r, t0, t0.Add(time.Hour)) {
		if !s.WarmUntil.IsZero() {
			st = s
			break
		}
	}
	if st.WarmUntil.IsZero() {
		t.Fatal("no status with WarmUntil")
	}
	const head = "blue/green: switched; post-promotion analysis, the old version warm until "
	if got := display.Shape(st, nil); got != head+"01/07/2026 10:05:00 BST" {
		t.Errorf("display.Shape(st, nil) = %q", got)
	}
	if got := display.Shape(st, tokyo(t)); got != head+"01/07/2026 18:05:00 JST" {
		t.Errorf("display.Shape(st, Tokyo) = %q", got)
	}
	if strings.Contains(st.Shape, "BST") {
		t.Errorf("Status.Shape holds a London time: %q", st.Shape)
	}
}

// TestFinishedErrorInTheCallersZone: Open over a finished rollout returns
// a *FinishedError that matches ErrFinished and carries the instant it
// finished; its Error writes it in Europe/London, display.Error in the
// zone its caller chooses, through any wrapping.
func TestFinishedErrorInTheCallersZone(t *testing.T) {
	mem := &store.Memory{}
	h := finish(t, mem)
	_, err := rollback.Open(ctx, h.cfg)
	var fe *rollback.FinishedError
	if !errors.Is(err, rollback.ErrFinished) || !errors.As(err, &fe) || fe.Phase != rollback.Succeeded || fe.At.IsZero() || fe.Key == "" {
		t.Fatalf("Open over a finished rollout = %v (%+v)", err, fe)
	}
	london, jst := display.FormatTime(fe.At), display.FormatTimeIn(fe.At, tokyo(t))
	if !strings.Contains(err.Error(), "succeeded at "+london+";") || display.Error(err, nil) != err.Error() {
		t.Errorf("Error() = %q, want the time %s", err, london)
	}
	wrapped := errors.Join(errors.New("deploy checkout"), err)
	got := display.Error(wrapped, tokyo(t))
	if !strings.Contains(got, "succeeded at "+jst+";") || strings.Contains(got, london) || !strings.HasPrefix(got, "deploy checkout\n") {
		t.Errorf("display.Error in Tokyo = %q, want the time %s", got, jst)
	}
}
