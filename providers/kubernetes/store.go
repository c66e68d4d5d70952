package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/store"
)

// FieldManager is the field manager named on every write this package
// makes, so that GitOps tools (Argo CD's and Flux's diffing, server-side
// apply) can tell our fields from theirs and ignore them. The traffic
// routers use the same name.
const FieldManager = "meshcanary"

// Labels and annotations on the ConfigMaps that ConfigMapStore writes.
const (
	// ManagedByLabel is set to FieldManager on every record.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// StoreFormatAnnotation holds the record layout's version ("1").
	StoreFormatAnnotation = "meshcanary.dev/store-format"
	// PrevAnnotation holds the revision the record replaced: it differs
	// at every Save, so that a Save of unchanged bytes still makes a new
	// resourceVersion (the API server does not move it for an update that
	// changes nothing).
	PrevAnnotation = "meshcanary.dev/store-prev"
	// RecordKey is the one key of data (UTF-8 records) or binaryData
	// (other bytes) that holds the record.
	RecordKey = "record"
)

// MaxRecordSize is the largest record ConfigMapStore accepts: 1,000 KiB.
// The API server refuses a ConfigMap whose data and binaryData add up to
// more than 1 MiB (1,048,576 bytes; the same limit as a Secret's), and etcd
// refuses requests over 1.5 MiB by default; 24 KiB are left for the key and
// the object's metadata. A larger record is refused before any request with
// a *[canary.FieldError] naming "data".
//
// A rollout's snapshot stays far below it: its size grows with the number
// of metrics (one running total and one piece of evidence per metric), the
// analyzer's memory, and the events the sink has not yet accepted; a few
// KiB for a rollout with a handful of metrics whose sink keeps up.
const MaxRecordSize = 1000 << 10

// ErrNotRecord is wrapped by the error Load returns for a ConfigMap that
// has the record's name but was not written by ConfigMapStore or was edited
// by hand into something else. Such an object is left untouched: its
// revision is never handed out, so no Save can replace it; delete it (or
// repair it) by hand.
var ErrNotRecord = errors.New("not a record written by the meshcanary store")

// ConfigMapStore is a [store.Store] that keeps each record in a ConfigMap of
// one namespace, written with compare-and-swap on the object's
// resourceVersion: a Save names the resourceVersion it read, and the API
// server answers 409 Conflict when the object moved since, so a driver
// that lost its lease (or any stale writer) is refused instead of
// overwriting newer state. The record's revision is the ConfigMap's
// resourceVersion, which etcd never gives twice, so a record deleted and
// created anew never reuses a revision.
//
// Why a ConfigMap of its own rather than an annotation on the Deployment
// or the custom resource: an object's resourceVersion moves at every write
// by anyone, so compare-and-swap on a shared object would conflict whenever
// the Deployment controller, an autoscaler or a GitOps tool touched it, and
// annotations are limited to 256 KiB in all. A ConfigMap moves only when
// the rollout writes, and can be owned by the rollout's object (Owners) so
// that it is garbage-collected with it.
//
// The zero value is not usable; set Client and Namespace.
type ConfigMapStore struct {
	// Client talks to the API server. Required.
	Client k8s.Interface
	// Namespace holds the ConfigMaps. Required.
	Namespace string
	// Prefix is put before a key to make the ConfigMap's name; the zero
	// value means "meshcanary-". A key too long for a name with the
	// prefix is refused with a *[canary.FieldError] naming "key".
	Prefix string
	// Owners, when set, gives the owner references of the ConfigMap that
	// holds key, written at every Save (for garbage collection with the
	// rollout's object).
	Owners func(key string) []metav1.OwnerReference
}

var _ store.Store = (*ConfigMapStore)(nil)

// DefaultPrefix is the Prefix of a ConfigMapStore that sets none.
const DefaultPrefix = "meshcanary-"

func (s *ConfigMapStore) name(key string) (string, error) {
	if err := store.ValidKey("key", key); err != nil {
		return "", err
	}
	p := s.Prefix
	if p == "" {
		p = DefaultPrefix
	}
	n := p + key
	if msgs := validation.IsDNS1123Subdomain(n); len(msgs) > 0 {
		return "", canary.Invalid("key", key, "makes the ConfigMap name %q: %s", n, msgs[0])
	}
	return n, nil
}

func (s *ConfigMapStore) check(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if s == nil || s.Client == nil {
		return "", canary.Invalid("ConfigMapStore.Client", nil, "must not be nil")
	}
	if msgs := validation.IsDNS1123Label(s.Namespace); len(msgs) > 0 {
		return "", canary.Invalid("ConfigMapStore.Namespace", s.Namespace, "%s", msgs[0])
	}
	return s.name(key)
}

// Load implements [store.Store].
func (s *ConfigMapStore) Load(ctx context.Context, key string) ([]byte, string, error) {
	name, err := s.check(ctx, key)
	if err != nil {
		return nil, "", err
	}
	cm, err := s.Client.CoreV1().ConfigMaps(s.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, "", s.wrap(key, name, err)
	}
	data, err := decodeRecord(cm)
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes: store record %q (ConfigMap %s/%s, resourceVersion %s): %w", key, s.Namespace, name, cm.ResourceVersion, err)
	}
	return data, cm.ResourceVersion, nil
}

