package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/traffic/traffictest"
)

// trafficSplit is a split of root Service shop over shop-v1 (all the
// traffic), shop-v2 and a third backend at weight 0, with a label and an
// annotation another tool owns.
func trafficSplit(ns, name, apiVersion string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "split.smi-spec.io/" + apiVersion,
		"kind":       "TrafficSplit",
		"metadata": map[string]any{"namespace": ns, "name": name,
			"labels": map[string]any{"owner": "flux"}, "annotations": map[string]any{"team": "cart"}},
		"spec": map[string]any{
			"service": "shop",
			"backends": []any{
				map[string]any{"service": "shop-v1", "weight": int64(100)},
				map[string]any{"service": "shop-old", "weight": int64(0)},
				map[string]any{"service": "shop-v2", "weight": int64(0)},
			},
		},
	}}
}

func smiConfig(ns, name, apiVersion string) kubernetes.TrafficSplitConfig {
	return kubernetes.TrafficSplitConfig{Namespace: ns, TrafficSplit: name, Service: "shop", Stable: "shop-v1", Canary: "shop-v2", APIVersion: apiVersion}
}

func TestTrafficSplitConformance(t *testing.T) {
	for _, apiVersion := range kubernetes.SMIAPIVersions {
		t.Run(apiVersion, func(t *testing.T) {
			env := kubetest.Env(t)
			ns := env.Namespace(t)
			admin := env.Dynamic(t)
			var n atomic.Int32
			type entry struct {
				*kubernetes.TrafficSplit
				name    string
				counter *kubetest.Counter
			}
			gvr := kubernetes.TrafficSplits(apiVersion)
			traffictest.Run(t, traffictest.Harness{
				New: func(ctx context.Context, t *testing.T) (traffic.Driver, traffic.Config) {
					name := fmt.Sprintf("shop-%d", n.Add(1))
					if _, err := admin.Resource(gvr).Namespace(ns).Create(ctx, trafficSplit(ns, name, apiVersion), metav1.CreateOptions{}); err != nil {
						t.Fatal(err)
					}
					cfg, counter := env.CountingConfig()
					client, err := dynamic.NewForConfig(cfg)
					if err != nil {
						t.Fatal(err)
					}
					d, err := kubernetes.NewTrafficSplitDriver(client, smiConfig(ns, name, apiVersion))
					if err != nil {
						t.Fatal(err)
					}
					return entry{d, name, counter}, d.RouterConfig()
				},
				Delete: func(ctx context.Context, t *testing.T, d traffic.Driver) {
					e := d.(entry)
					if err := admin.Resource(gvr).Namespace(ns).Delete(ctx, e.name, metav1.DeleteOptions{}); err != nil {
						t.Fatal(err)
					}
				},
				Break: func(ctx context.Context, t *testing.T, d traffic.Driver) any {
					e := d.(entry)
					e.counter.Deny(true)
					return new(*apierrors.StatusError)
				},
				NoMirror:    true,
				NoTestRoute: true,
			})
		})
	}
}

