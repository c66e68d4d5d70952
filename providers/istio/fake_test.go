package istio_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/istio"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/traffic/traffictest"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned/fake"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
)

const ns = "shop"

var vsResource = schema.GroupResource{Group: "networking.istio.io", Resource: "virtualservices"}

func newFake(t *testing.T, cfg istio.Config, objs ...runtime.Object) (*traffic.Router, *fake.Clientset) {
	t.Helper()
	_, r, cs := newFakeDriver(t, cfg, objs...)
	return r, cs
}

// noSleep records nothing and waits for nothing: conflict retries in
// these tests need no real pause.
func noSleep(context.Context, time.Duration) error { return nil }

func newFakeDriver(t *testing.T, cfg istio.Config, objs ...runtime.Object) (*istio.Driver, *traffic.Router, *fake.Clientset) {
	t.Helper()
	cs := fake.NewSimpleClientset(objs...)
	d, err := istio.NewDriver(cs, cfg)
	if err != nil {
		t.Fatalf("NewDriver: %v", err)
	}
	o := d.RouterConfig()
	o.Sleep = noSleep
	return d, traffic.NewRouter(d, o), cs
}

func subsetFake(t *testing.T) (*traffic.Router, *fake.Clientset) {
	return newFake(t, subsetConfig(ns), virtualService(ns, "reviews", "v1"), destinationRule(ns, "v1", "v2"))
}

// verbs counts the recorded actions on VirtualServices by verb.
func verbs(cs *fake.Clientset) map[string]int {
	m := map[string]int{}
	for _, a := range cs.Actions() {
		if a.GetResource().Resource == "virtualservices" {
			m[a.GetVerb()]++
		}
	}
	return m
}

func getVS(t *testing.T, cs *fake.Clientset) *networkingv1.VirtualService {
	t.Helper()
	vs, err := cs.NetworkingV1().VirtualServices(ns).Get(context.Background(), "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// fakeVS is a driver under test with the fake clientset behind it, which
// the conformance hooks reach through the driver they are handed.
type fakeVS struct {
	*istio.Driver
	cs *fake.Clientset
}

func conformance(t *testing.T, cfg istio.Config, objs ...runtime.Object) {
	traffictest.Run(t, traffictest.Harness{
		New: func(_ context.Context, t *testing.T) (traffic.Driver, traffic.Config) {
			d, _, cs := newFakeDriver(t, cfg, objs...)
			o := d.RouterConfig()
			o.Sleep = noSleep
			return fakeVS{d, cs}, o
		},
		Delete: func(ctx context.Context, t *testing.T, d traffic.Driver) {
			if err := d.(fakeVS).cs.NetworkingV1().VirtualServices(ns).Delete(ctx, "reviews", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		},
		Break: func(_ context.Context, _ *testing.T, d traffic.Driver) any {
			d.(fakeVS).cs.PrependReactor("*", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewServiceUnavailable("injected outage")
			})
			return new(*apierrors.StatusError)
		},
		Features: &allFeatures,
	})
}

func TestConformanceFakeSubsetMode(t *testing.T) {
	conformance(t, subsetConfig(ns), virtualService(ns, "reviews", "v1"), destinationRule(ns, "v1", "v2"))
}

func TestConformanceFakeHostMode(t *testing.T) {
	conformance(t, hostConfig(ns), virtualService(ns, "reviews-stable", ""))
}

var allFeatures = traffic.Features{HeaderMatch: true, PrefixMatch: true, RegexMatch: true, CookieMatch: true, Affinity: true}

func TestConfigValidation(t *testing.T) {
	cs := fake.NewSimpleClientset()
	mod := func(f func(*istio.Config)) istio.Config { c := subsetConfig(ns); f(&c); return c }
	cases := []struct {
		cfg   istio.Config
		field string
	}{
		{mod(func(c *istio.Config) { c.Namespace = "" }), "Config.Namespace"},
		{mod(func(c *istio.Config) { c.Namespace = "Shop" }), "Config.Namespace"},
		{mod(func(c *istio.Config) { c.VirtualService = "reviews_vs" }), "Config.VirtualService"},
		{mod(func(c *istio.Config) { c.Route = "has space" }), "Config.Route"},
		{mod(func(c *istio.Config) { c.TestRoute = "primary" }), "Config.TestRoute"},
		{mod(func(c *istio.Config) { c.Stable.Host = "" }), "Config.Stable.Host"},
		{mod(func(c *istio.Config) { c.Canary.Host = "Reviews!" }), "Config.Canary.Host"},
		{mod(func(c *istio.Config) { c.Canary.Subset = "V2" }), "Config.Canary.Subset"},
		{mod(func(c *istio.Config) { c.Canary.Subset = "" }), "Config.Canary.Subset"},
		{mod(func(c *istio.Config) { c.Canary.Subset = "v1" }), "Config.Canary"},
		{mod(func(c *istio.Config) { c.Canary.LabelValue = "bad value!" }), "Config.Canary.LabelValue"},
		{mod(func(c *istio.Config) { c.DestinationRule = "Bad" }), "Config.DestinationRule"},
		{mod(func(c *istio.Config) { c.DestinationRule, c.CreateSubsets = "", true }), "Config.DestinationRule"},
		{mod(func(c *istio.Config) { c.VersionLabel = "-bad" }), "Config.VersionLabel"},
		{mod(func(c *istio.Config) { c.Retries = -1 }), "Config.Retries"},
		{istio.Config{Namespace: ns, VirtualService: "r", Stable: istio.Destination{Host: "a"}, Canary: istio.Destination{Host: "a.shop.svc.cluster.local"}}, "Config.Canary.Subset"},
	}
	for _, c := range cases {
		_, err := istio.New(cs, c.cfg)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, canary.ErrInvalid) {
			t.Errorf("New(%+v) = %v, want a *canary.FieldError", c.cfg, err)
			continue
		}
		if fe.Field != c.field {
			t.Errorf("New(%+v) error names %s, want %s (%v)", c.cfg, fe.Field, c.field, err)
		}
	}
	if _, err := istio.New(nil, subsetConfig(ns)); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("New(nil client) = %v, want canary.ErrInvalid", err)
	}
	if len(cs.Actions()) != 0 {
		t.Errorf("validation sent %d requests", len(cs.Actions()))
	}
}

