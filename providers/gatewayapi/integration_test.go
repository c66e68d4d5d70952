package gatewayapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/providers/gatewayapi"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/traffic/traffictest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

func ptr[T any](v T) *T { return &v }

// sampleRoute is a route with two named rules: "api" (managed: stable and
// canary backends, a header filter) and "static" (another Service).
func sampleRoute(ns, name string) *gatewayv1.HTTPRoute {
	prefix := gatewayv1.PathMatchPathPrefix
	return &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"owner": "helm"}},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "mesh-gateway"}}},
			Hostnames:       []gatewayv1.Hostname{"shop.example"},
			Rules: []gatewayv1.HTTPRouteRule{
				{
					Name:    ptr(gatewayv1.SectionName("api")),
					Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: &prefix, Value: ptr("/api")}}},
					Filters: []gatewayv1.HTTPRouteFilter{{
						Type:                  gatewayv1.HTTPRouteFilterRequestHeaderModifier,
						RequestHeaderModifier: &gatewayv1.HTTPHeaderFilter{Set: []gatewayv1.HTTPHeader{{Name: "x-team", Value: "cart"}}},
					}},
					BackendRefs: []gatewayv1.HTTPBackendRef{
						{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "cart", Port: ptr(gatewayv1.PortNumber(8080))}}},
						{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "cart-canary", Port: ptr(gatewayv1.PortNumber(8080))}, Weight: ptr(int32(0))}},
					},
				},
				{
					Name:        ptr(gatewayv1.SectionName("static")),
					Matches:     []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{Type: &prefix, Value: ptr("/static")}}},
					BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "assets", Port: ptr(gatewayv1.PortNumber(80))}}}},
				},
			},
		},
	}
}

var apiConfig = gatewayapi.Config{Rule: "api", Stable: "cart", Canary: "cart-canary"}

type fixture struct {
	env     *kubetest.Environment
	ns      string
	admin   versioned.Interface
	counter *kubetest.Counter
	client  versioned.Interface // counted, deniable
}

func newFixture(t testing.TB) *fixture {
	env := kubetest.Env(t)
	f := &fixture{env: env, ns: env.Namespace(t)}
	var err error
	if f.admin, err = versioned.NewForConfig(rest.CopyConfig(env.Config)); err != nil {
		t.Fatal(err)
	}
	cfg, counter := env.CountingConfig()
	f.counter = counter
	if f.client, err = versioned.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) create(ctx context.Context, t testing.TB, route *gatewayv1.HTTPRoute) *gatewayv1.HTTPRoute {
	t.Helper()
	route.Namespace = f.ns
	got, err := f.admin.GatewayV1().HTTPRoutes(f.ns).Create(ctx, route, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create route: %v", err)
	}
	return got
}