// A rollout and its rollback leave the TrafficSplit exactly as it was but
// for the resourceVersion and the managed fields, one PATCH for the
// rollback, with the field manager meshcanary.
func TestTrafficSplitRollbackRestores(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	admin := env.Dynamic(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	gvr := kubernetes.TrafficSplits("v1alpha2")
	before, err := admin.Resource(gvr).Namespace(ns).Create(ctx, trafficSplit(ns, "shop", "v1alpha2"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, counter := env.CountingConfig()
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := kubernetes.NewTrafficSplit(client, smiConfig(ns, "shop", "v1alpha2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetSplit(ctx, traffic.Weighted(30)); err != nil {
		t.Fatal(err)
	}
	mid, err := admin.Resource(gvr).Namespace(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bs, _, _ := unstructured.NestedSlice(mid.Object, "spec", "backends")
	if w := bs[2].(map[string]any)["weight"]; w != int64(30) {
		t.Errorf("canary backend weight on the server = %v, want 30", w)
	}
	counter.Reset()
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	if got := counter.Counts(); got["PATCH"] != 1 || counter.Total() != 1 {
		t.Errorf("rollback sent %v, want exactly 1 PATCH", got)
	}
	after, err := admin.Resource(gvr).Namespace(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before.Object["spec"], after.Object["spec"]) ||
		!reflect.DeepEqual(before.GetLabels(), after.GetLabels()) || !reflect.DeepEqual(before.GetAnnotations(), after.GetAnnotations()) {
		t.Errorf("rollback did not restore the split:\nbefore %v\nafter  %v", before.Object, after.Object)
	}
	if !managedBy(after.GetManagedFields(), canary.FieldManager) {
		t.Errorf("no managed-fields entry of %q: %+v", canary.FieldManager, after.GetManagedFields())
	}
}

func managedBy(fields []metav1.ManagedFieldsEntry, manager string) bool {
	for _, m := range fields {
		if m.Manager == manager {
			return true
		}
	}
	return false
}

// What the router cannot split is refused with the field before any
// write: a third backend taking traffic, another root service, a missing
// canary backend.
func TestTrafficSplitRefusals(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	admin := env.Dynamic(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	gvr := kubernetes.TrafficSplits("v1alpha2")
	for i, c := range []struct {
		mod   func(obj *unstructured.Unstructured)
		field string
	}{
		{func(o *unstructured.Unstructured) {
			bs, _, _ := unstructured.NestedSlice(o.Object, "spec", "backends")
			bs[1].(map[string]any)["weight"] = int64(5)
			_ = unstructured.SetNestedSlice(o.Object, bs, "spec", "backends")
		}, "spec.backends[1]"},
		{func(o *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(o.Object, "other", "spec", "service")
		}, "spec.service"},
		{func(o *unstructured.Unstructured) {
			bs, _, _ := unstructured.NestedSlice(o.Object, "spec", "backends")
			_ = unstructured.SetNestedSlice(o.Object, bs[:2], "spec", "backends")
		}, "spec.backends"},
	} {
		name := fmt.Sprintf("bad-%d", i)
		obj := trafficSplit(ns, name, "v1alpha2")
		c.mod(obj)
		before, err := admin.Resource(gvr).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := kubernetes.NewTrafficSplit(admin, smiConfig(ns, name, "v1alpha2"))
		if err != nil {
			t.Fatal(err)
		}
		err = r.SetSplit(ctx, traffic.Weighted(10))
		var fe *canary.FieldError
		if !errors.As(err, &fe) || !strings.HasSuffix(fe.Field, c.field) {
			t.Errorf("%s: SetSplit = %v, want a FieldError on %s", name, err, c.field)
		}
		after, err := admin.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if after.GetResourceVersion() != before.GetResourceVersion() {
			t.Errorf("%s: the split was written despite the refusal", name)
		}
	}
}

func TestNewTrafficSplitRefusesBadConfig(t *testing.T) {
	good := kubernetes.TrafficSplitConfig{Namespace: "shop", TrafficSplit: "cart", Service: "cart", Stable: "cart-v1", Canary: "cart-v2"}
	dc := dynamic.New(nil)
	for field, mod := range map[string]func(*kubernetes.TrafficSplitConfig){
		"Config.Namespace":    func(c *kubernetes.TrafficSplitConfig) { c.Namespace = "" },
		"Config.TrafficSplit": func(c *kubernetes.TrafficSplitConfig) { c.TrafficSplit = "Cart" },
		"Config.Canary":       func(c *kubernetes.TrafficSplitConfig) { c.Canary = c.Stable },
		"Config.APIVersion":   func(c *kubernetes.TrafficSplitConfig) { c.APIVersion = "v1alpha1" },
	} {
		c := good
		mod(&c)
		_, err := kubernetes.NewTrafficSplit(dc, c)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: err = %v, want a FieldError on %s", field, err, field)
		}
	}
	if _, err := kubernetes.NewTrafficSplit(dc, good); err != nil {
		t.Errorf("good config: %v", err)
	}
}