func TestUppercaseTestHeaderRefused(t *testing.T) {
	r, cs := subsetFake(t)
	err := r.SetSplit(context.Background(), traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "X-Canary", Value: "1"}})
	var fe *canary.FieldError
	if !errors.As(err, &fe) || fe.Field != "Split.TestRoute.Name" {
		t.Fatalf("SetSplit with an upper-case header = %v, want a FieldError on Split.TestRoute.Name", err)
	}
	if n := len(cs.Actions()); n != 0 {
		t.Errorf("%d requests sent for an invalid split", n)
	}
}

func TestSeveralUnnamedRoutes(t *testing.T) {
	vs := virtualService(ns, "reviews", "v1")
	for _, h := range vs.Spec.Http {
		h.Name = ""
	}
	cfg := subsetConfig(ns)
	cfg.Route = ""
	r, cs := newFake(t, cfg, vs, destinationRule(ns, "v1", "v2"))
	err := r.SetSplit(context.Background(), traffic.Weighted(10))
	var oe *istio.ObjectError
	if !errors.As(err, &oe) || oe.Field != "spec.http[].name" || oe.Name != "reviews" || oe.Kind != "VirtualService" {
		t.Fatalf("SetSplit = %v, want an ObjectError on VirtualService reviews spec.http[].name", err)
	}
	if !errors.Is(err, canary.ErrInvalid) || !strings.Contains(err.Error(), "3 HTTP routes") {
		t.Errorf("error %q should match canary.ErrInvalid and count the routes", err)
	}
	if n := verbs(cs)["patch"]; n != 0 {
		t.Errorf("%d patches sent", n)
	}

	// With only one HTTP route, no name is needed.
	vs = virtualService(ns, "reviews", "v1")
	vs.Spec.Http = vs.Spec.Http[1:2]
	vs.Spec.Http[0].Name = ""
	r, _ = newFake(t, cfg, vs, destinationRule(ns, "v1", "v2"))
	if err := r.SetSplit(context.Background(), traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	if s, err := r.Split(context.Background()); err != nil || !s.Equal(traffic.Weighted(10)) {
		t.Fatalf("Split = %v, %v", s, err)
	}
}

func TestMissingRouteIsNotFound(t *testing.T) {
	cfg := subsetConfig(ns)
	cfg.Route = "nope"
	r, cs := newFake(t, cfg, virtualService(ns, "reviews", "v1"), destinationRule(ns, "v1", "v2"))
	err := r.SetSplit(context.Background(), traffic.Weighted(10))
	var oe *istio.ObjectError
	if !errors.Is(err, traffic.ErrNotFound) || !errors.As(err, &oe) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("SetSplit = %v, want ErrNotFound naming the route", err)
	}
	if verbs(cs)["patch"] != 0 {
		t.Error("patched")
	}
}

