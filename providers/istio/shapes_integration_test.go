package istio_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/traffic"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

var vsGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}

// Every release shape on the real server with the real Istio CRDs: each
// object written passes the API server's validation (the CRD's schema and
// CEL rules), reads back as written under changing weights, leaves the
// routes before and after the managed one in place and unchanged (and
// their requests with them), and a rollback to AllStable restores the
// object exactly as it was, byte for byte as the server stores it.
func TestRealShapes(t *testing.T) {
	env := kubetest.Env(t)
	cohortAll := mustCohort(t, traffic.Match{Header: "x-user", Value: "beta"},
		traffic.Match{Header: "x-group", Kind: traffic.Prefix, Value: "int-"},
		traffic.Match{Header: "x-tier", Kind: traffic.Regex, Value: "gold|plat.*"})
	cookie := mustCohort(t, traffic.Match{Cookie: "ab", Value: "on"})
	test := traffic.HeaderRoute{Name: "x-canary", Value: "yes"}
	for _, c := range []struct {
		name      string
		listed    bool // the managed route lists the canary at weight 0 beforehand
		splits    []traffic.Split
		cohortHdr map[string]string // a request of the shape's cohort (nil: none)
	}{
		{"ABTestHeaders", false, []traffic.Split{{Stable: 100, Cohort: cohortAll}}, map[string]string{"x-group": "int-eu"}},
		{"ABTestCookie", false, []traffic.Split{{Stable: 100, Cohort: cookie}}, map[string]string{"cookie": "x=1; ab=on"}},
		{"Affinity", true, []traffic.Split{{Stable: 100, Affinity: aff}, {Stable: 80, Canary: 20, Affinity: aff}, {Stable: 50, Canary: 50, Affinity: aff}},
			map[string]string{"cookie": "canary-session=r1"}},
		{"Mirror", false, []traffic.Split{{Stable: 100, Mirror: 50}, {Stable: 100, Mirror: 100}}, nil},
		{"BlueGreenPreview", false, []traffic.Split{{Stable: 100, Mirror: 25, TestRoute: test}}, map[string]string{"x-canary": "yes"}},
		{"AllTogether", true, []traffic.Split{
			{Stable: 90, Canary: 10, Mirror: 5, TestRoute: test, Cohort: cohortAll, Affinity: aff},
			{Stable: 60, Canary: 40, Mirror: 5, TestRoute: test, Cohort: cookie, Affinity: aff},
		}, map[string]string{"cookie": "canary-session=r1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ns := env.Namespace(t)
			ctx := context.Background()
			cl := istioClient(t, env.Config)
			if _, err := cl.NetworkingV1().DestinationRules(ns).Create(ctx, destinationRule(ns, "v1", "v2"), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			vs := virtualService(ns, "reviews", "v1")
			if c.listed {
				vs.Spec.Http[1].Route[0].Weight = 100
				vs.Spec.Http[1].Route = append(vs.Spec.Http[1].Route, &networkingv1alpha3.HTTPRouteDestination{
					Destination: &networkingv1alpha3.Destination{Host: "reviews", Subset: "v2"}})
			}
			if _, err := cl.NetworkingV1().VirtualServices(ns).Create(ctx, vs, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			dyn := env.Dynamic(t).Resource(vsGVR).Namespace(ns)
			if c.listed {
				// As Flagger writes it, with the canary's weight 0 explicit:
				// the router writes weights explicitly, so an object it has
				// rolled back once has it explicit too.
				if _, err := dyn.Patch(ctx, "reviews", types.JSONPatchType,
					[]byte(`[{"op":"add","path":"/spec/http/1/route/1/weight","value":0}]`), metav1.PatchOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			before, err := dyn.Get(ctx, "reviews", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r := realRouter(t, env.Config, subsetConfig(ns))
			for _, s := range c.splits {
				if err := r.SetSplit(ctx, s); err != nil {
					t.Fatalf("SetSplit(%v): %v", s, err)
				}
				if got, err := r.Split(ctx); err != nil || got != s {
					t.Fatalf("Split = %v, %v; want %v", got, err, s)
				}
				now, err := cl.NetworkingV1().VirtualServices(ns).Get(ctx, "reviews", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				h := now.Spec.Http
				first, last := h[0], h[len(h)-1]
				if first.String() != vs.Spec.Http[0].String() || last.String() != vs.Spec.Http[2].String() {
					t.Fatalf("foreign routes moved or changed: %s", routeNames(now))
				}
				if c.cohortHdr != nil {
					if got := route(now, "/static/x", c.cohortHdr); got != "static" {
						t.Errorf("/static with %v goes to %q, want static", c.cohortHdr, got)
					}
					if got := route(now, "/api", c.cohortHdr); got == "primary" || got == "static" || got == "" {
						t.Errorf("/api with %v goes to %q, want one of the router's canary routes", c.cohortHdr, got)
					}
				}
				if got := route(now, "/other", c.cohortHdr); got != "fallback" {
					t.Errorf("/other goes to %q, want fallback", got)
				}
			}
			if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			after, err := dyn.Get(ctx, "reviews", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(after.Object["spec"], before.Object["spec"]) {
				t.Errorf("the rollback did not restore the object:\n%v\nwant\n%v", after.Object["spec"], before.Object["spec"])
			}
		})
	}
}
