package gatewayapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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

func fakeRouter(t *testing.T) (*fake.Clientset, *traffic.Router) {
	return fakeRouterFor(t, sampleRoute("shop", "cart"))
}

func fakeRouterFor(t *testing.T, route *gatewayv1.HTTPRoute) (*fake.Clientset, *traffic.Router) {
	cs := fake.NewClientset(route)
	cfg := apiConfig
	cfg.Namespace, cfg.Route = "shop", "cart"
	d, err := gatewayapi.NewDriver(cs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := d.RouterConfig()
	o.Sleep = func(context.Context, time.Duration) error { return nil }
	return cs, traffic.NewRouter(d, o)
}

var routeGR = schema.GroupResource{Group: "gateway.networking.k8s.io", Resource: "httproutes"}

func TestUnitConflictRetried(t *testing.T) {
	cs, r := fakeRouter(t)
	conflicts := 2
	cs.PrependReactor("patch", "httproutes", func(k8stesting.Action) (bool, runtime.Object, error) {
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
	cs.PrependReactor("patch", "httproutes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		route := sampleRoute("shop", "cart")
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
	if _, err := gatewayapi.NewDriver(nil, apiConfig); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("nil client accepted")
	}
	if n := len(cs.Actions()); n != 0 {
		t.Errorf("validation sent %d requests", n)
	}
}

func writes(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if v := a.GetVerb(); v == "patch" || v == "update" || v == "create" {
			n++
		}
	}
	return n
}

// A test header the managed rule already matches is refused before any
// write, in the same case (the server would refuse the route) and in
// another case (the server would accept it and the test header would be
// ignored, header names being case-insensitive).
func TestUnitTestHeaderTheRuleAlreadyMatches(t *testing.T) {
	for _, name := range []string{"x-tenant", "X-Tenant"} {
		route := sampleRoute("shop", "cart")
		exact := gatewayv1.HeaderMatchExact
		route.Spec.Rules[0].Matches[0].Headers = []gatewayv1.HTTPHeaderMatch{{Type: &exact, Name: "x-tenant", Value: "acme"}}
		cs, r := fakeRouterFor(t, route)
		err := r.SetSplit(context.Background(), traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: name, Value: "1"}})
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != "HTTPRoute shop/cart spec.rules[0].matches[0].headers[0]" || canary.Code(err) != canary.InvalidArgument {
			t.Errorf("test header %q: SetSplit = %v, want a FieldError on the managed rule's header match", name, err)
		}
		if n := writes(cs); n != 0 {
			t.Errorf("test header %q: %d writes", name, n)
		}
	}
}

// A route with MaxRules rules cannot take the test rule: refused before
// any write; a split without a test route still goes through.
func TestUnitRuleLimit(t *testing.T) {
	route := sampleRoute("shop", "cart")
	for len(route.Spec.Rules) < gatewayapi.MaxRules {
		extra := route.Spec.Rules[1].DeepCopy()
		extra.Name = ptr(gatewayv1.SectionName(fmt.Sprintf("static-%d", len(route.Spec.Rules))))
		route.Spec.Rules = append(route.Spec.Rules, *extra)
	}
	cs, r := fakeRouterFor(t, route)
	ctx := context.Background()
	err := r.SetSplit(ctx, traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "1"}})
	var fe *canary.FieldError
	if !errors.As(err, &fe) || fe.Field != "HTTPRoute shop/cart spec.rules" || !strings.Contains(err.Error(), "16 rules") {
		t.Fatalf("SetSplit with a test route on a full route = %v, want a FieldError on spec.rules", err)
	}
	if n := writes(cs); n != 0 {
		t.Errorf("%d writes", n)
	}
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		t.Errorf("a weight change on a full route: %v", err)
	}
}

// The write is a JSON Patch of the managed paths only.
func TestUnitPatchTouchesOnlyManagedPaths(t *testing.T) {
	cs, r := fakeRouter(t)
	var paths []string
	cs.PrependReactor("patch", "httproutes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		var ops []struct{ Op, Path string }
		if err := json.Unmarshal(a.(k8stesting.PatchAction).GetPatch(), &ops); err != nil {
			t.Error(err)
		}
		for _, o := range ops {
			paths = append(paths, o.Op+" "+o.Path)
		}
		return false, nil, nil
	})
	ctx := context.Background()
	s := traffic.Split{Stable: 80, Canary: 20, Mirror: 10, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "1"}}
	if err := r.SetSplit(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := r.Release(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"add /metadata/resourceVersion",
		"add /spec/rules/0/backendRefs/0/weight",
		"add /spec/rules/0/backendRefs/1/weight",
		"add /spec/rules/0/filters/-",
		"add /spec/rules/0",
		// Release: the mirror filter (now in rule 1) and the test rule.
		"add /metadata/resourceVersion",
		"remove /spec/rules/1/filters/1",
		"remove /spec/rules/0",
	}
	if strings.Join(paths, "\n") != strings.Join(want, "\n") {
		t.Errorf("patch operations:\n%s\nwant:\n%s", strings.Join(paths, "\n"), strings.Join(want, "\n"))
	}
	if got, err := r.Split(ctx); err != nil || got != traffic.Weighted(20) {
		t.Errorf("after Release: %v, %v", got, err)
	}
}