func TestForeignDestinationRefused(t *testing.T) {
	vs := virtualService(ns, "reviews", "v1")
	vs.Spec.Http[1].Route = append(vs.Spec.Http[1].Route, &networkingv1alpha3.HTTPRouteDestination{Destination: &networkingv1alpha3.Destination{Host: "ratings"}, Weight: 10})
	vs.Spec.Http[1].Route[0].Weight = 90
	r, cs := newFake(t, subsetConfig(ns), vs, destinationRule(ns, "v1", "v2"))
	err := r.SetSplit(context.Background(), traffic.Weighted(10))
	var oe *istio.ObjectError
	if !errors.As(err, &oe) || oe.Field != "spec.http[1].route[1].destination" || !strings.Contains(err.Error(), "ratings") {
		t.Fatalf("SetSplit = %v, want an ObjectError on spec.http[1].route[1].destination", err)
	}
	if verbs(cs)["patch"] != 0 {
		t.Error("patched")
	}
}

func TestBadWeightsInObject(t *testing.T) {
	vs := virtualService(ns, "reviews", "v1")
	vs.Spec.Http[1].Route[0].Weight = 70
	vs.Spec.Http[1].Route = append(vs.Spec.Http[1].Route, &networkingv1alpha3.HTTPRouteDestination{Destination: &networkingv1alpha3.Destination{Host: "reviews", Subset: "v2"}, Weight: 20})
	r, _ := newFake(t, subsetConfig(ns), vs, destinationRule(ns, "v1", "v2"))
	_, err := r.Split(context.Background())
	var oe *istio.ObjectError
	if !errors.As(err, &oe) || oe.Field != "spec.http[1].route[].weight" {
		t.Fatalf("Split = %v, want an ObjectError on the weights", err)
	}
	// A write replaces the broken weights.
	if err := r.SetSplit(context.Background(), traffic.Weighted(40)); err != nil {
		t.Fatal(err)
	}
}

func TestSubsetMissing(t *testing.T) {
	r, cs := newFake(t, subsetConfig(ns), virtualService(ns, "reviews", "v1"), destinationRule(ns, "v1"))
	err := r.SetSplit(context.Background(), traffic.Weighted(10))
	var oe *istio.ObjectError
	if !errors.Is(err, istio.ErrSubsetMissing) || !errors.As(err, &oe) || oe.Kind != "DestinationRule" || oe.Field != "spec.subsets" || !strings.Contains(err.Error(), `"v2"`) ||
		canary.Code(err) != canary.FailedPrecondition {
		t.Fatalf("SetSplit = %v, want ErrSubsetMissing naming DestinationRule reviews spec.subsets and v2", err)
	}
	if verbs(cs)["patch"] != 0 {
		t.Error("VirtualService patched although a subset is missing")
	}

	// Without a DestinationRule name, every rule of the host is searched.
	cfg := subsetConfig(ns)
	cfg.DestinationRule = ""
	r, _ = newFake(t, cfg, virtualService(ns, "reviews", "v1"), destinationRule(ns, "v1"))
	if err := r.SetSplit(context.Background(), traffic.Weighted(10)); !errors.Is(err, istio.ErrSubsetMissing) {
		t.Fatalf("SetSplit = %v, want ErrSubsetMissing", err)
	}
	other := destinationRule(ns, "v2")
	other.Name = "reviews-canary"
	other.Spec.Host = "reviews." + ns + ".svc.cluster.local"
	r, _ = newFake(t, cfg, virtualService(ns, "reviews", "v1"), destinationRule(ns, "v1"), other)
	if err := r.SetSplit(context.Background(), traffic.Weighted(10)); err != nil {
		t.Fatalf("subsets spread over two rules of the same host: %v", err)
	}
}

