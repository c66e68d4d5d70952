package gatewayapi_test

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/gatewayapi"
	"github.com/meshcanary/canary/traffic"
)

var routeGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

func mustCohort(t testing.TB, ms ...traffic.Match) traffic.Cohort {
	t.Helper()
	c, err := traffic.NewCohort(ms...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ruleFor is the rule Gateway API sends a request to: among the rules
// with a match the request satisfies, the most specific match (longest
// path prefix, then most header matches), the first rule in list order on
// a tie; "" when none matches. Headers are matched Exact or
// RegularExpression (in full, as Envoy's safe_regex), header names case
// blind.
func ruleFor(route *gatewayv1.HTTPRoute, path string, headers map[string]string) string {
	best, bestPath, bestHeaders := "", -1, -1
	for _, rule := range route.Spec.Rules {
		ms := rule.Matches
		if len(ms) == 0 {
			ms = []gatewayv1.HTTPRouteMatch{{}}
		}
		for _, m := range ms {
			prefix := "/"
			if m.Path != nil && m.Path.Value != nil {
				prefix = *m.Path.Value
			}
			if !strings.HasPrefix(path, prefix) {
				continue
			}
			ok := true
			for _, h := range m.Headers {
				v, found := "", false
				for k, hv := range headers {
					if strings.EqualFold(k, string(h.Name)) {
						v, found = hv, true
					}
				}
				switch {
				case !found:
					ok = false
				case h.Type != nil && *h.Type == gatewayv1.HeaderMatchRegularExpression:
					ok = ok && regexp.MustCompile("^(?:"+h.Value+")$").MatchString(v)
				default:
					ok = ok && v == h.Value
				}
			}
			if ok && (len(prefix) > bestPath || len(prefix) == bestPath && len(m.Headers) > bestHeaders) {
				best, bestPath, bestHeaders = string(*rule.Name), len(prefix), len(m.Headers)
			}
		}
	}
	return best
}

// Every shape the route declares, on the real server with the real
// Gateway API CRDs: each object written passes the server's validation
// (schema and CEL rules), reads back as written under changing weights,
// leaves the route's other rule in place and unchanged (and its requests
// with it), sends the shape's requests to the canary by Gateway API's
// precedence, and a rollback to AllStable restores the route exactly as
// the server stored it.
func TestRealShapes(t *testing.T) {
	f := newFixture(t)
	aff := traffic.Affinity{Cookie: "canary-session", Value: "r1", MaxAge: 3600}
	headers := mustCohort(t, traffic.Match{Header: "x-user", Value: "beta"}, traffic.Match{Header: "x-tier", Kind: traffic.Regex, Value: "gold|plat.*"})
	cookie := mustCohort(t, traffic.Match{Cookie: "ab", Value: "on"})
	test := traffic.HeaderRoute{Name: "x-canary", Value: "yes"}
	for k, c := range []struct {
		name   string
		splits []traffic.Split
		req    map[string]string // a request of the shape (nil: none)
		rule   string            // the rule it reaches
	}{
		{"ABTestHeaders", []traffic.Split{{Stable: 100, Cohort: headers}}, map[string]string{"X-Tier": "platinum"}, "meshcanary-cohort"},
		{"ABTestCookie", []traffic.Split{{Stable: 100, Cohort: cookie}}, map[string]string{"cookie": "x=1; ab=on"}, "meshcanary-cohort"},
		{"Affinity", []traffic.Split{{Stable: 100, Affinity: aff}, {Stable: 80, Canary: 20, Affinity: aff}, {Stable: 50, Canary: 50, Affinity: aff}},
			map[string]string{"Cookie": "canary-session=r1"}, "meshcanary-session"},
		{"Mirror", []traffic.Split{{Stable: 100, Mirror: 50}, {Stable: 100, Mirror: 100}}, nil, ""},
		{"BlueGreenPreview", []traffic.Split{{Stable: 100, Mirror: 25, TestRoute: test}}, map[string]string{"x-canary": "yes"}, "meshcanary-test"},
		{"AllTogether", []traffic.Split{
			{Stable: 90, Canary: 10, Mirror: 5, TestRoute: test, Cohort: headers, Affinity: aff},
			{Stable: 60, Canary: 40, Mirror: 5, TestRoute: test, Cohort: cookie, Affinity: aff},
		}, map[string]string{"cookie": "canary-session=r1", "x-canary": "yes"}, "meshcanary-test"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := testCtx(t)
			name := fmt.Sprintf("shapes-%d", k)
			route := sampleRoute(f.ns, name)
			// The weights as the router writes them (whole percentages):
			// the route as a rollout leaves it at all-stable.
			route.Spec.Rules[0].BackendRefs[0].Weight = ptr(int32(100))
			orig := f.create(ctx, t, route)
			dyn := f.env.Dynamic(t).Resource(routeGVR).Namespace(f.ns)
			before, err := dyn.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r := f.router(t, name, apiConfig)
			for _, s := range c.splits {
				if err := r.SetSplit(ctx, s); err != nil {
					t.Fatalf("SetSplit(%v): %v", s, err)
				}
				if got, err := r.Split(ctx); err != nil || got != s {
					t.Fatalf("Split = %v, %v; want %v", got, err, s)
				}
				now := f.get(ctx, t, name)
				last := now.Spec.Rules[len(now.Spec.Rules)-1]
				if !reflect.DeepEqual(last, orig.Spec.Rules[1]) {
					t.Fatalf("the static rule moved or changed: %+v", last)
				}
				if c.req != nil {
					if got := ruleFor(now, "/api/x", c.req); got != c.rule {
						t.Errorf("/api with %v reaches %q, want %q", c.req, got, c.rule)
					}
					if got := ruleFor(now, "/static/x", c.req); got != "static" {
						t.Errorf("/static with %v reaches %q, want static", c.req, got)
					}
				}
				if got := ruleFor(now, "/api/x", map[string]string{"x-user": "alpha"}); got != "api" {
					t.Errorf("/api with no shape's header reaches %q, want api", got)
				}
			}
			if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			after, err := dyn.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(after.Object["spec"], before.Object["spec"]) {
				t.Errorf("the rollback did not restore the route:\n%v\nwant\n%v", after.Object["spec"], before.Object["spec"])
			}
		})
	}
}

// What the route cannot carry is refused before any request, naming the
// field and the route: a prefix header match (Gateway API has none),
// session affinity where the canary backendRef has a ResponseHeaderModifier
// of its own, and (on Linkerd and VPC Lattice) what the implementation
// lacks.
func TestRealShapeRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	route := sampleRoute(f.ns, "cart")
	route.Spec.Rules[0].BackendRefs[1].Filters = []gatewayv1.HTTPRouteFilter{{
		Type:                   gatewayv1.HTTPRouteFilterResponseHeaderModifier,
		ResponseHeaderModifier: &gatewayv1.HTTPHeaderFilter{Add: []gatewayv1.HTTPHeader{{Name: "x-version", Value: "canary"}}},
	}}
	f.create(ctx, t, route)
	aff := traffic.Affinity{Cookie: "c", Value: "v", MaxAge: 60}
	prefix := traffic.Split{Stable: 100, Cohort: mustCohort(t, traffic.Match{Header: "x-group", Kind: traffic.Prefix, Value: "int-"})}
	for _, c := range []struct {
		impl  string
		s     traffic.Split
		field string
		text  string
	}{
		{gatewayapi.Generic, prefix, "Split.Cohort[0].Kind", "cannot match a header by prefix"},
		{gatewayapi.VPCLattice, traffic.Split{Stable: 100, Cohort: mustCohort(t, traffic.Match{Header: "x-tier", Kind: traffic.Regex, Value: "g.*"})}, "Split.Cohort[0].Kind", "regular expression"},
		{gatewayapi.VPCLattice, traffic.Split{Stable: 100, Cohort: mustCohort(t, traffic.Match{Cookie: "ab", Value: "on"})}, "Split.Cohort[0].Cookie", "cookie"},
		{gatewayapi.Linkerd, traffic.Split{Stable: 100, Affinity: aff}, "Split.Affinity", "session affinity"},
	} {
		cfg := apiConfig
		cfg.Namespace, cfg.Route, cfg.Implementation = f.ns, "cart", c.impl
		r, err := gatewayapi.New(f.client, cfg)
		if err != nil {
			t.Fatal(err)
		}
		f.counter.Reset()
		err = r.SetSplit(ctx, c.s)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(err.Error(), c.text) || !strings.Contains(err.Error(), "HTTPRoute "+f.ns+"/cart") {
			t.Errorf("%q: SetSplit(%v) = %v, want a FieldError on %s naming the route", c.impl, c.s, err, c.field)
		}
		if n := f.counter.Counts(); len(n) != 0 {
			t.Errorf("%q: the refused split sent %v", c.impl, n)
		}
	}
	// The canary backendRef's own ResponseHeaderModifier: refused with the
	// field, after the read, before any write.
	r := f.router(t, "cart", apiConfig)
	f.counter.Reset()
	err := r.SetSplit(ctx, traffic.Split{Stable: 90, Canary: 10, Affinity: aff})
	var fe *canary.FieldError
	if !errors.As(err, &fe) || fe.Field != "HTTPRoute "+f.ns+"/cart spec.rules[0].backendRefs[1].filters" {
		t.Errorf("affinity over the canary's own ResponseHeaderModifier = %v", err)
	}
	if n := f.counter.Counts(); n["PATCH"] != 0 {
		t.Errorf("the refused split was written: %v", n)
	}
	if got := f.get(ctx, t, "cart").Spec.Rules[0].BackendRefs[1].Filters; len(got) != 1 || got[0].ResponseHeaderModifier.Add[0].Name != "x-version" {
		t.Errorf("the canary's filter changed: %+v", got)
	}
}