// decodeRecord returns the record cm holds, or an error wrapping
// ErrNotRecord saying what is wrong with it.
func decodeRecord(cm *corev1.ConfigMap) ([]byte, error) {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrNotRecord, why) }
	if cm.Labels[ManagedByLabel] != FieldManager {
		return nil, bad("label " + ManagedByLabel + " is not " + strconv.Quote(FieldManager))
	}
	if f := cm.Annotations[StoreFormatAnnotation]; f != "1" {
		return nil, bad("annotation " + StoreFormatAnnotation + " is " + strconv.Quote(f) + ", want \"1\"")
	}
	if len(cm.Data)+len(cm.BinaryData) != 1 {
		return nil, bad(fmt.Sprintf("holds %d keys, want exactly %q", len(cm.Data)+len(cm.BinaryData), RecordKey))
	}
	if v, ok := cm.Data[RecordKey]; ok {
		return []byte(v), nil
	}
	if v, ok := cm.BinaryData[RecordKey]; ok {
		if v == nil {
			v = []byte{}
		}
		return v, nil
	}
	return nil, bad("has no key " + strconv.Quote(RecordKey))
}

func (s *ConfigMapStore) object(key, name string, data []byte, prev string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       s.Namespace,
			ResourceVersion: prev,
			Labels:          map[string]string{ManagedByLabel: FieldManager},
			Annotations:     map[string]string{StoreFormatAnnotation: "1", PrevAnnotation: prev},
		},
	}
	if s.Owners != nil {
		cm.OwnerReferences = s.Owners(key)
	}
	if utf8.Valid(data) {
		cm.Data = map[string]string{RecordKey: string(data)}
	} else {
		cm.BinaryData = map[string][]byte{RecordKey: data}
	}
	return cm
}

// Save implements [store.Store]. A record over MaxRecordSize is refused
// with a *[canary.FieldError] naming "data" before any request.
func (s *ConfigMapStore) Save(ctx context.Context, key string, data []byte, prev string) (string, error) {
	name, err := s.check(ctx, key)
	if err != nil {
		return "", err
	}
	if len(data) > MaxRecordSize {
		return "", canary.Invalid("data", fmt.Sprintf("%d bytes", len(data)), "must be at most %d bytes (kubernetes.MaxRecordSize, under the API server's 1 MiB ConfigMap limit)", MaxRecordSize)
	}
	cms := s.Client.CoreV1().ConfigMaps(s.Namespace)
	cm := s.object(key, name, data, prev)
	var out *corev1.ConfigMap
	if prev == "" {
		out, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: FieldManager})
		if apierrors.IsAlreadyExists(err) {
			return "", conflict(key, prev, err)
		}
	} else {
		// An update names the resourceVersion read: the server refuses it
		// with 409 Conflict when the object moved, and with 404 when it
		// was deleted; both mean the caller's revision is stale.
		out, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: FieldManager})
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) || apierrors.IsBadRequest(err) && !validRevision(prev) {
			return "", conflict(key, prev, err)
		}
	}
	if err != nil {
		return "", s.wrap(key, name, err)
	}
	return out.ResourceVersion, nil
}

// validRevision reports whether v can be a resourceVersion the API server
// gave; it is only used to read a 400 answer to an invented revision as a
// conflict.
func validRevision(v string) bool {
	_, err := strconv.ParseUint(v, 10, 64)
	return err == nil
}

// Delete implements [store.Store], with a resourceVersion precondition.
func (s *ConfigMapStore) Delete(ctx context.Context, key string, prev string) error {
	name, err := s.check(ctx, key)
	if err != nil {
		return err
	}
	cms := s.Client.CoreV1().ConfigMaps(s.Namespace)
	if prev == "" {
		// No revision names no record: report which of the two errors
		// applies.
		if _, err := cms.Get(ctx, name, metav1.GetOptions{}); err != nil {
			return s.wrap(key, name, err)
		}
		return conflict(key, prev, nil)
	}
	err = cms.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &prev}})
	if apierrors.IsConflict(err) || apierrors.IsBadRequest(err) && !validRevision(prev) {
		return conflict(key, prev, err)
	}
	if err != nil {
		return s.wrap(key, name, err)
	}
	return nil
}

func conflict(key, prev string, err error) error {
	if err == nil {
		return fmt.Errorf("kubernetes: store record %q: %w (expected revision %q)", key, store.ErrConflict, prev)
	}
	return fmt.Errorf("kubernetes: store record %q: %w (expected revision %q): %w", key, store.ErrConflict, prev, err)
}

func (s *ConfigMapStore) wrap(key, name string, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("kubernetes: store record %q (ConfigMap %s/%s): %w: %w", key, s.Namespace, name, store.ErrNotFound, err)
	}
	return fmt.Errorf("kubernetes: store record %q (ConfigMap %s/%s): %w", key, s.Namespace, name, err)
}