func TestCreateSubsets(t *testing.T) {
	ctx := context.Background()
	cfg := subsetConfig(ns)
	cfg.CreateSubsets = true
	cfg.VersionLabel = "app.kubernetes.io/version"
	cfg.Canary.LabelValue = "2.0.1"

	// No DestinationRule at all: it is created.
	r, cs := newFake(t, cfg, virtualService(ns, "reviews", "v1"))
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	dr, err := cs.NetworkingV1().DestinationRules(ns).Get(ctx, "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := dr.Spec.String(); !strings.Contains(got, `"v1"`) || !strings.Contains(got, `"2.0.1"`) || !strings.Contains(got, "app.kubernetes.io/version") {
		t.Errorf("created DestinationRule spec = %s", got)
	}

	// A rule with only v1: v2 is added, v1 kept as it was.
	existing := destinationRule(ns, "v1")
	existing.Spec.Subsets[0].Labels["track"] = "stable"
	d, _, cs := newFakeDriver(t, cfg, virtualService(ns, "reviews", "v1"), existing)
	if err := d.EnsureSubsets(ctx); err != nil {
		t.Fatal(err)
	}
	dr, _ = cs.NetworkingV1().DestinationRules(ns).Get(ctx, "reviews", metav1.GetOptions{})
	if len(dr.Spec.Subsets) != 2 || dr.Spec.Subsets[0].Labels["track"] != "stable" || dr.Spec.Subsets[1].Name != "v2" ||
		dr.Spec.Subsets[1].Labels["app.kubernetes.io/version"] != "2.0.1" {
		t.Errorf("subsets after EnsureSubsets = %v", dr.Spec.Subsets)
	}

	// The rule's host must be the subsets' host.
	wrong := destinationRule(ns, "v1")
	wrong.Spec.Host = "ratings"
	d, _, _ = newFakeDriver(t, cfg, virtualService(ns, "reviews", "v1"), wrong)
	var oe *istio.ObjectError
	if err := d.EnsureSubsets(ctx); !errors.As(err, &oe) || oe.Field != "spec.host" {
		t.Errorf("EnsureSubsets with a rule for another host = %v", err)
	}
}

func TestConflictIsRetriedWithAFreshRead(t *testing.T) {
	d, r, cs := newFakeDriver(t, subsetConfig(ns), virtualService(ns, "reviews", "v1"), destinationRule(ns, "v1", "v2"))
	ctx := context.Background()
	if err := d.EnsureSubsets(ctx); err != nil {
		t.Fatal(err)
	}
	conflicts := 2
	cs.PrependReactor("patch", "virtualservices", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(vsResource, "reviews", errors.New("the object has been modified"))
		}
		return false, nil, nil
	})
	cs.ClearActions()
	if err := r.SetSplit(ctx, traffic.Weighted(30)); err != nil {
		t.Fatal(err)
	}
	if got := verbs(cs); got["get"] != 3 || got["patch"] != 3 {
		t.Errorf("requests = %v, want 3 gets and 3 patches", got)
	}
	if s, _ := r.Split(ctx); !s.Equal(traffic.Weighted(30)) {
		t.Errorf("Split = %v", s)
	}
}

