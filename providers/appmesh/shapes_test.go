package appmesh_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/appmesh"
	"github.com/meshcanary/canary/traffic"
)

func mustCohort(t testing.TB, ms ...traffic.Match) traffic.Cohort {
	t.Helper()
	c, err := traffic.NewCohort(ms...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func routeNames(obj *unstructured.Unstructured) []string {
	routes, _, _ := unstructured.NestedSlice(obj.Object, "spec", "routes")
	var names []string
	for _, rt := range routes {
		names = append(names, rt.(map[string]any)["name"].(string))
	}
	return names
}

// A/B cohorts on the real server with the App Mesh CRD: one route per
// match, first and at priority 0, each the managed route's match plus the
// cohort's header (gRPC: metadata) match, sending to the canary; the
// object is accepted, reads back under changing weights, the other route
// stays as it was, and a rollback restores the object exactly.
func TestCohortRoutes(t *testing.T) {
	f := newFixture(t)
	all := mustCohort(t, traffic.Match{Header: "x-user", Value: "beta"},
		traffic.Match{Header: "x-group", Kind: traffic.Prefix, Value: "int-"},
		traffic.Match{Header: "x-tier", Kind: traffic.Regex, Value: "gold|plat.*"},
		traffic.Match{Cookie: "ab", Value: "on"})
	for _, c := range []struct {
		kind   string
		cohort traffic.Cohort
	}{
		{"httpRoute", all},
		{"http2Route", all},
		{"grpcRoute", mustCohort(t, traffic.Match{Header: "x-user", Value: "beta"}, traffic.Match{Header: "x-tier", Kind: traffic.Regex, Value: "gold"})},
	} {
		t.Run(c.kind, func(t *testing.T) {
			ctx := testCtx(t)
			name := "cohort-" + strings.ToLower(c.kind)
			vr := sampleRouter(f.ns, name, c.kind)
			// The weights as the router writes them: the object as a rollout
			// leaves it at all-stable.
			routes, _, _ := unstructured.NestedSlice(vr.Object, "spec", "routes")
			api := routes[0].(map[string]any)
			_ = unstructured.SetNestedSlice(api, []any{target("cart", 100), target("cart-canary", 0)}, c.kind, "action", "weightedTargets")
			_ = unstructured.SetNestedSlice(vr.Object, routes, "spec", "routes")
			f.create(ctx, t, vr)
			before := f.get(ctx, t, name)
			r := f.router(t, name, apiConfig)
			for _, w := range []int{0, 20, 50} {
				s := traffic.Weighted(w)
				s.Cohort = c.cohort
				if w == 20 {
					s.TestRoute = traffic.HeaderRoute{Name: "x-canary", Value: "yes"}
				}
				if err := r.SetSplit(ctx, s); err != nil {
					t.Fatalf("SetSplit(%v): %v", s, err)
				}
				if got, err := r.Split(ctx); err != nil || got != s {
					t.Fatalf("Split = %v, %v; want %v", got, err, s)
				}
				now := f.get(ctx, t, name)
				want := []string{}
				if s.HasTestRoute() {
					want = append(want, "meshcanary-test")
				}
				for k := range c.cohort.Matches() {
					want = append(want, fmt.Sprintf("meshcanary-cohort-%d", k))
				}
				want = append(want, "api", "static")
				if got := routeNames(now); !reflect.DeepEqual(got, want) {
					t.Fatalf("routes %v, want %v", got, want)
				}
				nr, _, _ := unstructured.NestedSlice(now.Object, "spec", "routes")
				br, _, _ := unstructured.NestedSlice(before.Object, "spec", "routes")
				if !reflect.DeepEqual(nr[len(nr)-1], br[1]) {
					t.Fatalf("the static route changed: %v", nr[len(nr)-1])
				}
				first := nr[0].(map[string]any)
				key := map[bool]string{true: "metadata", false: "headers"}[c.kind == "grpcRoute"]
				hs, _, _ := unstructured.NestedSlice(first, c.kind, "match", key)
				ts, _, _ := unstructured.NestedSlice(first, c.kind, "action", "weightedTargets")
				if first["priority"] != int64(0) || len(hs) != 1 || len(ts) != 1 || ts[0].(map[string]any)["virtualNodeRef"].(map[string]any)["name"] != "cart-canary" {
					t.Errorf("first own route: %v", first)
				}
			}
			if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
				t.Fatal(err)
			}
			after := f.get(ctx, t, name)
			if !reflect.DeepEqual(after.Object["spec"], before.Object["spec"]) {
				t.Errorf("the rollback did not restore the object:\n%v\nwant\n%v", after.Object["spec"], before.Object["spec"])
			}
		})
	}
}

// What App Mesh cannot carry is refused before any request, naming the
// field and the VirtualRouter: session affinity and a mirror (always), a
// too long cohort value; a cohort on a tcpRoute and a cookie on a
// grpcRoute after the read, before any write.
func TestCohortRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	f.create(ctx, t, sampleRouter(f.ns, "cart", "httpRoute"))
	r := f.router(t, "cart", apiConfig)
	aff := traffic.Affinity{Cookie: "c", Value: "v", MaxAge: 60}
	long := strings.Repeat("v", 240)
	for _, c := range []struct {
		s     traffic.Split
		field string
		text  string
	}{
		{traffic.Split{Stable: 90, Canary: 10, Affinity: aff}, "Split.Affinity", "VirtualRouter " + f.ns + "/cart cannot keep sessions"},
		{traffic.Split{Stable: 100, Mirror: 10}, "Split.Mirror", "App Mesh cannot mirror"},
		{traffic.Split{Stable: 100, Cohort: mustCohort(t, traffic.Match{Cookie: "ab", Value: long})}, "Split.Cohort[0].Value", "regular expression"},
		{traffic.Split{Stable: 100, Cohort: mustCohort(t, traffic.Match{Header: strings.Repeat("x", 51), Value: "1"})}, "Split.Cohort[0].Header", "at most 50"},
	} {
		f.counter.Reset()
		err := r.SetSplit(ctx, c.s)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(err.Error(), c.text) {
			t.Errorf("SetSplit(%v) = %v, want a FieldError on %s saying %q", c.s, err, c.field, c.text)
		}
		if n := f.counter.Counts(); len(n) != 0 {
			t.Errorf("SetSplit(%v) sent %v", c.s, n)
		}
	}
	for _, c := range []struct {
		kind  string
		m     traffic.Match
		field string
	}{
		{"tcpRoute", traffic.Match{Header: "x-user", Value: "beta"}, "Split.Cohort"},
		{"grpcRoute", traffic.Match{Cookie: "ab", Value: "on"}, "Split.Cohort[0].Cookie"},
	} {
		name := "refuse-" + strings.ToLower(c.kind)
		f.create(ctx, t, sampleRouter(f.ns, name, c.kind))
		r := f.router(t, name, apiConfig)
		f.counter.Reset()
		err := r.SetSplit(ctx, traffic.Split{Stable: 100, Cohort: mustCohort(t, c.m)})
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: SetSplit = %v, want a FieldError on %s", c.kind, err, c.field)
		}
		if n := f.counter.Counts(); n["PUT"] != 0 {
			t.Errorf("%s: the refused split was written: %v", c.kind, n)
		}
	}
	if _, err := appmesh.New(f.client, appmesh.Config{Namespace: f.ns, VirtualRouter: "x", Route: "meshcanary-cohort-1", Stable: "a", Canary: "b"}); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("a managed route named like a cohort route: %v", err)
	}
}