// A route whose router-owned parts someone else has broken (here the
// session cookie filter removed from the canary backendRef) reads as an
// error naming the field, but a rollback still goes through: it is
// written over the route as read, and leaves the route all-stable without
// the router's rules.
func TestRealRollbackOverABrokenShape(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	f.create(ctx, t, sampleRoute(f.ns, "cart"))
	r := f.router(t, "cart", apiConfig)
	s := traffic.Split{Stable: 80, Canary: 20, Affinity: traffic.Affinity{Cookie: "s", Value: "v", MaxAge: 60},
		Cohort: mustCohort(t, traffic.Match{Header: "x-user", Value: "beta"})}
	if err := r.SetSplit(ctx, s); err != nil {
		t.Fatal(err)
	}
	route := f.get(ctx, t, "cart")
	for i := range route.Spec.Rules {
		if n := route.Spec.Rules[i].Name; n != nil && *n == "api" {
			route.Spec.Rules[i].BackendRefs[1].Filters = nil
		}
	}
	if _, err := f.admin.GatewayV1().HTTPRoutes(f.ns).Update(ctx, route, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var fe *canary.FieldError
	if _, err := r.Split(ctx); !errors.As(err, &fe) || !strings.Contains(fe.Field, "backendRefs[1].filters") {
		t.Fatalf("Split of the broken route = %v, want a FieldError naming the filters", err)
	}
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatalf("rollback over the broken route: %v", err)
	}
	if got, err := r.Split(ctx); err != nil || got != traffic.AllStable() {
		t.Fatalf("after the rollback: %v, %v", got, err)
	}
	if rules := f.get(ctx, t, "cart").Spec.Rules; len(rules) != 2 {
		t.Errorf("the router's rules are still there: %d rules", len(rules))
	}
}