func TestConflictExhausted(t *testing.T) {
	cfg := subsetConfig(ns)
	cfg.Retries = 2
	r, cs := newFake(t, cfg, virtualService(ns, "reviews", "v1"), destinationRule(ns, "v1", "v2"))
	cs.PrependReactor("patch", "virtualservices", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(vsResource, "reviews", errors.New("the object has been modified"))
	})
	err := r.SetSplit(context.Background(), traffic.Weighted(30))
	var se *apierrors.StatusError
	if !errors.Is(err, traffic.ErrConflict) || !errors.As(err, &se) || !apierrors.IsConflict(se) {
		t.Fatalf("SetSplit = %v, want ErrConflict with the server's StatusError", err)
	}
	if n := verbs(cs)["patch"]; n != 3 {
		t.Errorf("%d patches, want 1 + Retries = 3", n)
	}
}

func TestWriteSkippedWhenInForce(t *testing.T) {
	r, cs := subsetFake(t)
	ctx := context.Background()
	if err := r.SetSplit(ctx, traffic.Weighted(25)); err != nil {
		t.Fatal(err)
	}
	cs.ClearActions()
	if err := r.SetSplit(ctx, traffic.Weighted(25)); err != nil {
		t.Fatal(err)
	}
	if got := verbs(cs); got["get"] != 1 || got["patch"] != 0 || len(cs.Actions()) != 1 {
		t.Errorf("requests = %v, want one get and nothing else", got)
	}
}

func TestRollbackIsOneWrite(t *testing.T) {
	r, cs := subsetFake(t)
	ctx := context.Background()
	s := traffic.Split{Stable: 60, Canary: 40, Mirror: 20, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "yes"}}
	if err := r.SetSplit(ctx, s); err != nil {
		t.Fatal(err)
	}
	cs.ClearActions()
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	if got := verbs(cs); got["patch"] != 1 || got["get"] != 0 {
		t.Errorf("rollback requests = %v, want exactly one patch", got)
	}
	vs := getVS(t, cs)
	if len(vs.Spec.Http) != 3 || vs.Spec.Http[1].Mirror != nil {
		t.Errorf("after rollback: %d routes, mirror %v", len(vs.Spec.Http), vs.Spec.Http[1].Mirror)
	}
	if got, _ := r.Split(ctx); !got.Equal(traffic.AllStable()) {
		t.Errorf("Split after rollback = %v", got)
	}
}

func TestRollbackWithStaleVersionReadsAgain(t *testing.T) {
	r, cs := subsetFake(t)
	ctx := context.Background()
	if err := r.SetSplit(ctx, traffic.Weighted(50)); err != nil {
		t.Fatal(err)
	}
	first := true
	cs.PrependReactor("patch", "virtualservices", func(k8stesting.Action) (bool, runtime.Object, error) {
		if first {
			first = false
			return true, nil, apierrors.NewConflict(vsResource, "reviews", errors.New("stale"))
		}
		return false, nil, nil
	})
	cs.ClearActions()
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	if got := verbs(cs); got["patch"] != 2 || got["get"] != 1 {
		t.Errorf("requests = %v, want patch, get, patch", got)
	}
	if got, _ := r.Split(ctx); !got.Equal(traffic.AllStable()) {
		t.Errorf("Split = %v", got)
	}
}

func TestVerifyCatchesAWrongReadBack(t *testing.T) {
	r, cs := subsetFake(t)
	// A server (or mutating webhook) that stores something else than asked.
	cs.PrependReactor("patch", "virtualservices", func(k8stesting.Action) (bool, runtime.Object, error) {
		vs := virtualService(ns, "reviews", "v1")
		return true, vs, nil
	})
	err := r.SetSplit(context.Background(), traffic.Weighted(30))
	if !errors.Is(err, traffic.ErrVerify) {
		t.Fatalf("SetSplit = %v, want traffic.ErrVerify", err)
	}
}

func TestRejectedValueSurfacesServerMessage(t *testing.T) {
	r, cs := subsetFake(t)
	cs.PrependReactor("patch", "virtualservices", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInvalid(schema.GroupKind{Group: "networking.istio.io", Kind: "VirtualService"}, "reviews", nil)
	})
	err := r.SetSplit(context.Background(), traffic.Weighted(30))
	var se *apierrors.StatusError
	if !errors.As(err, &se) || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "is invalid") {
		t.Fatalf("SetSplit = %v, want the server's Invalid error", err)
	}
	// Same resourceVersion on the fresh read: refused, not retried.
	if got := verbs(cs); got["patch"] != 1 || got["get"] != 2 {
		t.Errorf("requests = %v, want get, patch, get", got)
	}
}

