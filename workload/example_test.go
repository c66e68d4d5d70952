package workload_test

import (
	"context"
	"fmt"

	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/workload"
)

// A rollback scales the canary to zero and restores the stable version to
// the replicas it had when the rollout started.
func ExampleScaler() {
	ctx := context.Background()
	var s workload.Scaler = fake.NewScaler(4, 2)
	before, _ := s.Replicas(ctx, workload.Stable)
	s.Scale(ctx, workload.Stable, 1) // someone scaled stable down meanwhile
	s.Scale(ctx, workload.Canary, 0)
	s.Scale(ctx, workload.Stable, before)
	st, _ := s.Replicas(ctx, workload.Stable)
	c, _ := s.Replicas(ctx, workload.Canary)
	fmt.Println("stable", st, "canary", c)
	fmt.Println(s.Scale(ctx, "preview", 1))
	// Output:
	// stable 4 canary 0
	// invalid Version (preview): must be "stable" or "canary"
}
