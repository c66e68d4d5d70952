package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/kubernetes"
)

type eventf struct{ got []string }

func (e *eventf) Eventf(obj runtime.Object, typ, reason, msg string, args ...any) {
	m := obj.(metav1.Object)
	e.got = append(e.got, fmt.Sprintf("%s/%s %s %s %s", m.GetNamespace(), m.GetName(), typ, reason, fmt.Sprintf(msg, args...)))
}

// Every write of the lock names the module's field manager, and the lock
// keeps client-go's LeaseLock behaviour: a record round-trips, labels are
// set, events name the Lease. (The fake clientset does not check
// resourceVersions; the controller's tests hold the lock on the real API
// server.)
func TestLeaseLock(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	rec := &eventf{}
	l := &kubernetes.LeaseLock{LeaseMeta: metav1.ObjectMeta{Namespace: "ns", Name: "shard-0"}, Client: cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: "a", EventRecorder: rec}, Labels: map[string]string{"app": "x"}}
	if got := l.Describe(); got != "ns/shard-0" {
		t.Errorf("Describe() = %q", got)
	}
	if l.Identity() != "a" {
		t.Errorf("Identity() = %q", l.Identity())
	}
	if err := l.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "a"}); err == nil {
		t.Error("Update before Get or Create succeeded")
	}
	if _, _, err := l.Get(ctx); !apierrors.IsNotFound(err) {
		t.Fatalf("Get of a missing Lease: %v, want NotFound", err)
	}
	now := metav1.NewTime(time.Unix(1700000000, 0))
	r := resourcelock.LeaderElectionRecord{HolderIdentity: "a", LeaseDurationSeconds: 15, AcquireTime: now, RenewTime: now}
	if err := l.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.RenewTime = metav1.NewTime(now.Add(2 * time.Second))
	r.LeaderTransitions = 1
	if err := l.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, raw, err := l.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.HolderIdentity != "a" || got.LeaseDurationSeconds != 15 || got.LeaderTransitions != 1 || !got.RenewTime.Equal(&r.RenewTime) ||
		!strings.Contains(string(raw), `"holderIdentity":"a"`) {
		t.Errorf("record after update = %+v (%s)", got, raw)
	}
	lease, err := cs.CoordinationV1().Leases("ns").Get(ctx, "shard-0", metav1.GetOptions{})
	if err != nil || lease.Labels["app"] != "x" {
		t.Errorf("lease labels: %v %v", lease.Labels, err)
	}
	writes := 0
	for _, a := range cs.Actions() {
		switch a := a.(type) {
		case k8stesting.CreateActionImpl:
			writes++
			if a.CreateOptions.FieldManager != canary.FieldManager {
				t.Errorf("create with field manager %q, want %q", a.CreateOptions.FieldManager, canary.FieldManager)
			}
		case k8stesting.UpdateActionImpl:
			writes++
			if a.UpdateOptions.FieldManager != canary.FieldManager {
				t.Errorf("update with field manager %q, want %q", a.UpdateOptions.FieldManager, canary.FieldManager)
			}
		}
	}
	if writes != 2 {
		t.Errorf("%d writes recorded, want 2", writes)
	}
	l.RecordEvent("became leader")
	if len(rec.got) != 1 || rec.got[0] != "ns/shard-0 Normal LeaderElection a became leader" {
		t.Errorf("events %q", rec.got)
	}

}

// A release (no holder) of a Lease another identity holds, as last read,
// is refused and writes nothing; a release of one's own Lease is written.
func TestLeaseLockReleaseOfAnothersLease(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	meta := metav1.ObjectMeta{Namespace: "ns", Name: "shard-0"}
	b := &kubernetes.LeaseLock{LeaseMeta: meta, Client: cs.CoordinationV1(), LockConfig: resourcelock.ResourceLockConfig{Identity: "b"}}
	now := metav1.NewTime(time.Unix(1700000000, 0))
	if err := b.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "b", LeaseDurationSeconds: 15, AcquireTime: now, RenewTime: now}); err != nil {
		t.Fatal(err)
	}
	a := &kubernetes.LeaseLock{LeaseMeta: meta, Client: cs.CoordinationV1(), LockConfig: resourcelock.ResourceLockConfig{Identity: "a"}}
	if _, _, err := a.Get(ctx); err != nil {
		t.Fatal(err)
	}
	release := resourcelock.LeaderElectionRecord{LeaseDurationSeconds: 1, AcquireTime: now, RenewTime: now}
	err := a.Update(ctx, release)
	if !errors.Is(err, kubernetes.ErrHeldByAnother) || apierrors.IsConflict(err) || !strings.Contains(err.Error(), `held by "b"`) {
		t.Fatalf("a's release of b's Lease: %v, want ErrHeldByAnother naming b", err)
	}
	got, _, err := b.Get(ctx)
	if err != nil || got.HolderIdentity != "b" {
		t.Fatalf("b's Lease after a's refused release: %+v %v", got, err)
	}
	if err := b.Update(ctx, release); err != nil {
		t.Fatalf("b's release of its own Lease: %v", err)
	}
	if got, _, err := a.Get(ctx); err != nil || got.HolderIdentity != "" {
		t.Fatalf("after b's release: %+v %v", got, err)
	}
	// An acquisition (a record naming a holder) is the API server's to
	// judge (resourceVersion), not refused here.
	if err := a.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "a", LeaseDurationSeconds: 15, AcquireTime: now, RenewTime: now}); err != nil {
		t.Fatal(err)
	}
}