func TestPatchTouchesOnlyManagedPaths(t *testing.T) {
	r, cs := subsetFake(t)
	ctx := context.Background()
	before := getVS(t, cs)
	var paths []string
	cs.PrependReactor("patch", "virtualservices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		var ops []struct{ Op, Path string }
		if err := json.Unmarshal(a.(k8stesting.PatchAction).GetPatch(), &ops); err != nil {
			t.Error(err)
		}
		for _, o := range ops {
			paths = append(paths, o.Op+" "+o.Path)
		}
		return false, nil, nil
	})
	s := traffic.Split{Stable: 80, Canary: 20, Mirror: 5, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "yes"}}
	if err := r.SetSplit(ctx, s); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"add /metadata/resourceVersion",
		"add /spec/http/1/route/-",
		"add /spec/http/1/route/0/weight",
		"add /spec/http/1/mirror",
		"add /spec/http/1/mirrorPercentage",
		"add /spec/http/1",
	}
	if strings.Join(paths, "\n") != strings.Join(want, "\n") {
		t.Errorf("patch operations:\n%s\nwant:\n%s", strings.Join(paths, "\n"), strings.Join(want, "\n"))
	}
	after := getVS(t, cs)
	// The test route is immediately before the managed route and keeps its
	// match, timeout, retries and header operations, with the test header
	// added.
	tr := after.Spec.Http[1]
	if tr.Name != "primary-canary-test" || len(tr.Route) != 1 || tr.Route[0].Destination.Subset != "v2" ||
		tr.Match[0].Uri.GetPrefix() != "/api" || tr.Match[0].Headers["x-canary"].GetExact() != "yes" ||
		tr.Timeout.AsDuration() != before.Spec.Http[1].Timeout.AsDuration() || tr.Retries.Attempts != 3 || tr.Mirror != nil {
		t.Errorf("test route = %v", tr)
	}
	// Every other route is untouched.
	for i, j := range map[int]int{0: 0, 2: 3} {
		if b, a := before.Spec.Http[i].String(), after.Spec.Http[j].String(); a != b {
			t.Errorf("route %d changed:\n%s\n->\n%s", i, b, a)
		}
	}
	if after.Labels["app"] != "reviews" || after.Annotations["owner"] != "team-a" || after.Spec.Gateways[0] != "mesh" {
		t.Errorf("metadata or spec changed: %v %v %v", after.Labels, after.Annotations, after.Spec.Gateways)
	}
	// Release drops the test route and the mirror, keeps the weights.
	if err := r.Release(ctx); err != nil {
		t.Fatal(err)
	}
	rel := getVS(t, cs)
	if len(rel.Spec.Http) != 3 || rel.Spec.Http[1].Mirror != nil || rel.Spec.Http[1].MirrorPercentage != nil {
		t.Errorf("after Release: %v", rel.Spec.Http)
	}
	if s, _ := r.Split(ctx); !s.Equal(traffic.Weighted(20)) {
		t.Errorf("Split after Release = %v", s)
	}
}

func TestForeignMirrorKept(t *testing.T) {
	vs := virtualService(ns, "reviews", "v1")
	vs.Spec.Http[1].Mirror = &networkingv1alpha3.Destination{Host: "shadow"}
	r, cs := newFake(t, subsetConfig(ns), vs, destinationRule(ns, "v1", "v2"))
	ctx := context.Background()
	err := r.SetSplit(ctx, traffic.Split{Stable: 100, Mirror: 10})
	var oe *istio.ObjectError
	if !errors.As(err, &oe) || oe.Field != "spec.http[1].mirror" || !strings.Contains(err.Error(), "shadow") {
		t.Fatalf("SetSplit with a mirror over someone else's = %v", err)
	}
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	if err := r.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if m := getVS(t, cs).Spec.Http[1].Mirror; m == nil || m.Host != "shadow" {
		t.Errorf("someone else's mirror was changed: %v", m)
	}
}

