package appmesh_test

import (
	"context"
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
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/providers/appmesh"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/traffic/traffictest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

func target(node string, weight int64) map[string]any {
	return map[string]any{"virtualNodeRef": map[string]any{"name": node}, "weight": weight, "port": int64(8080)}
}

// sampleRouter is a VirtualRouter with a managed route "api" of the given
// kind (stable and canary targets) and another route "static".
func sampleRouter(ns, name, kind string) *unstructured.Unstructured {
	body := map[string]any{
		"action": map[string]any{"weightedTargets": []any{target("cart", 1), target("cart-canary", 0)}},
	}
	switch kind {
	case "httpRoute", "http2Route":
		body["match"] = map[string]any{"prefix": "/api"}
		body["retryPolicy"] = map[string]any{
			"httpRetryEvents": []any{"server-error"}, "maxRetries": int64(2),
			"perRetryTimeout": map[string]any{"unit": "ms", "value": int64(500)},
		}
	case "grpcRoute":
		body["match"] = map[string]any{"serviceName": "shop.Cart"}
	case "tcpRoute":
		body["timeout"] = map[string]any{"idle": map[string]any{"unit": "s", "value": int64(60)}}
	}
	protocol := map[string]string{"httpRoute": "http", "http2Route": "http2", "grpcRoute": "grpc", "tcpRoute": "tcp"}[kind]
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "appmesh.k8s.aws/v1beta2",
		"kind":       "VirtualRouter",
		"metadata":   map[string]any{"namespace": ns, "name": name, "labels": map[string]any{"owner": "helm"}},
		"spec": map[string]any{
			"listeners": []any{map[string]any{"portMapping": map[string]any{"port": int64(8080), "protocol": protocol}}},
			"routes": []any{
				map[string]any{"name": "api", "priority": int64(10), kind: body},
				map[string]any{"name": "static", "priority": int64(20), kind: map[string]any{
					"match":  body["match"],
					"action": map[string]any{"weightedTargets": []any{target("assets", 1)}},
				}},
			},
		},
	}}
}

var apiConfig = appmesh.Config{Route: "api", Stable: "cart", Canary: "cart-canary"}

type fixture struct {
	env     *kubetest.Environment
	ns      string
	admin   dynamic.Interface
	counter *kubetest.Counter
	client  dynamic.Interface
}

func newFixture(t testing.TB) *fixture {
	env := kubetest.Env(t)
	f := &fixture{env: env, ns: env.Namespace(t), admin: env.Dynamic(t)}
	cfg, counter := env.CountingConfig()
	f.counter = counter
	var err error
	if f.client, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) vr() dynamic.ResourceInterface {
	return f.admin.Resource(appmesh.VirtualRouters).Namespace(f.ns)
}

func (f *fixture) create(ctx context.Context, t testing.TB, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	obj.SetNamespace(f.ns)
	got, err := f.vr().Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create VirtualRouter: %v", err)
	}
	return got
}

