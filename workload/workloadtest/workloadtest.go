package workloadtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/workload"
)

// ScalerHarness builds the Scaler under test.
type ScalerHarness struct {
	// New returns a Scaler whose stable version runs stable replicas and
	// canary version canary replicas.
	New func(ctx context.Context, t *testing.T, stable, canary int32) workload.Scaler
}

// RunScaler checks the [workload.Scaler] contract: Replicas reads what was
// set, Scale is idempotent and per version, bad arguments are refused with
// a *[canary.FieldError] before anything changes, and a cancelled context is
// honoured.
func RunScaler(t *testing.T, h ScalerHarness) {
	t.Helper()
	ctx := context.Background()
	t.Run("ReplicasReadsTheStartingCounts", func(t *testing.T) {
		s := h.New(ctx, t, 4, 1)
		expectReplicas(ctx, t, s, workload.Stable, 4)
		expectReplicas(ctx, t, s, workload.Canary, 1)
	})
	t.Run("ScaleIsReadBackAndPerVersion", func(t *testing.T) {
		s := h.New(ctx, t, 4, 1)
		if err := s.Scale(ctx, workload.Canary, 0); err != nil {
			t.Fatalf("Scale(canary, 0): %v", err)
		}
		expectReplicas(ctx, t, s, workload.Canary, 0)
		expectReplicas(ctx, t, s, workload.Stable, 4)
		if err := s.Scale(ctx, workload.Stable, 6); err != nil {
			t.Fatalf("Scale(stable, 6): %v", err)
		}
		expectReplicas(ctx, t, s, workload.Stable, 6)
	})
	t.Run("ScaleIsIdempotent", func(t *testing.T) {
		s := h.New(ctx, t, 4, 1)
		for i := 0; i < 2; i++ {
			if err := s.Scale(ctx, workload.Canary, 3); err != nil {
				t.Fatalf("Scale #%d: %v", i+1, err)
			}
		}
		expectReplicas(ctx, t, s, workload.Canary, 3)
	})
	t.Run("BadArgumentsRefused", func(t *testing.T) {
		s := h.New(ctx, t, 4, 1)
		var fe *canary.FieldError
		if err := s.Scale(ctx, workload.Canary, -1); !errors.As(err, &fe) {
			t.Errorf("Scale(canary, -1) = %v, want a *canary.FieldError", err)
		}
		if err := s.Scale(ctx, "preview", 1); !errors.As(err, &fe) {
			t.Errorf("Scale(preview, 1) = %v, want a *canary.FieldError", err)
		}
		if _, err := s.Replicas(ctx, "preview"); !errors.As(err, &fe) {
			t.Errorf("Replicas(preview) = %v, want a *canary.FieldError", err)
		}
		expectReplicas(ctx, t, s, workload.Canary, 1)
	})
	t.Run("CancelledContext", func(t *testing.T) {
		s := h.New(ctx, t, 4, 1)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Scale(cctx, workload.Canary, 0); err == nil {
			t.Errorf("Scale with a cancelled context succeeded")
		}
		expectReplicas(ctx, t, s, workload.Canary, 1)
	})
}

func expectReplicas(ctx context.Context, t *testing.T, s workload.Scaler, v workload.Version, want int32) {
	t.Helper()
	n, err := s.Replicas(ctx, v)
	if err != nil {
		t.Fatalf("Replicas(%s): %v", v, err)
	}
	if n != want {
		t.Errorf("Replicas(%s) = %d, want %d", v, n, want)
	}
}

// ReadinessHarness builds the Readiness under test.
type ReadinessHarness struct {
	// New returns a Readiness whose canary is ready (ready true) or not.
	New func(ctx context.Context, t *testing.T, ready bool) workload.Readiness
}

// RunReadiness checks the [workload.Readiness] contract: a ready version
// says so with no reason, a version that is not ready gives a reason, and
// an unknown version is refused with a *[canary.FieldError].
func RunReadiness(t *testing.T, h ReadinessHarness) {
	t.Helper()
	ctx := context.Background()
	t.Run("Ready", func(t *testing.T) {
		ok, why, err := h.New(ctx, t, true).Ready(ctx, workload.Canary)
		if err != nil || !ok || why != "" {
			t.Errorf("Ready = %v, %q, %v; want true, \"\", nil", ok, why, err)
		}
	})
	t.Run("NotReadyHasAReason", func(t *testing.T) {
		ok, why, err := h.New(ctx, t, false).Ready(ctx, workload.Canary)
		if err != nil || ok || why == "" {
			t.Errorf("Ready = %v, %q, %v; want false with a reason", ok, why, err)
		}
	})
	t.Run("UnknownVersionRefused", func(t *testing.T) {
		var fe *canary.FieldError
		if _, _, err := h.New(ctx, t, true).Ready(ctx, "preview"); !errors.As(err, &fe) {
			t.Errorf("Ready(preview) = %v, want a *canary.FieldError", err)
		}
	})
}

// GateHarness builds the Gate under test.
type GateHarness struct {
	// New returns a Gate that has approved nothing.
	New func(ctx context.Context, t *testing.T) workload.Gate
	// Approve makes g approve gates of kind from now on.
	Approve func(ctx context.Context, t *testing.T, g workload.Gate, kind workload.GateKind)
}

// RunGate checks the [workload.Gate] contract: nothing is approved until it
// is, an approval is for its kind only and names who gave it, and a
// cancelled context is honoured.
func RunGate(t *testing.T, h GateHarness) {
	t.Helper()
	ctx := context.Background()
	req := func(k workload.GateKind) workload.GateRequest {
		return workload.GateRequest{Rollout: "checkout", Kind: k, From: 10, To: 50,
			Since: time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)}
	}
	t.Run("NothingApprovedAtFirst", func(t *testing.T) {
		a, err := h.New(ctx, t).Check(ctx, req(workload.BeforeIncrease))
		if err != nil || a.Approved {
			t.Errorf("Check = %+v, %v; want not approved", a, err)
		}
	})
	t.Run("ApprovalIsPerKindAndNamesItsActor", func(t *testing.T) {
		g := h.New(ctx, t)
		h.Approve(ctx, t, g, workload.BeforePromotion)
		if a, err := g.Check(ctx, req(workload.BeforePromotion)); err != nil || !a.Approved || a.Actor == "" {
			t.Errorf("Check(before-promotion) = %+v, %v; want approved with an actor", a, err)
		}
		if a, err := g.Check(ctx, req(workload.BeforeIncrease)); err != nil || a.Approved {
			t.Errorf("Check(before-increase) = %+v, %v; want not approved", a, err)
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		g := h.New(ctx, t)
		h.Approve(ctx, t, g, workload.BeforeIncrease)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if a, err := g.Check(cctx, req(workload.BeforeIncrease)); err == nil || a.Approved {
			t.Errorf("Check with a cancelled context = %+v, %v; want an error", a, err)
		}
	})
}