func TestDesiredAndRenderDoNotWrite(t *testing.T) {
	r, _, cs := newFakeDriver(t, subsetConfig(ns), virtualService(ns, "reviews", "v1"), destinationRule(ns, "v1", "v2"))
	ctx := context.Background()
	before := getVS(t, cs)
	cs.ClearActions()
	want := traffic.Split{Stable: 90, Canary: 10, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "1"}}
	vs, err := r.Desired(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if got := verbs(cs); got["get"] != 1 || len(cs.Actions()) != 1 {
		t.Errorf("Desired sent %v", got)
	}
	if got := getVS(t, cs); got.Spec.String() != before.Spec.String() {
		t.Error("Desired changed the stored object")
	}
	if len(vs.Spec.Http) != 4 || vs.Spec.Http[1].Name != "primary-canary-test" || vs.Spec.Http[2].Route[1].Weight != 10 || vs.Spec.Http[2].Route[0].Weight != 90 {
		t.Errorf("Desired returned %v", vs.Spec.Http)
	}
	// Render is pure and leaves its argument alone.
	out, err := r.Render(before, want)
	if err != nil {
		t.Fatal(err)
	}
	if out.Spec.String() != vs.Spec.String() || len(before.Spec.Http) != 3 {
		t.Error("Render differs from Desired or changed its argument")
	}
	if _, err := r.Render(before, traffic.Split{Stable: 50, Canary: 60}); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("Render of a bad split = %v", err)
	}
}

func TestRollbackNotHeldUpBySubsetCheck(t *testing.T) {
	// The canary's subset is gone: weight changes are refused, a rollback
	// to stable still goes through.
	vs := virtualService(ns, "reviews", "v1")
	vs.Spec.Http[1].Route[0].Weight = 80
	vs.Spec.Http[1].Route = append(vs.Spec.Http[1].Route, &networkingv1alpha3.HTTPRouteDestination{Destination: &networkingv1alpha3.Destination{Host: "reviews", Subset: "v2"}, Weight: 20})
	r, cs := newFake(t, subsetConfig(ns), vs, destinationRule(ns, "v1"))
	ctx := context.Background()
	if err := r.SetSplit(ctx, traffic.Weighted(30)); !errors.Is(err, istio.ErrSubsetMissing) {
		t.Fatalf("SetSplit(30) = %v, want ErrSubsetMissing", err)
	}
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if s, _ := r.Split(ctx); !s.Equal(traffic.AllStable()) {
		t.Errorf("after rollback %v", s)
	}
	if verbs(cs)["patch"] != 1 {
		t.Errorf("requests %v", verbs(cs))
	}
}

// route is where Istio sends a request: the first HTTP route whose match
// (any block: URI prefix or exact, headers exact, prefix or regex matched
// in full) the request satisfies, as
// Istio evaluates spec.http in order. It returns the route's name.
func route(vs *networkingv1.VirtualService, path string, headers map[string]string) string {
	for _, h := range vs.Spec.Http {
		if len(h.Match) == 0 {
			return h.Name
		}
		for _, m := range h.Match {
			ok := true
			if u := m.Uri; u != nil {
				switch {
				case u.GetPrefix() != "":
					ok = strings.HasPrefix(path, u.GetPrefix())
				case u.GetExact() != "":
					ok = path == u.GetExact()
				}
			}
			for name, sm := range m.Headers {
				v, present := headers[name]
				switch {
				case !present:
					ok = false
				case sm.GetPrefix() != "":
					ok = ok && strings.HasPrefix(v, sm.GetPrefix())
				case sm.GetRegex() != "":
					ok = ok && regexp.MustCompile("^(?:"+sm.GetRegex()+")$").MatchString(v)
				default:
					ok = ok && v == sm.GetExact()
				}
			}
			if ok {
				return h.Name
			}
		}
	}
	return ""
}

