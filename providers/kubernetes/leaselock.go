package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaseLock is a leader-election lock on a coordination.k8s.io Lease for
// client-go's leaderelection package (a [resourcelock.Interface]). It
// behaves as client-go's resourcelock.LeaseLock (the same Lease fields,
// the same record conversion, updates carrying the resourceVersion last
// read, so the API server refuses a stale holder's write with 409
// Conflict), except that every create and update names [FieldManager]
// ("meshcanary"): resourcelock.LeaseLock sets no field manager, so its
// writes are attributed to the client's user agent, and GitOps tools
// that ignore our fields by manager name could not tell them apart.
//
// Use one LeaseLock per LeaderElector (it keeps the Lease it last read,
// as client-go's lock does); it is not safe for concurrent use apart from
// the LeaderElector's own calls. The zero value is not usable: set
// LeaseMeta (Namespace and Name), Client and LockConfig.Identity.
type LeaseLock struct {
	// LeaseMeta names the Lease (Namespace and Name).
	LeaseMeta metav1.ObjectMeta
	// Client reads and writes Leases. Required.
	Client coordinationv1client.LeasesGetter
	// LockConfig holds the holder's identity and an optional event
	// recorder for RecordEvent.
	LockConfig resourcelock.ResourceLockConfig
	// Labels, when set, are put on the Lease at every create and update
	// (other labels are kept).
	Labels map[string]string

	lease *coordinationv1.Lease
}

var _ resourcelock.Interface = (*LeaseLock)(nil)

// Get implements [resourcelock.Interface]: it reads the Lease and returns
// its election record and the record's JSON form.
func (l *LeaseLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	lease, err := l.Client.Leases(l.LeaseMeta.Namespace).Get(ctx, l.LeaseMeta.Name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	l.lease = lease
	rec := resourcelock.LeaseSpecToLeaderElectionRecord(&lease.Spec)
	b, err := json.Marshal(*rec)
	if err != nil {
		return nil, nil, err
	}
	return rec, b, nil
}

// Create implements [resourcelock.Interface]: it creates the Lease holding
// ler, with the field manager [FieldManager].
func (l *LeaseLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: l.LeaseMeta.Name, Namespace: l.LeaseMeta.Namespace, Labels: l.Labels},
		Spec:       resourcelock.LeaderElectionRecordToLeaseSpec(&ler),
	}
	out, err := l.Client.Leases(l.LeaseMeta.Namespace).Create(ctx, lease, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil {
		return err
	}
	l.lease = out
	return nil
}

// errLeaseNotRead is returned by Update before any Get or Create.
var errLeaseNotRead = errors.New("kubernetes: LeaseLock.Update before the Lease was read or created")

// ErrHeldByAnother is wrapped by the error LeaseLock.Update returns for a
// release (a record with no holder) of a Lease that, as last read, another
// identity holds. It is not a 409 Conflict on purpose: client-go retries a
// conflicting release at once, in a loop, until its deadline.
var ErrHeldByAnother = errors.New("not releasing a Lease another replica holds")

// Update implements [resourcelock.Interface]: it writes ler into the Lease
// last read or created, with its resourceVersion (a stale holder is
// refused with 409 Conflict) and the field manager [FieldManager].
//
// A release (ler with no holder) of a Lease that, as last read, another
// identity holds is refused with [ErrHeldByAnother] and nothing is
// written. client-go's leaderelection (v0.37) releases on cancel by
// reading the Lease and then checking its own memory of the holder, which
// that read does not refresh: a replica that lost its Lease without
// noticing (a partition: its renewals stalled, another replica took the
// Lease) and is then stopped reads the new holder's Lease, still believes
// it leads, and would clear the new holder's Lease with the
// resourceVersion it just read — so the API server would accept it, and a
// third replica (or itself) could take the shard while the holder still
// drives it. The controller's partition test found this.
func (l *LeaseLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	if l.lease == nil {
		return errLeaseNotRead
	}
	if h := l.lease.Spec.HolderIdentity; ler.HolderIdentity == "" && h != nil && *h != "" && *h != l.LockConfig.Identity {
		return fmt.Errorf("kubernetes: Lease %s: %w: held by %q, not %q", l.Describe(), ErrHeldByAnother, *h, l.LockConfig.Identity)
	}
	lease := l.lease.DeepCopy()
	lease.Spec = resourcelock.LeaderElectionRecordToLeaseSpec(&ler)
	if len(l.Labels) > 0 {
		if lease.Labels == nil {
			lease.Labels = map[string]string{}
		}
		for k, v := range l.Labels {
			lease.Labels[k] = v
		}
	}
	out, err := l.Client.Leases(l.LeaseMeta.Namespace).Update(ctx, lease, metav1.UpdateOptions{FieldManager: FieldManager})
	if err != nil {
		return err
	}
	l.lease = out
	return nil
}

// RecordEvent implements [resourcelock.Interface]: it records s as an
// Event on the Lease when LockConfig.EventRecorder is set.
func (l *LeaseLock) RecordEvent(s string) {
	if l.LockConfig.EventRecorder == nil {
		return
	}
	meta := l.LeaseMeta
	if l.lease != nil {
		meta = l.lease.ObjectMeta
	}
	subject := &coordinationv1.Lease{ObjectMeta: meta}
	subject.Kind = "Lease"
	subject.APIVersion = coordinationv1.SchemeGroupVersion.String()
	l.LockConfig.EventRecorder.Eventf(subject, corev1.EventTypeNormal, "LeaderElection", "%s", l.LockConfig.Identity+" "+s)
}

// Describe implements [resourcelock.Interface]: "namespace/name".
func (l *LeaseLock) Describe() string {
	return fmt.Sprintf("%s/%s", l.LeaseMeta.Namespace, l.LeaseMeta.Name)
}

// Identity implements [resourcelock.Interface].
func (l *LeaseLock) Identity() string { return l.LockConfig.Identity }