func (f *fixture) get(ctx context.Context, t testing.TB, name string) *unstructured.Unstructured {
	t.Helper()
	got, err := f.vr().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (f *fixture) router(t testing.TB, name string, cfg appmesh.Config) *traffic.Router {
	t.Helper()
	cfg.Namespace, cfg.VirtualRouter = f.ns, name
	r, err := appmesh.New(f.client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
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
		*appmesh.Driver
		name    string
		counter *kubetest.Counter
	}
	traffictest.Run(t, traffictest.Harness{
		New: func(ctx context.Context, t *testing.T) (traffic.Driver, traffic.Config) {
			name := fmt.Sprintf("cart-%d", n.Add(1))
			f.create(ctx, t, sampleRouter(f.ns, name, "httpRoute"))
			cfg, counter := f.env.CountingConfig()
			client, err := dynamic.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := apiConfig
			c.Namespace, c.VirtualRouter = f.ns, name
			d, err := appmesh.NewDriver(client, c)
			if err != nil {
				t.Fatal(err)
			}
			return entry{d, name, counter}, d.RouterConfig()
		},
		Delete: func(ctx context.Context, t *testing.T, d traffic.Driver) {
			e := d.(entry)
			if err := f.vr().Delete(ctx, e.name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		},
		// The router's client authenticates as a user RBAC grants nothing.
		Break: func(ctx context.Context, t *testing.T, d traffic.Driver) any {
			e := d.(entry)
			e.counter.Deny(true)
			return new(*apierrors.StatusError)
		},
		NoMirror: true,
		Features: &traffic.Features{HeaderMatch: true, PrefixMatch: true, RegexMatch: true, CookieMatch: true},
	})
}

func weights(t testing.TB, obj *unstructured.Unstructured, kind string) []int64 {
	t.Helper()
	routes, _, _ := unstructured.NestedSlice(obj.Object, "spec", "routes")
	for _, rt := range routes {
		m := rt.(map[string]any)
		if m["name"] != "api" {
			continue
		}
		ts, _, _ := unstructured.NestedSlice(m, kind, "action", "weightedTargets")
		var ws []int64
		for _, tg := range ts {
			ws = append(ws, tg.(map[string]any)["weight"].(int64))
		}
		return ws
	}
	t.Fatal("no api route")
	return nil
}

// Every route kind: the weights land, the rest of the object is unchanged.
func TestRouteKinds(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	for _, kind := range []string{"httpRoute", "http2Route", "grpcRoute", "tcpRoute"} {
		t.Run(kind, func(t *testing.T) {
			name := strings.ToLower(kind)
			orig := f.create(ctx, t, sampleRouter(f.ns, name, kind))
			r := f.router(t, name, apiConfig)
			if err := r.SetSplit(ctx, traffic.Weighted(35)); err != nil {
				t.Fatal(err)
			}
			after := f.get(ctx, t, name)
			if w := weights(t, after, kind); !reflect.DeepEqual(w, []int64{65, 35}) {
				t.Errorf("weights %v, want [65 35]", w)
			}
			if s, err := r.Split(ctx); err != nil || !s.Equal(traffic.Weighted(35)) {
				t.Errorf("Split = %v, %v", s, err)
			}
			test := traffic.Split{Stable: 65, Canary: 35, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "1"}}
			err := r.SetSplit(ctx, test)
			if kind == "tcpRoute" {
				var fe *canary.FieldError
				if !errors.As(err, &fe) || fe.Field != "Split.TestRoute" {
					t.Fatalf("test route on a tcp route = %v, want a FieldError on Split.TestRoute", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if s, _ := r.Split(ctx); !s.Equal(test) {
					t.Fatalf("Split = %v, want %v", s, test)
				}
				if err := r.Release(ctx); err != nil {
					t.Fatal(err)
				}
			}
			after = f.get(ctx, t, name)
			strip := func(o *unstructured.Unstructured) map[string]any {
				spec := o.DeepCopy().Object["spec"].(map[string]any)
				for _, rt := range spec["routes"].([]any) {
					ts, _, _ := unstructured.NestedSlice(rt.(map[string]any), kind, "action", "weightedTargets")
					for _, tg := range ts {
						delete(tg.(map[string]any), "weight")
					}
					_ = unstructured.SetNestedSlice(rt.(map[string]any), ts, kind, "action", "weightedTargets")
				}
				return spec
			}
			if !reflect.DeepEqual(strip(orig), strip(after)) {
				t.Errorf("spec changed beyond the weights:\nbefore %v\nafter  %v", strip(orig), strip(after))
			}
		})
	}
}

func TestRequestCounts(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	f.create(ctx, t, sampleRouter(f.ns, "cart", "httpRoute"))
	r := f.router(t, "cart", apiConfig)
	f.counter.Reset()
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	if got := f.counter.Counts(); got["GET"] != 1 || got["PUT"] != 1 || f.counter.Total() != 2 {
		t.Errorf("weight change sent %v, want exactly 1 GET and 1 PUT", got)
	}
	f.counter.Reset()
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	if got := f.counter.Counts(); got["PUT"] != 1 || f.counter.Total() != 1 {
		t.Errorf("rollback sent %v, want exactly 1 PUT", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func hookedClient(t testing.TB, env *kubetest.Environment, before func(method string, n int)) dynamic.Interface {
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
	c, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConflictIsRetriedAndTheirEditKept(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	f.create(ctx, t, sampleRouter(f.ns, "cart", "httpRoute"))
	edits := 0
	client := hookedClient(t, f.env, func(method string, n int) {
		if method != http.MethodPut || n != 1 {
			return
		}
		obj := f.get(ctx, t, "cart")
		_ = unstructured.SetNestedField(obj.Object, "cart-router", "spec", "awsName")
		if _, err := f.vr().Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
			t.Errorf("the other client's edit: %v", err)
		}
		edits++
	})
	r, err := appmesh.New(client, appmesh.Config{Namespace: f.ns, VirtualRouter: "cart", Route: "api", Stable: "cart", Canary: "cart-canary"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetSplit(ctx, traffic.Weighted(25)); err != nil {
		t.Fatalf("SetSplit with one conflict: %v", err)
	}
	got := f.get(ctx, t, "cart")
	if aws, _, _ := unstructured.NestedString(got.Object, "spec", "awsName"); edits != 1 || aws != "cart-router" {
		t.Errorf("edits %d, awsName %q: their edit was lost", edits, aws)
	}
	if w := weights(t, got, "httpRoute"); !reflect.DeepEqual(w, []int64{75, 25}) {
		t.Errorf("weights %v, want [75 25]", w)
	}
}

func TestEndlessConflictsGiveErrConflict(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	f.create(ctx, t, sampleRouter(f.ns, "cart", "httpRoute"))
	client := hookedClient(t, f.env, func(method string, n int) {
		if method != http.MethodPut {
			return
		}
		obj := f.get(ctx, t, "cart")
		_ = unstructured.SetNestedField(obj.Object, fmt.Sprint("edit-", n), "spec", "awsName")
		if _, err := f.vr().Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
			t.Errorf("the other client's edit: %v", err)
		}
	})
	r, _ := appmesh.New(client, appmesh.Config{Namespace: f.ns, VirtualRouter: "cart", Route: "api", Stable: "cart", Canary: "cart-canary", Retries: 2})
	err := r.SetSplit(ctx, traffic.Weighted(25))
	var se *apierrors.StatusError
	if !errors.Is(err, traffic.ErrConflict) || !errors.As(err, &se) || !apierrors.IsConflict(err) {
		t.Fatalf("SetSplit under endless conflicts = %v, want ErrConflict wrapping the 409", err)
	}
}

func TestDeletedMidRollout(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	f.create(ctx, t, sampleRouter(f.ns, "cart", "httpRoute"))
	r := f.router(t, "cart", apiConfig)
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	if err := f.vr().Delete(ctx, "cart", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetSplit(ctx, traffic.Weighted(20)); !errors.Is(err, traffic.ErrNotFound) || !strings.Contains(err.Error(), "VirtualRouter "+f.ns+"/cart") {
		t.Errorf("weight change on a deleted VirtualRouter = %v, want ErrNotFound naming it", err)
	}
	if err := r.SetSplit(ctx, traffic.AllStable()); !errors.Is(err, traffic.ErrNotFound) {
		t.Errorf("rollback on a deleted VirtualRouter = %v, want ErrNotFound", err)
	}
}

// App Mesh limits header names to 50 characters (the CRD schema says so);
// a longer test-route header is a valid HTTP token, so the router sends it
// and the server's refusal is surfaced.
func TestServerRejection(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	f.create(ctx, t, sampleRouter(f.ns, "cart", "httpRoute"))
	r := f.router(t, "cart", apiConfig)
	long := "x-" + strings.Repeat("c", 60)
	err := r.SetSplit(ctx, traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: long, Value: "1"}})
	var se *apierrors.StatusError
	if !errors.As(err, &se) || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "headers[0].name") {
		t.Fatalf("SetSplit = %v, want the server's 422 about the header name", err)
	}
	t.Logf("server said: %v", err)
}

func TestBadInputWritesNothing(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	f.create(ctx, t, sampleRouter(f.ns, "cart", "httpRoute"))
	third := sampleRouter(f.ns, "third", "httpRoute")
	routes := third.Object["spec"].(map[string]any)["routes"].([]any)
	api := routes[0].(map[string]any)["httpRoute"].(map[string]any)["action"].(map[string]any)
	api["weightedTargets"] = append(api["weightedTargets"].([]any), target("legacy", 5))
	f.create(ctx, t, third)
	cases := []struct {
		name, vr string
		cfg      appmesh.Config
		split    traffic.Split
		field    string
	}{
		{"no such route", "cart", appmesh.Config{Route: "checkout", Stable: "cart", Canary: "cart-canary"}, traffic.Weighted(30), "spec.routes"},
		{"unknown canary node", "cart", appmesh.Config{Route: "api", Stable: "cart", Canary: "cart-v2"}, traffic.Weighted(30), "spec.routes[0].httpRoute.action.weightedTargets"},
		{"third target with weight", "third", apiConfig, traffic.Weighted(30), "spec.routes[0].httpRoute.action.weightedTargets[2]"},
		{"mirror", "cart", apiConfig, traffic.Split{Stable: 100, Mirror: 10}, "Split.Mirror"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.router(t, c.vr, c.cfg)
			before := f.get(ctx, t, c.vr)
			f.counter.Reset()
			err := r.SetSplit(ctx, c.split)
			var fe *canary.FieldError
			if !errors.As(err, &fe) || !strings.Contains(fe.Field, c.field) {
				t.Fatalf("SetSplit = %v, want a FieldError on %s", err, c.field)
			}
			if strings.HasPrefix(c.field, "spec.") && !strings.Contains(fe.Field, "VirtualRouter "+f.ns+"/"+c.vr) {
				t.Errorf("field %q does not name the object", fe.Field)
			}
			if got := f.counter.Counts(); got["PUT"] != 0 || got["PATCH"] != 0 {
				t.Errorf("a refused split sent writes: %v", got)
			}
			if after := f.get(ctx, t, c.vr); after.GetResourceVersion() != before.GetResourceVersion() {
				t.Error("the VirtualRouter changed")
			}
		})
	}
	f.counter.Reset()
	for _, cfg := range []appmesh.Config{
		{Namespace: "Shop", VirtualRouter: "cart", Route: "api", Stable: "a", Canary: "b"},
		{Namespace: f.ns, VirtualRouter: "cart router", Route: "api", Stable: "a", Canary: "b"},
		{Namespace: f.ns, VirtualRouter: "cart", Route: "", Stable: "a", Canary: "b"},
		{Namespace: f.ns, VirtualRouter: "cart", Route: "api", Stable: "A", Canary: "b"},
		{Namespace: f.ns, VirtualRouter: "cart", Route: "api", Stable: "a", Canary: "a"},
	} {
		if _, err := appmesh.New(f.client, cfg); !errors.Is(err, canary.ErrInvalid) {
			t.Errorf("New(%+v) = %v, want ErrInvalid", cfg, err)
		}
	}
	if n := f.counter.Total(); n != 0 {
		t.Errorf("invalid configs sent %d requests", n)
	}
}

func BenchmarkWeightChange(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	f.create(ctx, b, sampleRouter(f.ns, "cart", "httpRoute"))
	r := f.router(b, "cart", apiConfig)
	res := f.client.Resource(appmesh.VirtualRouters).Namespace(f.ns)
	f.counter.Reset()
	n := traffictest.BenchmarkWeightChange(b, r, 10, 20, func(ctx context.Context) error {
		_, err := res.Get(ctx, "cart", metav1.GetOptions{})
		return err
	})
	if c := f.counter.Counts(); c["GET"] != 2*n || c["PUT"] != n {
		b.Errorf("%d iterations sent %v, want %d GET and %d PUT", n, c, 2*n, n)
	}
}

// Every write names the module's field manager.
func TestWritesCarryTheFieldManager(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(ctx, t, sampleRouter(f.ns, "cart", "httpRoute"))
	r := f.router(t, "cart", apiConfig)
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	got, err := f.vr().Get(ctx, "cart", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var managers []string
	for _, e := range got.GetManagedFields() {
		managers = append(managers, e.Manager)
	}
	if !slices.Contains(managers, canary.FieldManager) {
		t.Errorf("VirtualRouter managed by %v, want %q among them", managers, canary.FieldManager)
	}
}
