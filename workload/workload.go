package workload

import (
	"context"
	"time"

	"github.com/meshcanary/canary"
)

// Version names one of the two versions a rollout runs side by side.
type Version string

const (
	Stable Version = "stable"
	Canary Version = "canary"
)

// Check returns a *[canary.FieldError] naming "Version" for anything but
// Stable and Canary.
func (v Version) Check() error {
	if v != Stable && v != Canary {
		return canary.Invalid("Version", string(v), "must be %q or %q", Stable, Canary)
	}
	return nil
}

// Scaler changes how many replicas each version runs. A rollout records
// the stable version's replicas when it starts, scales the canary to zero
// on a rollback, and restores the stable version to what it had.
//
// Implementations refuse a Version other than Stable and Canary and a
// negative count with a *[canary.FieldError], honour a cancelled context,
// and are safe for concurrent use.
type Scaler interface {
	// Replicas reports how many replicas v is set to run.
	Replicas(ctx context.Context, v Version) (int32, error)
	// Scale sets v to n replicas. Scaling to the current count is harmless.
	Scale(ctx context.Context, v Version, n int32) error
}

// Readiness reports whether a version's replicas are ready. A canary that
// is not ready by the plan's progress deadline is rolled back.
type Readiness interface {
	// Ready reports whether v is ready, with a short reason when it is not.
	Ready(ctx context.Context, v Version) (ready bool, reason string, err error)
}

// GateKind says what a gate guards.
type GateKind string

const (
	// BeforeIncrease guards a rise of the canary's weight.
	BeforeIncrease GateKind = "before-increase"
	// BeforePromotion guards the promotion to 100 %.
	BeforePromotion GateKind = "before-promotion"
)

// GateRequest describes a pending approval.
type GateRequest struct {
	Rollout string    `json:"rollout"`
	Kind    GateKind  `json:"kind"`
	From    int       `json:"from"` // canary weight now
	To      int       `json:"to"`   // canary weight asked for
	Since   time.Time `json:"since"`
}

// Approval is a Gate's answer.
type Approval struct {
	Approved bool   `json:"approved"`
	Actor    string `json:"actor,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Gate is asked, at every Step of a rollout that waits at a gate, whether
// the rollout may go ahead (a ticket system, a chat-ops approval…). A
// rollout with a gate and no Gate implementation waits for a person's
// approval through the rollout's own Approve.
type Gate interface {
	Check(ctx context.Context, req GateRequest) (Approval, error)
}
