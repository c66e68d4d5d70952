package gatewayapi_test

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/gatewayapi"
	"github.com/meshcanary/canary/traffic"
)

func fakeRouter(t *testing.T) (*fake.Clientset, *gatewayapi.Router) {
	cs := fake.NewClientset(sampleRoute("shop", "cart"))
	cfg := apiConfig
	cfg.Namespace, cfg.Route = "shop", "cart"
	r, err := gatewayapi.New(cs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs, r
}

var routeGR = schema.GroupResource{Group: "gateway.networking.k8s.io", Resource: "httproutes"}

func TestUnitConflictRetried(t *testing.T) {
	cs, r := fakeRouter(t)
	conflicts := 2
	cs.PrependReactor("update", "httproutes", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(routeGR, "cart", errors.New("the object has been modified"))
		}
		return false, nil, nil
	})
	if err := r.SetSplit(context.Background(), traffic.Weighted(30)); err != nil {
		t.Fatal(err)
	}
	if s, _ := r.Split(context.Background()); !s.Equal(traffic.Weighted(30)) {
		t.Fatalf("split %v", s)
	}
	gets := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "get" {
			gets++
		}
	}
	if gets != 4 { // 3 attempts + the Split above
		t.Errorf("%d gets, want a fresh read per attempt (4)", gets)
	}
}

// A mutating admission webhook (simulated by a reactor) changes the weights
// the router wrote: the router reports traffic.ErrVerify.
func TestUnitVerifyFailure(t *testing.T) {
	cs, r := fakeRouter(t)
	cs.PrependReactor("update", "httproutes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		route := a.(k8stesting.UpdateAction).GetObject().(*gatewayv1.HTTPRoute).DeepCopy()
		w := int32(50)
		route.Spec.Rules[0].BackendRefs[1].Weight = &w
		return true, route, nil
	})
	if err := r.SetSplit(context.Background(), traffic.Weighted(10)); !errors.Is(err, traffic.ErrVerify) {
		t.Fatalf("SetSplit = %v, want ErrVerify", err)
	}
}

func TestUnitInjectedServerError(t *testing.T) {
	cs, r := fakeRouter(t)
	cs.PrependReactor("get", "httproutes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd is down")
	})
	_, err := r.Split(context.Background())
	var se *apierrors.StatusError
	if !errors.As(err, &se) || !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("Split = %v, want the 503 StatusError", err)
	}
}

func TestUnitNewValidates(t *testing.T) {
	cs := fake.NewClientset()
	for _, cfg := range []gatewayapi.Config{
		{Namespace: "shop", Route: "cart", Stable: "a", Canary: "a"},
		{Namespace: "shop", Route: "cart", Rule: "api", RuleIndex: ptr(0), Stable: "a", Canary: "b"},
		{Namespace: "shop", Route: "cart", RuleIndex: ptr(-1), Stable: "a", Canary: "b"},
		{Namespace: "shop", Route: "cart", Rule: "x", TestRule: "x", Stable: "a", Canary: "b"},
		{Namespace: "shop", Route: "", Stable: "a", Canary: "b"},
	} {
		if _, err := gatewayapi.New(cs, cfg); !errors.Is(err, canary.ErrInvalid) {
			t.Errorf("New(%+v) = %v, want ErrInvalid", cfg, err)
		}
	}
	if _, err := gatewayapi.New(nil, apiConfig); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("nil client accepted")
	}
	if n := len(cs.Actions()); n != 0 {
		t.Errorf("validation sent %d requests", n)
	}
}
