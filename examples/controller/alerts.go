package main

// The alert receiver: Prometheus Alertmanager's webhook (package trigger)
// for every Rollout the controller watches. A firing alert whose label
// names a Rollout rolls it back through the controller's manual abort
// (Controller.Abort), exactly once per alert: the trigger.Applier claims
// the alert in a ledger ConfigMap of the Rollout's namespace (with
// compare-and-swap) before it acts, and rollback.Rollout.Abort saves the
// rollback decision in the rollout's state ConfigMap before it writes the
// router.

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/trigger"
)

// DefaultAlertLabel is the alert label that names the Rollout an alert
// rolls back, as "<namespace>.<name>" (a namespace holds no dot, so the
// first dot splits the two).
const DefaultAlertLabel = "rollout"

// abortWait bounds how long an alert's abort waits for the router and the
// scaler after the rollback decision is saved; what is not done by then
// the rollout's next step finishes (the decision is in its state).
const abortWait = 30 * time.Second

// AlertName is the name an alert label gives the Rollout namespace/name.
func AlertName(namespace, name string) string { return namespace + "." + name }

// splitAlertName reads "<namespace>.<name>".
func splitAlertName(s string) (namespace, name string, err error) {
	ns, name, ok := strings.Cut(s, ".")
	if !ok || name == "" || len(validation.IsDNS1123Label(ns)) > 0 {
		return "", "", fmt.Errorf("%w: %q does not name a Rollout as <namespace>.<name>", trigger.ErrUnknownRollout, s)
	}
	return ns, name, nil
}

// AlertReceiver returns the Alertmanager webhook handler of the
// controller: a firing alert carrying the label (empty means
// [DefaultAlertLabel]) with the value "<namespace>.<name>" rolls that
// Rollout back, once per alert, whichever replica receives it. auth is
// required (a bearer token or an HMAC key).
func (c *Controller) AlertReceiver(auth trigger.Authenticator, label string) (*trigger.Alertmanager, error) {
	if label == "" {
		label = DefaultAlertLabel
	}
	h := &trigger.Alertmanager{
		Applier: &trigger.Applier{Store: ledgerStore{c}, Targets: alertTargets{c}},
		Routes:  []trigger.Route{{Label: label, Action: trigger.RollBack}},
		Auth:    auth,
		Now:     c.o.Clock,
		Log:     func(l string) { c.o.Log.Info(l) },
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return h, nil
}

// ledgerStore keeps the receiver's ledger of applied alerts (key
// "<namespace>.<name>.signals", trigger.Key) in a ConfigMap of the
// Rollout's namespace, meshcanary-signals-<name>, owned by the Rollout:
// the same store, verbs and compare-and-swap as the rollouts' state.
type ledgerStore struct{ c *Controller }

func (l ledgerStore) split(key string) (*kubernetes.ConfigMapStore, string, error) {
	id, ok := strings.CutSuffix(key, ".signals")
	if !ok {
		return nil, "", canary.Invalid("key", key, "is not a signal ledger's key")
	}
	ns, name, err := splitAlertName(id)
	if err != nil {
		return nil, "", canary.Invalid("key", key, "does not name a Rollout as <namespace>.<name>.signals")
	}
	st := &kubernetes.ConfigMapStore{Client: l.c.o.Kube, Namespace: ns, Owners: func(string) []metav1.OwnerReference {
		obj, err := l.c.rollouts.ByNamespace(ns).Get(name)
		if err != nil {
			return nil
		}
		u := obj.(*unstructured.Unstructured)
		return []metav1.OwnerReference{{APIVersion: APIVersion, Kind: Kind, Name: name, UID: u.GetUID()}}
	}}
	return st, "signals-" + name, nil
}

func (l ledgerStore) Load(ctx context.Context, key string) ([]byte, string, error) {
	st, k, err := l.split(key)
	if err != nil {
		return nil, "", err
	}
	return st.Load(ctx, k)
}

func (l ledgerStore) Save(ctx context.Context, key string, data []byte, prev string) (string, error) {
	st, k, err := l.split(key)
	if err != nil {
		return "", err
	}
	return st.Save(ctx, k, data, prev)
}

func (l ledgerStore) Delete(ctx context.Context, key string, prev string) error {
	st, k, err := l.split(key)
	if err != nil {
		return err
	}
	return st.Delete(ctx, k, prev)
}

var _ store.Store = ledgerStore{}

// alertTargets finds the Rollout an alert names among those the
// controller watches.
type alertTargets struct{ c *Controller }

func (a alertTargets) Target(_ context.Context, id string) (trigger.Target, error) {
	ns, name, err := splitAlertName(id)
	if err != nil {
		return nil, err
	}
	if a.c.o.Namespace != "" && ns != a.c.o.Namespace {
		return nil, fmt.Errorf("%w: %s/%s: this controller watches namespace %s only", trigger.ErrUnknownRollout, ns, name, a.c.o.Namespace)
	}
	if _, err := a.c.rollouts.ByNamespace(ns).Get(name); apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w: no Rollout %s/%s", trigger.ErrUnknownRollout, ns, name)
	} else if err != nil {
		return nil, err
	}
	return rolloutTarget{c: a.c, namespace: ns, name: name}, nil
}

