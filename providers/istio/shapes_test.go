package istio_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/istio"
	"github.com/meshcanary/canary/traffic"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

func mustCohort(t testing.TB, ms ...traffic.Match) traffic.Cohort {
	t.Helper()
	c, err := traffic.NewCohort(ms...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func routeNames(vs *networkingv1.VirtualService) string {
	var names []string
	for _, h := range vs.Spec.Http {
		names = append(names, h.Name)
	}
	return strings.Join(names, ",")
}

// aff is the affinity the tests write.
var aff = traffic.Affinity{Cookie: "canary-session", Value: "r1", MaxAge: 3600}

// The test, cohort and session routes sit immediately before the managed
// route, in the order a request is matched; the cohort's requests (and
// the cookie holders') under the managed route's own match go to the
// canary, other routes keep theirs, and only the weighted route's canary
// destination sets the cookie.
func TestCohortAndSessionRoutes(t *testing.T) {
	r, cs := subsetFake(t)
	ctx := context.Background()
	before := getVS(t, cs)
	s := traffic.Split{Stable: 80, Canary: 20, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "yes"},
		Cohort: mustCohort(t, traffic.Match{Header: "x-user", Value: "beta"},
			traffic.Match{Header: "x-group", Kind: traffic.Prefix, Value: "int-"},
			traffic.Match{Header: "x-tier", Kind: traffic.Regex, Value: "gold|plat.*"},
			traffic.Match{Cookie: "ab", Value: "on"}),
		Affinity: aff}
	if err := r.SetSplit(ctx, s); err != nil {
		t.Fatal(err)
	}
	vs := getVS(t, cs)
	if got := routeNames(vs); got != "static,primary-canary-test,primary-canary-cohort,primary-canary-session,primary,fallback" {
		t.Fatalf("routes %s", got)
	}
	for _, c := range []struct {
		path    string
		headers map[string]string
		want    string
	}{
		{"/static/a", map[string]string{"x-user": "beta", "cookie": "canary-session=r1"}, "static"},
		{"/api", map[string]string{"x-user": "beta"}, "primary-canary-cohort"},
		{"/api", map[string]string{"x-user": "beta2"}, "primary"},
		{"/api", map[string]string{"x-group": "int-eu"}, "primary-canary-cohort"},
		{"/api", map[string]string{"x-group": "ext-eu"}, "primary"},
		{"/api", map[string]string{"x-tier": "platinum"}, "primary-canary-cohort"},
		{"/api", map[string]string{"x-tier": "golden"}, "primary"},
		{"/api", map[string]string{"cookie": "x=1; ab=on"}, "primary-canary-cohort"},
		{"/api", map[string]string{"cookie": "ab=off"}, "primary"},
		{"/api", map[string]string{"cookie": "a=b; canary-session=r1; c=d"}, "primary-canary-session"},
		{"/api", map[string]string{"cookie": "canary-session=r2"}, "primary"},
		{"/api", map[string]string{"x-canary": "yes", "x-user": "beta"}, "primary-canary-test"},
		{"/other", map[string]string{"x-user": "beta"}, "fallback"},
	} {
		if got := route(vs, c.path, c.headers); got != c.want {
			t.Errorf("%s %v goes to %q, want %q", c.path, c.headers, got, c.want)
		}
	}
	p := vs.Spec.Http[4]
	if len(p.Route) != 2 || p.Route[1].Destination.Subset != "v2" || p.Route[1].Headers.GetResponse().GetAdd()["Set-Cookie"] != aff.SetCookie() ||
		p.Route[0].Headers != nil {
		t.Errorf("weighted route: %v", p.Route)
	}
	for _, k := range []int{1, 2, 3} {
		a := vs.Spec.Http[k]
		if len(a.Route) != 1 || a.Route[0].Destination.Subset != "v2" || a.Route[0].Headers != nil || a.Mirror != nil ||
			a.Timeout.AsDuration() != p.Timeout.AsDuration() || a.Retries.GetAttempts() != 3 {
			t.Errorf("route %s: %v", a.Name, a)
		}
	}
	if got, err := r.Split(ctx); err != nil || got != s {
		t.Fatalf("Split = %v, %v; want %v", got, err, s)
	}
	// The weights move under the shapes; then a rollback removes them all.
	s.Stable, s.Canary = 50, 50
	if err := r.SetSplit(ctx, s); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Split(ctx); err != nil || got != s {
		t.Fatalf("Split = %v, %v; want %v", got, err, s)
	}
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	after := getVS(t, cs)
	if routeNames(after) != routeNames(before) {
		t.Errorf("routes after the rollback: %s", routeNames(after))
	}
	if c := after.Spec.Http[1].Route[1]; c.Weight != 0 || c.Headers != nil {
		t.Errorf("canary destination after the rollback: %v", c)
	}
}

// Only the router's Set-Cookie is its own: a canary destination that
// already adds another is refused with an error naming the field, and its
// other header operations stay when the router's cookie goes.
func TestSessionCookieLeavesOtherHeaders(t *testing.T) {
	vs := virtualService(ns, "reviews", "v1")
	vs.Spec.Http[1].Route = append(vs.Spec.Http[1].Route, &networkingv1alpha3.HTTPRouteDestination{
		Destination: &networkingv1alpha3.Destination{Host: "reviews", Subset: "v2"},
		Headers: &networkingv1alpha3.Headers{Response: &networkingv1alpha3.Headers_HeaderOperations{
			Add: map[string]string{"x-version": "v2"}}}})
	vs.Spec.Http[1].Route[0].Weight = 100
	r, cs := newFake(t, subsetConfig(ns), vs, destinationRule(ns, "v1", "v2"))
	ctx := context.Background()
	before := getVS(t, cs)
	var paths []string
	cs.PrependReactor("patch", "virtualservices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		var ops []struct{ Op, Path string }
		if err := json.Unmarshal(a.(k8stesting.PatchAction).GetPatch(), &ops); err != nil {
			t.Error(err)
		}
		for _, o := range ops[1:] {
			paths = append(paths, o.Op+" "+o.Path)
		}
		return false, nil, nil
	})
	s := traffic.Split{Stable: 90, Canary: 10, Affinity: aff}
	if err := r.SetSplit(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	want := "add /spec/http/1/route/0/weight,add /spec/http/1/route/1/weight,add /spec/http/1/route/1/headers/response/add/Set-Cookie,add /spec/http/1," +
		"add /spec/http/2/route/0/weight,add /spec/http/2/route/1/weight,remove /spec/http/2/route/1/headers/response/add/Set-Cookie,remove /spec/http/1"
	if got := strings.Join(paths, ","); got != want {
		t.Errorf("patches:\n%s\nwant\n%s", got, want)
	}
	if after := getVS(t, cs); after.Spec.String() != before.Spec.String() {
		t.Errorf("the rollback did not restore the object:\n%v\nwant\n%v", after.Spec.String(), before.Spec.String())
	}

	vs.Spec.Http[1].Route[1].Headers.Response.Add["set-cookie"] = "theirs=1"
	r2, _ := newFake(t, subsetConfig(ns), vs, destinationRule(ns, "v1", "v2"))
	err := r2.SetSplit(ctx, s)
	var oe *istio.ObjectError
	if !errors.As(err, &oe) || oe.Field != "spec.http[1].route[1].headers.response.add" {
		t.Fatalf("SetSplit over someone else's Set-Cookie = %v, want an ObjectError naming the field", err)
	}
}

// What Istio cannot carry is refused before any request, naming the
// field: upper-case header names, and a regex on the cookie header that
// is a cookie match's own expression.
func TestCohortRefusals(t *testing.T) {
	r, cs := subsetFake(t)
	for _, c := range []struct {
		m     traffic.Match
		field string
	}{
		{traffic.Match{Header: "X-User", Value: "beta"}, "Split.Cohort[0].Header"},
		{traffic.Match{Header: "cookie", Kind: traffic.Regex, Value: traffic.CookieRegex("a", "b")}, "Split.Cohort[0].Value"},
	} {
		s := traffic.Split{Stable: 100, Cohort: mustCohort(t, c.m)}
		var fe *canary.FieldError
		if err := r.Check(s); !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("Check(%v) = %v, want a FieldError on %s", s, err, c.field)
		}
		if err := r.SetSplit(context.Background(), s); !errors.As(err, &fe) {
			t.Errorf("SetSplit(%v) = %v", s, err)
		}
	}
	if n := len(cs.Actions()); n != 0 {
		t.Errorf("refused splits sent %d requests", n)
	}
	// A regex on the cookie header that is not a cookie match's is a
	// header match like any other.
	s := traffic.Split{Stable: 100, Cohort: mustCohort(t, traffic.Match{Header: "cookie", Kind: traffic.Regex, Value: ".*beta=1.*"})}
	if err := r.SetSplit(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Split(context.Background()); err != nil || got != s {
		t.Errorf("Split = %v, %v; want %v", got, err, s)
	}
}

// A VirtualService whose session cookie someone removed reads as an error
// naming the field, and a rollback still goes through, removing the
// router's routes.
func TestRollbackOverABrokenSession(t *testing.T) {
	r, cs := subsetFake(t)
	ctx := context.Background()
	if err := r.SetSplit(ctx, traffic.Split{Stable: 80, Canary: 20, Affinity: aff}); err != nil {
		t.Fatal(err)
	}
	vs := getVS(t, cs)
	for _, h := range vs.Spec.Http {
		if h.Name == "primary" {
			h.Route[1].Headers = nil
		}
	}
	if _, err := cs.NetworkingV1().VirtualServices(ns).Update(ctx, vs, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var oe *istio.ObjectError
	if _, err := r.Split(ctx); !errors.As(err, &oe) || !strings.Contains(oe.Field, "headers.response.add") {
		t.Fatalf("Split of the broken object = %v, want an ObjectError naming the Set-Cookie", err)
	}
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if got, err := r.Split(ctx); err != nil || got != traffic.AllStable() {
		t.Fatalf("after the rollback: %v, %v", got, err)
	}
	if got := routeNames(getVS(t, cs)); got != "static,primary,fallback" {
		t.Errorf("routes after the rollback: %s", got)
	}
}
