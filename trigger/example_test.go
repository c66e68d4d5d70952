package trigger_test

import (
	"context"
	"fmt"
	"time"

	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/trigger"
)

// printTarget stands for a rollout: it prints what it is asked.
type printTarget struct{}

func (printTarget) Pause(_ context.Context, _ time.Time, actor, reason string) (rollback.Status, error) {
	fmt.Printf("pause by %s: %s\n", actor, reason)
	return rollback.Status{Phase: rollback.Paused}, nil
}

func (printTarget) Abort(_ context.Context, _ time.Time, actor, reason string) (rollback.Status, error) {
	fmt.Printf("abort by %s: %s\n", actor, reason)
	return rollback.Status{Phase: rollback.RollingBack}, nil
}

// A signal delivered twice acts once: the ledger in the store remembers it.
func ExampleApplier() {
	a := &trigger.Applier{Store: new(store.Memory), Targets: trigger.Map{"checkout": printTarget{}}}
	sig := trigger.Signal{ID: "page-4711", Rollout: "checkout", Action: trigger.RollBack, Actor: "pager", Reason: "5xx above 10 %"}
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for range 2 {
		out, err := a.Apply(context.Background(), now, sig)
		fmt.Printf("applied %v, duplicate %v, error %v\n", out.Applied, out.Duplicate, err)
	}
	// Output:
	// abort by pager: 5xx above 10 %
	// applied true, duplicate false, error <nil>
	// applied false, duplicate true, error <nil>
}