// rolloutTarget is one Rollout, acted on through the controller's
// manual operations.
type rolloutTarget struct {
	c               *Controller
	namespace, name string
}

func (t rolloutTarget) Pause(ctx context.Context, now time.Time, actor, reason string) (rollback.Status, error) {
	return t.c.Pause(ctx, t.namespace, t.name, now, actor, reason)
}

func (t rolloutTarget) Abort(ctx context.Context, now time.Time, actor, reason string) (rollback.Status, error) {
	return t.c.Abort(ctx, t.namespace, t.name, now, actor, reason)
}

// Abort rolls the Rollout namespace/name back at once, as a person would
// ([rollback.Rollout.Abort]): the decision is saved in the rollout's state
// ConfigMap with compare-and-swap, then one router write sends every
// request to stable, then the canary is scaled down, and the actor and
// reason go to the rollout's Events. Any replica may call it: on the
// replica that holds the rollout's shard it acts on the rollout being
// driven; on another it opens the rollout from the store, and the
// holder's next save is refused (its state moved) and it reloads the
// rollback. An error wrapping [trigger.ErrUnknownRollout] means there is
// no such Rollout, or none this controller can drive.
func (c *Controller) Abort(ctx context.Context, namespace, name string, now time.Time, actor, reason string) (rollback.Status, error) {
	return c.manual(ctx, namespace, name, func(ctx context.Context, r *rollback.Rollout) (rollback.Status, error) {
		return r.Abort(ctx, now, actor, reason)
	})
}

// Pause holds the Rollout namespace/name at its weight, as
// [rollback.Rollout.Pause], by the same path as Abort.
func (c *Controller) Pause(ctx context.Context, namespace, name string, now time.Time, actor, reason string) (rollback.Status, error) {
	return c.manual(ctx, namespace, name, func(ctx context.Context, r *rollback.Rollout) (rollback.Status, error) {
		return r.Pause(ctx, now, actor, reason)
	})
}

func (c *Controller) manual(ctx context.Context, namespace, name string,
	op func(context.Context, *rollback.Rollout) (rollback.Status, error)) (rollback.Status, error) {
	key := namespace + "/" + name
	obj, err := c.rollouts.ByNamespace(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return rollback.Status{}, fmt.Errorf("%w: no Rollout %s", trigger.ErrUnknownRollout, key)
	}
	if err != nil {
		return rollback.Status{}, err
	}
	ro, err := decode(obj.(*unstructured.Unstructured))
	var p *parsed
	if err == nil {
		p, err = parse(ro)
	}
	if err == nil {
		err = c.deploymentsExist(ro)
	}
	ref := &corev1.ObjectReference{Kind: Kind, APIVersion: APIVersion, Namespace: namespace, Name: name, UID: types.UID(ro.UID)}
	var cfg rollback.Config
	if err == nil {
		cfg, err = c.config(ro, p, ref)
	}
	if err != nil {
		return rollback.Status{}, fmt.Errorf("%w: Rollout %s cannot be driven: %w", trigger.ErrUnknownRollout, key, err)
	}
	// The decision is saved before anything is written; the acting that
	// follows is bounded (the next step finishes it), and not cut short
	// by the sender hanging up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortWait)
	defer cancel()
	c.mu.Lock()
	d := c.driven[key]
	c.mu.Unlock()
	if _, held := c.shards.heldCtx(c.shards.of(key)); !held || d == nil || d.gen != ro.Generation {
		st := &kubernetes.ConfigMapStore{Client: c.o.Kube, Namespace: namespace, Owners: func(string) []metav1.OwnerReference {
			return []metav1.OwnerReference{{APIVersion: APIVersion, Kind: Kind, Name: name, UID: types.UID(ro.UID)}}
		}}
		if d, err = load(ctx, st, storeKey(ro), cfg, ro.Generation); err != nil {
			return rollback.Status{}, err
		}
		// A rollout this replica drives from an older read reloads.
		c.mu.Lock()
		c.drop(key)
		c.mu.Unlock()
	}
	status, err := op(ctx, d.r)
	c.queue.Add(key) // the status, at once
	return status, err
}
