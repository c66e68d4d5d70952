package kubernetes_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	ktesting "k8s.io/client-go/testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/store/storetest"
)

// casConfigMaps makes client-go's fake clientset keep ConfigMaps as the
// API server does for what ConfigMapStore relies on: a resourceVersion from
// one counter that never repeats, 409 Conflict on an update or a delete
// naming another resourceVersion, 404 and 409 (AlreadyExists) where the
// server gives them. The fake's own tracker does not check
// resourceVersions, so it could not pass the conformance suite.
func casConfigMaps(c *fake.Clientset) {
	var mu sync.Mutex
	objs := map[string]*corev1.ConfigMap{}
	var rv uint64
	gr := schema.GroupResource{Resource: "configmaps"}
	key := func(ns, name string) string { return ns + "/" + name }
	c.PrependReactor("*", "configmaps", func(a ktesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		ns := a.GetNamespace()
		switch a.GetVerb() {
		case "get":
			a := a.(ktesting.GetAction)
			cm, ok := objs[key(ns, a.GetName())]
			if !ok {
				return true, nil, apierrors.NewNotFound(gr, a.GetName())
			}
			return true, cm.DeepCopy(), nil
		case "create":
			a := a.(ktesting.CreateAction)
			cm := a.GetObject().(*corev1.ConfigMap).DeepCopy()
			if _, ok := objs[key(ns, cm.Name)]; ok {
				return true, nil, apierrors.NewAlreadyExists(gr, cm.Name)
			}
			if cm.ResourceVersion != "" {
				return true, nil, apierrors.NewBadRequest("resourceVersion should not be set on objects to be created")
			}
			rv++
			cm.ResourceVersion, cm.Namespace = strconv.FormatUint(rv, 10), ns
			objs[key(ns, cm.Name)] = cm
			return true, cm.DeepCopy(), nil
		case "update":
			a := a.(ktesting.UpdateAction)
			cm := a.GetObject().(*corev1.ConfigMap).DeepCopy()
			cur, ok := objs[key(ns, cm.Name)]
			if !ok {
				return true, nil, apierrors.NewNotFound(gr, cm.Name)
			}
			if cm.ResourceVersion != "" && cm.ResourceVersion != cur.ResourceVersion {
				return true, nil, apierrors.NewConflict(gr, cm.Name, errors.New("the object has been modified"))
			}
			rv++
			cm.ResourceVersion, cm.Namespace = strconv.FormatUint(rv, 10), ns
			objs[key(ns, cm.Name)] = cm
			return true, cm.DeepCopy(), nil
		case "delete":
			a := a.(ktesting.DeleteAction)
			cur, ok := objs[key(ns, a.GetName())]
			if !ok {
				return true, nil, apierrors.NewNotFound(gr, a.GetName())
			}
			if p := a.GetDeleteOptions().Preconditions; p != nil && p.ResourceVersion != nil && *p.ResourceVersion != cur.ResourceVersion {
				return true, nil, apierrors.NewConflict(gr, a.GetName(), errors.New("precondition failed"))
			}
			delete(objs, key(ns, a.GetName()))
			return true, nil, nil
		}
		return false, nil, nil
	})
}

func newFakeStore() *kubernetes.ConfigMapStore {
	c := fake.NewClientset()
	casConfigMaps(c)
	return &kubernetes.ConfigMapStore{Client: c, Namespace: "rollouts"}
}

// handEdit replaces the record's ConfigMap with something a person might
// leave: the data key renamed and the label dropped.
func handEdit(ctx context.Context, t *testing.T, s store.Store, key string) {
	t.Helper()
	cs := s.(*kubernetes.ConfigMapStore)
	cms := cs.Client.CoreV1().ConfigMaps(cs.Namespace)
	cm, err := cms.Get(ctx, kubernetes.DefaultPrefix+key, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Labels = nil
	cm.Data = map[string]string{"notes": "phase: done, I think"}
	cm.BinaryData = nil
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestConfigMapStoreConformanceFake(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(context.Context, *testing.T) store.Store { return newFakeStore() },
		Twin: func(_ context.Context, _ *testing.T, s store.Store) store.Store {
			c := *s.(*kubernetes.ConfigMapStore)
			return &c
		},
		MaxSize: kubernetes.MaxRecordSize,
		Corrupt: handEdit,
	})
}

