package appmesh_test

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshcanary/canary/providers/appmesh"
	"github.com/meshcanary/canary/traffic"
)

func fakeRouter(t *testing.T) (*dynamicfake.FakeDynamicClient, *traffic.Router) {
	client := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), sampleRouter("shop", "cart", "httpRoute"))
	r, err := appmesh.New(client, appmesh.Config{Namespace: "shop", VirtualRouter: "cart", Route: "api", Stable: "cart", Canary: "cart-canary"})
	if err != nil {
		t.Fatal(err)
	}
	return client, r
}

func TestUnitConflictRetried(t *testing.T) {
	client, r := fakeRouter(t)
	conflicts := 2
	client.PrependReactor("update", "virtualrouters", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(appmesh.VirtualRouters.GroupResource(), "cart", errors.New("modified"))
		}
		return false, nil, nil
	})
	if err := r.SetSplit(context.Background(), traffic.Weighted(40)); err != nil {
		t.Fatal(err)
	}
	if s, _ := r.Split(context.Background()); !s.Equal(traffic.Weighted(40)) {
		t.Fatalf("split %v", s)
	}
}

// A mutating webhook (simulated) rewrites the weights: ErrVerify.
func TestUnitVerifyFailure(t *testing.T) {
	client, r := fakeRouter(t)
	client.PrependReactor("update", "virtualrouters", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj := a.(k8stesting.UpdateAction).GetObject().(*unstructured.Unstructured).DeepCopy()
		routes, _, _ := unstructured.NestedSlice(obj.Object, "spec", "routes")
		for _, rt := range routes {
			m := rt.(map[string]any)
			if m["name"] == "api" {
				ts, _, _ := unstructured.NestedSlice(m, "httpRoute", "action", "weightedTargets")
				ts[1].(map[string]any)["weight"] = int64(50)
				_ = unstructured.SetNestedSlice(m, ts, "httpRoute", "action", "weightedTargets")
			}
		}
		_ = unstructured.SetNestedSlice(obj.Object, routes, "spec", "routes")
		return true, obj, nil
	})
	if err := r.SetSplit(context.Background(), traffic.Weighted(10)); !errors.Is(err, traffic.ErrVerify) {
		t.Fatalf("SetSplit = %v, want ErrVerify", err)
	}
}

func TestUnitInjectedServerError(t *testing.T) {
	client, r := fakeRouter(t)
	client.PrependReactor("get", "virtualrouters", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewTooManyRequests("slow down", 1)
	})
	err := r.SetSplit(context.Background(), traffic.Weighted(10))
	var se *apierrors.StatusError
	if !errors.As(err, &se) || !apierrors.IsTooManyRequests(err) {
		t.Fatalf("SetSplit = %v, want the 429 StatusError", err)
	}
}