func (f *fixture) router(t testing.TB, name string, cfg gatewayapi.Config) *traffic.Router {
	t.Helper()
	cfg.Namespace, cfg.Route = f.ns, name
	r, err := gatewayapi.New(f.client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) get(ctx context.Context, t testing.TB, name string) *gatewayv1.HTTPRoute {
	t.Helper()
	got, err := f.admin.GatewayV1().HTTPRoutes(f.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestConformance(t *testing.T) {
	f := newFixture(t)
	var n atomic.Int32
	type entry struct {
		*gatewayapi.Driver
		name    string
		counter *kubetest.Counter
	}
	traffictest.Run(t, traffictest.Harness{
		New: func(ctx context.Context, t *testing.T) (traffic.Driver, traffic.Config) {
			name := fmt.Sprintf("cart-%d", n.Add(1))
			f.create(ctx, t, sampleRoute(f.ns, name))
			// Each router gets its own counted client so Break affects only it.
			cfg, counter := f.env.CountingConfig()
			client, err := versioned.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := apiConfig
			c.Namespace, c.Route = f.ns, name
			d, err := gatewayapi.NewDriver(client, c)
			if err != nil {
				t.Fatal(err)
			}
			return entry{d, name, counter}, d.RouterConfig()
		},
		Delete: func(ctx context.Context, t *testing.T, d traffic.Driver) {
			e := d.(entry)
			if err := f.admin.GatewayV1().HTTPRoutes(f.ns).Delete(ctx, e.name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		},
		// Break makes the router's client authenticate as a user RBAC
		// grants nothing: the real server answers 403 Forbidden.
		Break: func(ctx context.Context, t *testing.T, d traffic.Driver) any {
			e := d.(entry)
			e.counter.Deny(true)
			return new(*apierrors.StatusError)
		},
		Features: &traffic.Features{HeaderMatch: true, RegexMatch: true, CookieMatch: true, Affinity: true},
	})
}

// withoutWeights returns the spec with the managed weights cleared, for
// comparing "everything else".
func withoutWeights(route *gatewayv1.HTTPRoute) gatewayv1.HTTPRouteSpec {
	s := route.Spec.DeepCopy()
	for i := range s.Rules {
		for j := range s.Rules[i].BackendRefs {
			s.Rules[i].BackendRefs[j].Weight = nil
		}
	}
	return *s
}

func TestOtherFieldsUntouched(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	orig := f.create(ctx, t, sampleRoute(f.ns, "cart"))
	r := f.router(t, "cart", apiConfig)
	s := traffic.Split{Stable: 80, Canary: 20, Mirror: 10, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "1"}}
	if err := r.SetSplit(ctx, s); err != nil {
		t.Fatal(err)
	}
	mid := f.get(ctx, t, "cart")
	if len(mid.Spec.Rules) != 3 || mid.Spec.Rules[0].Name == nil || *mid.Spec.Rules[0].Name != gatewayapi.DefaultTestRule {
		t.Fatalf("test rule not placed first: %+v", mid.Spec.Rules)
	}
	hs := mid.Spec.Rules[0].Matches[0]
	if *hs.Path.Value != "/api" || len(hs.Headers) != 1 || hs.Headers[0].Name != "x-canary" {
		t.Errorf("test rule match = %+v, want the managed rule's path plus the header", hs)
	}
	if err := r.Release(ctx); err != nil {
		t.Fatal(err)
	}
	after := f.get(ctx, t, "cart")
	if !reflect.DeepEqual(withoutWeights(orig), withoutWeights(after)) {
		t.Errorf("spec changed beyond the weights:\nbefore %+v\nafter  %+v", withoutWeights(orig), withoutWeights(after))
	}
	if !reflect.DeepEqual(orig.Labels, after.Labels) {
		t.Errorf("labels changed: %v → %v", orig.Labels, after.Labels)
	}
	w := after.Spec.Rules[0].BackendRefs
	if *w[0].Weight != 80 || *w[1].Weight != 20 {
		t.Errorf("weights after Release = %d/%d, want 80/20", *w[0].Weight, *w[1].Weight)
	}
}

// A weight change costs one GET and one PATCH; a rollback one PATCH.
func TestRequestCounts(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	f.create(ctx, t, sampleRoute(f.ns, "cart"))
	r := f.router(t, "cart", apiConfig)
	f.counter.Reset()
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	if got := f.counter.Counts(); got["GET"] != 1 || got["PATCH"] != 1 || f.counter.Total() != 2 {
		t.Errorf("weight change sent %v, want exactly 1 GET and 1 PATCH", got)
	}
	f.counter.Reset()
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	if got := f.counter.Counts(); got["PATCH"] != 1 || f.counter.Total() != 1 {
		t.Errorf("rollback sent %v, want exactly 1 PATCH", got)
	}
	if s, err := r.Split(ctx); err != nil || !s.Equal(traffic.AllStable()) {
		t.Errorf("after rollback: %v, %v", s, err)
	}
}

// hookedClient returns a client that calls before(method, n) ahead of its
// n-th request with that method (n counts from 1).
func hookedClient(t testing.TB, env *kubetest.Environment, before func(method string, n int)) versioned.Interface {
	cfg := rest.CopyConfig(env.Config)
	var mu sync.Mutex
	counts := map[string]int{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			mu.Lock()
			counts[req.Method]++
			n := counts[req.Method]
			mu.Unlock()
			before(req.Method, n)
			return rt.RoundTrip(req)
		})
	})
	c, err := versioned.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Another client edits the route between the router's read and its write:
// the write conflicts, is retried from a fresh read, and both the split and
// the other client's edit are in the stored route.
func TestConflictIsRetriedAndTheirEditKept(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	f.create(ctx, t, sampleRoute(f.ns, "cart"))
	edits := 0
	client := hookedClient(t, f.env, func(method string, n int) {
		if method != http.MethodPatch || n != 1 {
			return
		}
		route := f.get(ctx, t, "cart")
		route.Spec.Hostnames = append(route.Spec.Hostnames, "shop.example.org")
		if _, err := f.admin.GatewayV1().HTTPRoutes(f.ns).Update(ctx, route, metav1.UpdateOptions{}); err != nil {
			t.Errorf("the other client's edit: %v", err)
		}
		edits++
	})
	r, err := gatewayapi.New(client, gatewayapi.Config{Namespace: f.ns, Route: "cart", Rule: "api", Stable: "cart", Canary: "cart-canary"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetSplit(ctx, traffic.Weighted(25)); err != nil {
		t.Fatalf("SetSplit with one conflict: %v", err)
	}
	if edits != 1 {
		t.Fatalf("the other client edited %d times, want 1", edits)
	}
	got := f.get(ctx, t, "cart")
	if len(got.Spec.Hostnames) != 2 {
		t.Errorf("their edit was lost: hostnames %v", got.Spec.Hostnames)
	}
	if w := got.Spec.Rules[0].BackendRefs; *w[0].Weight != 75 || *w[1].Weight != 25 {
		t.Errorf("weights %d/%d, want 75/25", *w[0].Weight, *w[1].Weight)
	}
}

func TestEndlessConflictsGiveErrConflict(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	f.create(ctx, t, sampleRoute(f.ns, "cart"))
	client := hookedClient(t, f.env, func(method string, n int) {
		if method != http.MethodPatch {
			return
		}
		route := f.get(ctx, t, "cart")
		route.Labels["edit"] = fmt.Sprint(n)
		if _, err := f.admin.GatewayV1().HTTPRoutes(f.ns).Update(ctx, route, metav1.UpdateOptions{}); err != nil {
			t.Errorf("the other client's edit: %v", err)
		}
	})
	r, err := gatewayapi.New(client, gatewayapi.Config{Namespace: f.ns, Route: "cart", Rule: "api", Stable: "cart", Canary: "cart-canary", Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	err = r.SetSplit(ctx, traffic.Weighted(25))
	var se *apierrors.StatusError
	if !errors.Is(err, traffic.ErrConflict) || !errors.As(err, &se) || !apierrors.IsConflict(err) {
		t.Fatalf("SetSplit under endless conflicts = %v, want ErrConflict wrapping the 409", err)
	}
}

// The route is deleted mid-rollout: weight changes and the rollback both
// report traffic.ErrNotFound.
func TestDeletedMidRollout(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	f.create(ctx, t, sampleRoute(f.ns, "cart"))
	r := f.router(t, "cart", apiConfig)
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	if err := f.admin.GatewayV1().HTTPRoutes(f.ns).Delete(ctx, "cart", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetSplit(ctx, traffic.Weighted(20)); !errors.Is(err, traffic.ErrNotFound) || !strings.Contains(err.Error(), "HTTPRoute "+f.ns+"/cart") {
		t.Errorf("weight change on a deleted route = %v, want ErrNotFound naming the route", err)
	}
	if err := r.SetSplit(ctx, traffic.AllStable()); !errors.Is(err, traffic.ErrNotFound) {
		t.Errorf("rollback on a deleted route = %v, want ErrNotFound", err)
	}
}

// A route already at the CRD's 16 rules cannot take the test rule (the
// server would refuse a 17th): the router refuses up front with a
// FieldError and writes nothing, where it used to send the write and
// relay the server's 422.
func TestRuleLimitRefusedUpFront(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	route := sampleRoute(f.ns, "cart")
	for len(route.Spec.Rules) < gatewayapi.MaxRules {
		extra := route.Spec.Rules[1].DeepCopy()
		extra.Name = ptr(gatewayv1.SectionName(fmt.Sprintf("static-%d", len(route.Spec.Rules))))
		route.Spec.Rules = append(route.Spec.Rules, *extra)
	}
	before := f.create(ctx, t, route)
	r := f.router(t, "cart", apiConfig)
	f.counter.Reset()
	err := r.SetSplit(ctx, traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "1"}})
	var fe *canary.FieldError
	if !errors.As(err, &fe) || !strings.HasSuffix(fe.Field, "spec.rules") {
		t.Fatalf("SetSplit = %v, want a FieldError on spec.rules", err)
	}
	if got := f.counter.Counts(); got["PATCH"] != 0 || got["PUT"] != 0 {
		t.Errorf("writes sent: %v", got)
	}
	if after := f.get(ctx, t, "cart"); after.ResourceVersion != before.ResourceVersion {
		t.Error("the route changed")
	}
}

// A test header the managed rule already matches is refused up front, in
// the same case (which the server refuses) and in another case (which the
// server accepts, making the test header ignored).
func TestDuplicateTestHeaderRefused(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	route := sampleRoute(f.ns, "cart")
	exact := gatewayv1.HeaderMatchExact
	route.Spec.Rules[0].Matches[0].Headers = []gatewayv1.HTTPHeaderMatch{{Type: &exact, Name: "x-tenant", Value: "acme"}}
	before := f.create(ctx, t, route)
	r := f.router(t, "cart", apiConfig)
	for _, name := range []string{"x-tenant", "X-TENANT"} {
		f.counter.Reset()
		err := r.SetSplit(ctx, traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: name, Value: "1"}})
		var fe *canary.FieldError
		if !errors.As(err, &fe) || !strings.HasSuffix(fe.Field, "spec.rules[0].matches[0].headers[0]") {
			t.Errorf("test header %s: SetSplit = %v, want a FieldError on the managed rule's header", name, err)
		}
		if got := f.counter.Counts(); got["PATCH"] != 0 || got["PUT"] != 0 {
			t.Errorf("test header %s: writes sent: %v", name, got)
		}
	}
	if after := f.get(ctx, t, "cart"); after.ResourceVersion != before.ResourceVersion {
		t.Error("the route changed")
	}
}

// Every write names the module's field manager.
func TestWritesCarryTheFieldManager(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	f.create(ctx, t, sampleRoute(f.ns, "cart"))
	r := f.router(t, "cart", apiConfig)
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	var managers []string
	for _, e := range f.get(ctx, t, "cart").ManagedFields {
		managers = append(managers, e.Manager)
	}
	if !slices.Contains(managers, canary.FieldManager) {
		t.Errorf("route managed by %v, want %q among them", managers, canary.FieldManager)
	}
}

var (
	httpRoutes = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	crds       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// newerCRD makes the installed HTTPRoute CRD keep a rule's
// sessionPersistence with any fields, as a CRD of a Gateway API version
// newer than this module's Go types would: a field the typed client cannot
// hold. The change is additive; other tests do not see it.
func newerCRD(ctx context.Context, t *testing.T, f *fixture) {
	t.Helper()
	dc := f.env.Dynamic(t)
	crd, err := dc.Resource(crds).Get(ctx, "httproutes.gateway.networking.k8s.io", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for i, v := range versions {
		if v.(map[string]any)["name"] != "v1" {
			continue
		}
		path := fmt.Sprintf("/spec/versions/%d/schema/openAPIV3Schema/properties/spec/properties/rules/items/properties/sessionPersistence", i)
		patch, _ := json.Marshal([]map[string]any{{"op": "add", "path": path,
			"value": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}})
		if _, err := dc.Resource(crds).Patch(ctx, crd.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("the HTTPRoute CRD has no v1 version")
}

// A field of a newer Gateway API version on the managed rule (here a
// sessionPersistence with a field the Go types lack) survives the router's
// writes: they patch the managed paths only, where a typed PUT dropped it.
func TestNewerFieldsSurviveWrites(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	newerCRD(ctx, t, f)
	dc := f.env.Dynamic(t)
	session := map[string]any{"type": "Cookie", "sessionName": "cart", "futureField": "kept"}
	var obj *unstructured.Unstructured
	// The server applies the new schema once its informer has it.
	for deadline := time.Now().Add(30 * time.Second); ; {
		route := sampleRoute(f.ns, "cart")
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(route)
		if err != nil {
			t.Fatal(err)
		}
		obj = &unstructured.Unstructured{Object: u}
		obj.SetAPIVersion("gateway.networking.k8s.io/v1")
		obj.SetKind("HTTPRoute")
		rules, _, _ := unstructured.NestedSlice(obj.Object, "spec", "rules")
		rules[0].(map[string]any)["sessionPersistence"] = session
		_ = unstructured.SetNestedSlice(obj.Object, rules, "spec", "rules")
		got, err := dc.Resource(httpRoutes).Namespace(f.ns).Create(ctx, obj, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kept, _, _ := unstructured.NestedSlice(got.Object, "spec", "rules")
		if reflect.DeepEqual(kept[0].(map[string]any)["sessionPersistence"], session) {
			break
		}
		if err := dc.Resource(httpRoutes).Namespace(f.ns).Delete(ctx, "cart", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never kept sessionPersistence")
		}
		time.Sleep(200 * time.Millisecond)
	}
	r := f.router(t, "cart", apiConfig)
	for _, s := range []traffic.Split{
		{Stable: 80, Canary: 20, Mirror: 10, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "1"}},
		traffic.Weighted(50),
		traffic.AllStable(),
	} {
		if err := r.SetSplit(ctx, s); err != nil {
			t.Fatalf("SetSplit(%v): %v", s, err)
		}
	}
	if err := r.Release(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := dc.Resource(httpRoutes).Namespace(f.ns).Get(ctx, "cart", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rules, _, _ := unstructured.NestedSlice(got.Object, "spec", "rules")
	if sp := rules[0].(map[string]any)["sessionPersistence"]; !reflect.DeepEqual(sp, session) {
		t.Errorf("sessionPersistence after the writes = %v, want %v", sp, session)
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)

	unnamed := sampleRoute(f.ns, "unnamed")
	unnamed.Spec.Rules[0].Name, unnamed.Spec.Rules[1].Name = nil, nil
	f.create(ctx, t, unnamed)
	noCanary := sampleRoute(f.ns, "no-canary")
	noCanary.Spec.Rules[0].BackendRefs = noCanary.Spec.Rules[0].BackendRefs[:1]
	f.create(ctx, t, noCanary)
	third := sampleRoute(f.ns, "third")
	third.Spec.Rules[0].BackendRefs = append(third.Spec.Rules[0].BackendRefs, gatewayv1.HTTPBackendRef{
		BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "legacy", Port: ptr(gatewayv1.PortNumber(80))}, Weight: ptr(int32(5))},
	})
	f.create(ctx, t, third)
	f.create(ctx, t, sampleRoute(f.ns, "cart"))

	cases := []struct {
		name  string
		route string
		cfg   gatewayapi.Config
		field string
	}{
		{"several unnamed rules", "unnamed", gatewayapi.Config{Stable: "cart", Canary: "cart-canary"}, "spec.rules"},
		{"no such rule", "cart", gatewayapi.Config{Rule: "checkout", Stable: "cart", Canary: "cart-canary"}, "spec.rules"},
		{"rule index out of range", "unnamed", gatewayapi.Config{RuleIndex: ptr(2), Stable: "cart", Canary: "cart-canary"}, "spec.rules"},
		{"missing canary backend", "no-canary", apiConfig, "spec.rules[0].backendRefs"},
		{"unknown stable backend", "cart", gatewayapi.Config{Rule: "api", Stable: "carts", Canary: "cart-canary"}, "spec.rules[0].backendRefs"},
		{"third backend with weight", "third", apiConfig, "spec.rules[0].backendRefs[2]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.router(t, c.route, c.cfg)
			before := f.get(ctx, t, c.route)
			f.counter.Reset()
			err := r.SetSplit(ctx, traffic.Weighted(30))
			var fe *canary.FieldError
			if !errors.As(err, &fe) || !strings.Contains(fe.Field, "HTTPRoute "+f.ns+"/"+c.route) || !strings.Contains(fe.Field, c.field) {
				t.Fatalf("SetSplit = %v, want a FieldError naming the route and %s", err, c.field)
			}
			if got := f.counter.Counts(); got["PUT"] != 0 || got["PATCH"] != 0 {
				t.Errorf("a refused split sent writes: %v", got)
			}
			if after := f.get(ctx, t, c.route); after.ResourceVersion != before.ResourceVersion {
				t.Errorf("route changed: resourceVersion %s → %s", before.ResourceVersion, after.ResourceVersion)
			}
		})
	}

	// The unnamed route works once the index is given.
	r := f.router(t, "unnamed", gatewayapi.Config{RuleIndex: ptr(0), Stable: "cart", Canary: "cart-canary"})
	if err := r.SetSplit(ctx, traffic.Weighted(30)); err != nil {
		t.Fatalf("with RuleIndex 0: %v", err)
	}

	// Invalid Kubernetes names are refused before any request.
	f.counter.Reset()
	for _, cfg := range []gatewayapi.Config{
		{Namespace: "Shop", Route: "cart", Stable: "a", Canary: "b"},
		{Namespace: f.ns, Route: "cart_route", Stable: "a", Canary: "b"},
		{Namespace: f.ns, Route: "cart", Stable: "a.b", Canary: "b"},
		{Namespace: f.ns, Route: "cart", Stable: "a", Canary: "B"},
		{Namespace: f.ns, Route: "cart", Rule: "Api", Stable: "a", Canary: "b"},
	} {
		if _, err := gatewayapi.NewDriver(f.client, cfg); !errors.Is(err, canary.ErrInvalid) {
			t.Errorf("New(%+v) = %v, want ErrInvalid", cfg, err)
		}
	}
	if n := f.counter.Total(); n != 0 {
		t.Errorf("invalid configs sent %d requests", n)
	}
}

func TestDesiredDoesNotWrite(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	orig := f.create(ctx, t, sampleRoute(f.ns, "cart"))
	r := f.router(t, "cart", apiConfig)
	d, err := gatewayapi.NewDriver(f.client, gatewayapi.Config{Namespace: f.ns, Route: "cart", Rule: "api", Stable: "cart", Canary: "cart-canary"})
	if err != nil {
		t.Fatal(err)
	}
	f.counter.Reset()
	want, err := d.Desired(ctx, traffic.Weighted(40))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.counter.Counts(); got["GET"] != 1 || f.counter.Total() != 1 {
		t.Errorf("Desired sent %v, want one GET", got)
	}
	if w := want.Spec.Rules[0].BackendRefs; *w[0].Weight != 60 || *w[1].Weight != 40 {
		t.Errorf("desired weights %d/%d", *w[0].Weight, *w[1].Weight)
	}
	if now := f.get(ctx, t, "cart"); now.ResourceVersion != orig.ResourceVersion {
		t.Error("Desired changed the route")
	}
	// What Desired returns is accepted as is by the server (a GitOps tool
	// would apply it).
	if _, err := f.admin.GatewayV1().HTTPRoutes(f.ns).Update(ctx, want, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("applying the desired route: %v", err)
	}
	if s, err := r.Split(ctx); err != nil || !s.Equal(traffic.Weighted(40)) {
		t.Errorf("after applying Desired: %v, %v", s, err)
	}
}

// BenchmarkWeightChange measures, per iteration, one weight change through
// the router and one plain GET of the same route with the same client, and
// reports both medians and their ratio.
func BenchmarkWeightChange(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	f.create(ctx, b, sampleRoute(f.ns, "cart"))
	r := f.router(b, "cart", apiConfig)
	routes := f.client.GatewayV1().HTTPRoutes(f.ns)
	f.counter.Reset()
	b.ResetTimer()
	n := traffictest.BenchmarkWeightChange(b, r, 10, 20, func(ctx context.Context) error {
		_, err := routes.Get(ctx, "cart", metav1.GetOptions{})
		return err
	})
	if c := f.counter.Counts(); c["GET"] != 2*n || c["PATCH"] != n {
		b.Errorf("%d iterations sent %v, want %d GET (1 router + 1 plain) and %d PATCH", n, c, 2*n, n)
	}
}