func TestConfigMapStoreConformanceReal(t *testing.T) {
	env := kubetest.Env(t)
	kc := env.Kube(t)
	storetest.Run(t, storetest.Harness{
		New: func(_ context.Context, t *testing.T) store.Store {
			return &kubernetes.ConfigMapStore{Client: kc, Namespace: env.Namespace(t)}
		},
		// Another process's client, on the same namespace.
		Twin: func(_ context.Context, t *testing.T, s store.Store) store.Store {
			return &kubernetes.ConfigMapStore{Client: env.Kube(t), Namespace: s.(*kubernetes.ConfigMapStore).Namespace}
		},
		MaxSize: kubernetes.MaxRecordSize,
		Corrupt: handEdit,
	})
}

func TestConfigMapStoreLayout(t *testing.T) {
	ctx := context.Background()
	s := newFakeStore()
	s.Owners = func(key string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: "meshcanary.dev/v1alpha1", Kind: "Rollout", Name: key, UID: "u-1"}}
	}
	if _, err := s.Save(ctx, "checkout", []byte(`{"phase":"progressing"}`), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "bin", []byte{0xff, 0, 1}, ""); err != nil {
		t.Fatal(err)
	}
	cm, err := s.Client.CoreV1().ConfigMaps("rollouts").Get(ctx, "meshcanary-checkout", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels[kubernetes.ManagedByLabel] != "meshcanary" || cm.Data["record"] != `{"phase":"progressing"}` || len(cm.BinaryData) != 0 ||
		len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].Name != "checkout" {
		t.Fatalf("ConfigMap = %+v", cm)
	}
	cm, err = s.Client.CoreV1().ConfigMaps("rollouts").Get(ctx, "meshcanary-bin", metav1.GetOptions{})
	if err != nil || len(cm.Data) != 0 || string(cm.BinaryData["record"]) != "\xff\x00\x01" {
		t.Fatalf("binary record kept as %+v, %v", cm, err)
	}
}

// Every write names the fixed field manager.
func TestConfigMapStoreFieldManager(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset()
	casConfigMaps(c) // prepended first, so it runs after the reactor below
	var managers []string
	c.PrependReactor("*", "configmaps", func(a ktesting.Action) (bool, runtime.Object, error) {
		switch a := a.(type) {
		case ktesting.CreateActionImpl:
			managers = append(managers, a.CreateOptions.FieldManager)
		case ktesting.UpdateActionImpl:
			managers = append(managers, a.UpdateOptions.FieldManager)
		}
		return false, nil, nil
	})
	s := &kubernetes.ConfigMapStore{Client: c, Namespace: "ns"}
	v, err := s.Save(ctx, "a", []byte("1"), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "a", []byte("2"), v); err != nil {
		t.Fatal(err)
	}
	if len(managers) != 2 || managers[0] != kubernetes.FieldManager || managers[1] != kubernetes.FieldManager {
		t.Fatalf("field managers on writes: %q, want %q twice", managers, kubernetes.FieldManager)
	}
}

func TestConfigMapStoreRefusesBadConfig(t *testing.T) {
	ctx := context.Background()
	var fe *canary.FieldError
	for _, s := range []*kubernetes.ConfigMapStore{
		{Namespace: "ns"},
		{Client: fake.NewClientset(), Namespace: "Bad_NS"},
		{Client: fake.NewClientset(), Namespace: ""},
	} {
		if _, err := s.Save(ctx, "a", nil, ""); !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "ConfigMapStore.") {
			t.Errorf("Save on %+v: %v, want a FieldError naming the store's field", s, err)
		}
	}
	s := &kubernetes.ConfigMapStore{Client: fake.NewClientset(), Namespace: "ns"}
	long := strings.Repeat("a", 250) // valid key, too long with the prefix
	if _, _, err := s.Load(ctx, long); !errors.As(err, &fe) || fe.Field != "key" {
		t.Fatalf("Load of a key too long with the prefix: %v", err)
	}
}

// A hand-edited record's error says what is wrong and which object.
func TestConfigMapStoreNotRecordMessage(t *testing.T) {
	ctx := context.Background()
	s := newFakeStore()
	if _, err := s.Save(ctx, "checkout", []byte("{}"), ""); err != nil {
		t.Fatal(err)
	}
	handEdit(ctx, t, s, "checkout")
	_, _, err := s.Load(ctx, "checkout")
	if !errors.Is(err, kubernetes.ErrNotRecord) || !strings.Contains(err.Error(), "rollouts/meshcanary-checkout") {
		t.Fatalf("Load = %v", err)
	}
}

var _ k8s.Interface = (*fake.Clientset)(nil)