// A VirtualRouter whose cohort route someone else has broken (its header
// match turned into a suffix match, which the router never writes) reads
// as an error naming the route, but a rollback still goes through: it is
// written over the object as read and removes the router's routes.
func TestRollbackOverABrokenCohort(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	f.create(ctx, t, sampleRouter(f.ns, "cart", "httpRoute"))
	r := f.router(t, "cart", apiConfig)
	if err := r.SetSplit(ctx, traffic.Split{Stable: 80, Canary: 20, Cohort: mustCohort(t, traffic.Match{Header: "x-user", Value: "beta"})}); err != nil {
		t.Fatal(err)
	}
	obj := f.get(ctx, t, "cart")
	routes, _, _ := unstructured.NestedSlice(obj.Object, "spec", "routes")
	first := routes[0].(map[string]any)
	if first["name"] != "meshcanary-cohort-0" {
		t.Fatalf("first route %v", first["name"])
	}
	_ = unstructured.SetNestedSlice(first, []any{map[string]any{"name": "x-user", "match": map[string]any{"suffix": "beta"}}}, "httpRoute", "match", "headers")
	_ = unstructured.SetNestedSlice(obj.Object, routes, "spec", "routes")
	if _, err := f.vr().Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var fe *canary.FieldError
	if _, err := r.Split(ctx); !errors.As(err, &fe) {
		t.Fatalf("Split of the broken object = %v, want a FieldError", err)
	}
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatalf("rollback over the broken object: %v", err)
	}
	if got, err := r.Split(ctx); err != nil || got != traffic.AllStable() {
		t.Fatalf("after the rollback: %v, %v", got, err)
	}
	if names := routeNames(f.get(ctx, t, "cart")); !reflect.DeepEqual(names, []string{"api", "static"}) {
		t.Errorf("routes after the rollback: %v", names)
	}
}