// The test route goes immediately before the managed route, so that every
// route the user placed before it keeps its requests, test header or not
// (issue 12: with [/static → assets, primary] a request to /static with
// the test header went to the canary when the test route was first).
func TestTestRouteKeepsTheOrderAndTrafficOfOtherRoutes(t *testing.T) {
	vs := virtualService(ns, "reviews", "v1")
	vs.Spec.Http[1].Match = nil // primary matches everything after /static
	vs.Spec.Http = vs.Spec.Http[:2]
	r, cs := newFake(t, subsetConfig(ns), vs, destinationRule(ns, "v1", "v2"))
	ctx := context.Background()
	test := map[string]string{"x-canary": "yes"}
	s := traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "yes"}}
	if err := r.SetSplit(ctx, s); err != nil {
		t.Fatal(err)
	}
	got := getVS(t, cs)
	var names []string
	for _, h := range got.Spec.Http {
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "static,primary-canary-test,primary" {
		t.Fatalf("routes %v, want static, the test route, primary", names)
	}
	for _, c := range []struct {
		path    string
		headers map[string]string
		want    string
	}{
		{"/static/a.css", nil, "static"},
		{"/static/a.css", test, "static"}, // not the canary
		{"/api", test, "primary-canary-test"},
		{"/api", nil, "primary"},
	} {
		if r := route(got, c.path, c.headers); r != c.want {
			t.Errorf("%s with headers %v goes to %q, want %q", c.path, c.headers, r, c.want)
		}
	}
	if static := got.Spec.Http[0]; static.String() != vs.Spec.Http[0].String() {
		t.Errorf("the /static route changed: %v", static)
	}

	// A test route left first by an older version is moved before the
	// managed route on the next write.
	old := virtualService(ns, "reviews", "v1")
	r2, cs2 := newFake(t, subsetConfig(ns), old, destinationRule(ns, "v1", "v2"))
	if err := r2.SetSplit(ctx, s); err != nil {
		t.Fatal(err)
	}
	moved := getVS(t, cs2)
	tr := moved.Spec.Http[1]
	moved.Spec.Http = append([]*networkingv1alpha3.HTTPRoute{tr}, append(moved.Spec.Http[:1:1], moved.Spec.Http[2:]...)...)
	if _, err := cs2.NetworkingV1().VirtualServices(ns).Update(ctx, moved, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Stable, s.Canary = 90, 10
	if err := r2.SetSplit(ctx, s); err != nil {
		t.Fatal(err)
	}
	names = nil
	for _, h := range getVS(t, cs2).Spec.Http {
		names = append(names, h.Name)
	}
	if strings.Join(names, ",") != "static,primary-canary-test,primary,fallback" {
		t.Errorf("routes after rewriting a first-placed test route: %v", names)
	}
	if got, err := r2.Split(ctx); err != nil || got != s {
		t.Errorf("Split = %v, %v; want %v", got, err, s)
	}
}

// Host mode expands short names with the configured cluster domain.
func TestClusterDomain(t *testing.T) {
	cfg := hostConfig(ns)
	cfg.ClusterDomain = "corp.example"
	cfg.Canary.Host = "reviews-canary." + ns + ".svc.corp.example"
	vs := virtualService(ns, "reviews-stable", "")
	vs.Spec.Http[1].Route = append(vs.Spec.Http[1].Route, &networkingv1alpha3.HTTPRouteDestination{
		Destination: &networkingv1alpha3.Destination{Host: "reviews-canary"}}) // short name of the canary
	vs.Spec.Http[1].Route[0].Weight, vs.Spec.Http[1].Route[1].Weight = 70, 30
	r, _ := newFake(t, cfg, vs)
	if s, err := r.Split(context.Background()); err != nil || s != traffic.Weighted(30) {
		t.Errorf("Split with ClusterDomain corp.example = %v, %v; want 30%% on the canary", s, err)
	}
	cfg.ClusterDomain = "" // cluster.local: the short name is another host
	r, _ = newFake(t, cfg, vs)
	var oe *istio.ObjectError
	if _, err := r.Split(context.Background()); !errors.As(err, &oe) {
		t.Errorf("Split with the default domain = %v, want an ObjectError for a foreign destination", err)
	}
	cfg.ClusterDomain = "Bad_Domain"
	if _, err := istio.New(fake.NewSimpleClientset(), cfg); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("New with a bad ClusterDomain = %v", err)
	}
}
