package kubernetes_test

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/meshcanary/canary/providers/kubernetes"
)

// A LeaseLock is the Lock of a leaderelection.LeaderElectionConfig; here
// it is driven by hand to show what it writes.
func ExampleLeaseLock() {
	ctx := context.Background()
	cs := fake.NewClientset() // a real clientset in a controller
	lock := &kubernetes.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: "meshcanary-system", Name: "meshcanary-shard-0"},
		Client:     cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: "replica-a"},
	}
	now := metav1.NewTime(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	if err := lock.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "replica-a", LeaseDurationSeconds: 15, AcquireTime: now, RenewTime: now}); err != nil {
		fmt.Println(err)
		return
	}
	rec, _, err := lock.Get(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(lock.Describe(), "held by", rec.HolderIdentity, "for", rec.LeaseDurationSeconds, "s")

	// Another replica that read the Lease may not release it.
	other := &kubernetes.LeaseLock{LeaseMeta: lock.LeaseMeta, Client: cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: "replica-b"}}
	_, _, _ = other.Get(ctx)
	fmt.Println(other.Update(ctx, resourcelock.LeaderElectionRecord{LeaseDurationSeconds: 1, AcquireTime: now, RenewTime: now}))
	// Output:
	// meshcanary-system/meshcanary-shard-0 held by replica-a for 15 s
	// kubernetes: Lease meshcanary-system/meshcanary-shard-0: not releasing a Lease another replica holds: held by "replica-a", not "replica-b"
}
