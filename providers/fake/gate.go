package fake

import (
	"context"

	"github.com/meshcanary/canary/workload"
)

// Gate is an in-memory [workload.Gate]: it approves the gates of the kinds
// told to with Approve. Verb recorded: "check".
type Gate struct {
	recorder
	approved map[workload.GateKind]workload.Approval
}

// NewGate returns a Gate that approves nothing yet.
func NewGate() *Gate { return &Gate{approved: map[workload.GateKind]workload.Approval{}} }

// Approve makes every later check of kind answer approved by actor.
func (g *Gate) Approve(kind workload.GateKind, actor, reason string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.approved[kind] = workload.Approval{Approved: true, Actor: actor, Reason: reason}
}

// Revoke withdraws the approval of kind.
func (g *Gate) Revoke(kind workload.GateKind) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.approved, kind)
}

// Check answers whether req's kind is approved.
func (g *Gate) Check(ctx context.Context, req workload.GateRequest) (a workload.Approval, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	defer func() { g.record("check", req, err) }()
	if err := g.begin(ctx, "check"); err != nil {
		return workload.Approval{}, err
	}
	return g.approved[req.Kind], nil
}
