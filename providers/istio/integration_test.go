package istio_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/providers/istio"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/traffic/traffictest"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	"istio.io/client-go/pkg/clientset/versioned"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

func istioClient(t testing.TB, cfg *rest.Config) versioned.Interface {
	t.Helper()
	c, err := versioned.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// seed creates the fixture's VirtualService and DestinationRule in a fresh
// namespace of the real server and returns the namespace.
func seed(t testing.TB, env *kubetest.Environment) string {
	t.Helper()
	ns := env.Namespace(t)
	c := istioClient(t, env.Config)
	ctx := context.Background()
	if _, err := c.NetworkingV1().DestinationRules(ns).Create(ctx, destinationRule(ns, "v1", "v2"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create DestinationRule: %v", err)
	}
	if _, err := c.NetworkingV1().VirtualServices(ns).Create(ctx, virtualService(ns, "reviews", "v1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create VirtualService: %v", err)
	}
	return ns
}

func realRouter(t testing.TB, cfg *rest.Config, rc istio.Config) *traffic.Router {
	t.Helper()
	r, err := istio.New(istioClient(t, cfg), rc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func realDriver(t testing.TB, cfg *rest.Config, rc istio.Config) (*istio.Driver, *traffic.Router) {
	t.Helper()
	d, err := istio.NewDriver(istioClient(t, cfg), rc)
	if err != nil {
		t.Fatal(err)
	}
	return d, traffic.NewRouter(d, d.RouterConfig())
}

// realVS is a driver under test with its namespace and the counter of
// its client's requests, which the conformance hooks reach through the
// driver they are handed.
type realVS struct {
	*istio.Driver
	ns      string
	counter *kubetest.Counter
}

func TestRealConformance(t *testing.T) {
	env := kubetest.Env(t)
	traffictest.Run(t, traffictest.Harness{
		New: func(_ context.Context, t *testing.T) (traffic.Driver, traffic.Config) {
			ns := seed(t, env)
			cfg, counter := env.CountingConfig()
			d, _ := realDriver(t, cfg, subsetConfig(ns))
			return realVS{d, ns, counter}, d.RouterConfig()
		},
		Delete: func(ctx context.Context, t *testing.T, d traffic.Driver) {
			if err := istioClient(t, env.Config).NetworkingV1().VirtualServices(d.(realVS).ns).Delete(ctx, "reviews", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		},
		Break: func(_ context.Context, _ *testing.T, d traffic.Driver) any {
			d.(realVS).counter.Deny(true) // the server answers 403 Forbidden from now on
			return new(*apierrors.StatusError)
		},
		Features: &allFeatures,
	})
}

// editingTransport lets another client change the VirtualService right
// after the router's next GET of it, before the router writes.
type editingTransport struct {
	rt    http.RoundTripper
	armed atomic.Bool
	edit  func()
}

func (e *editingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := e.rt.RoundTrip(req)
	if err == nil && req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/virtualservices/reviews") && e.armed.CompareAndSwap(true, false) {
		e.edit()
	}
	return resp, err
}

func TestRealConflictKeepsTheirEdit(t *testing.T) {
	env := kubetest.Env(t)
	ns := seed(t, env)
	ctx := context.Background()
	other := istioClient(t, env.Config)
	et := &editingTransport{}
	et.edit = func() {
		// Another controller inserts a route first (moving ours to index 2)
		// and labels the object, between the router's read and its write.
		vs, err := other.NetworkingV1().VirtualServices(ns).Get(ctx, "reviews", metav1.GetOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		vs.Labels["edited-by"] = "someone-else"
		vs.Spec.Http = append([]*networkingv1alpha3.HTTPRoute{{
			Name:  "maintenance",
			Match: []*networkingv1alpha3.HTTPMatchRequest{{Uri: &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Exact{Exact: "/down"}}}},
			Route: []*networkingv1alpha3.HTTPRouteDestination{{Destination: &networkingv1alpha3.Destination{Host: "sorry"}}},
		}}, vs.Spec.Http...)
		if _, err := other.NetworkingV1().VirtualServices(ns).Update(ctx, vs, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}
	cfg, counter := env.CountingConfig()
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { et.rt = rt; return et })
	d, r := realDriver(t, cfg, subsetConfig(ns))
	if err := d.EnsureSubsets(ctx); err != nil {
		t.Fatal(err)
	}
	counter.Reset()
	et.armed.Store(true)
	if err := r.SetSplit(ctx, traffic.Weighted(30)); err != nil {
		t.Fatalf("SetSplit across a concurrent edit: %v", err)
	}
	if et.armed.Load() {
		t.Fatal("the concurrent edit did not happen")
	}
	if got := counter.Counts(); got["GET"] != 2 || got["PATCH"] != 2 {
		t.Errorf("requests = %v, want GET, PATCH (409), GET, PATCH", got)
	}
	vs, err := other.NetworkingV1().VirtualServices(ns).Get(ctx, "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, h := range vs.Spec.Http {
		names = append(names, h.Name)
	}
	if !slices.Equal(names, []string{"maintenance", "static", "primary", "fallback"}) || vs.Labels["edited-by"] != "someone-else" {
		t.Fatalf("their edit was lost: routes %v, labels %v", names, vs.Labels)
	}
	p := vs.Spec.Http[2]
	if len(p.Route) != 2 || p.Route[0].Weight != 70 || p.Route[1].Weight != 30 || len(vs.Spec.Http[1].Route) != 1 {
		t.Errorf("weights landed wrong: primary %v, static %v", p.Route, vs.Spec.Http[1].Route)
	}
}

func TestRealDeletedMidRollout(t *testing.T) {
	env := kubetest.Env(t)
	ns := seed(t, env)
	ctx := context.Background()
	r := realRouter(t, env.Config, subsetConfig(ns))
	if err := r.SetSplit(ctx, traffic.Weighted(20)); err != nil {
		t.Fatal(err)
	}
	if err := istioClient(t, env.Config).NetworkingV1().VirtualServices(ns).Delete(ctx, "reviews", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []traffic.Split{traffic.Weighted(40), traffic.AllStable()} {
		err := r.SetSplit(ctx, s)
		var se *apierrors.StatusError
		if !errors.Is(err, traffic.ErrNotFound) || !errors.As(err, &se) || !apierrors.IsNotFound(se) {
			t.Errorf("SetSplit(%v) after deletion = %v, want traffic.ErrNotFound with the server's 404", s, err)
		}
		if err != nil && !strings.Contains(err.Error(), ns+"/reviews") {
			t.Errorf("error %q does not name the object", err)
		}
	}
}

func TestRealServerRejectsValue(t *testing.T) {
	env := kubetest.Env(t)
	ns := seed(t, env)
	ctx := context.Background()
	kc := env.Kube(t)
	const msg = "canary weight above 50 needs a change ticket"
	name := "canary-cap-" + ns
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Update},
					Rule:       admissionv1.Rule{APIGroups: []string{"networking.istio.io"}, APIVersions: []string{"*"}, Resources: []string{"virtualservices"}},
				},
			}}},
			Validations: []admissionv1.Validation{{
				Expression: "!has(object.spec.http) || object.spec.http.all(h, !has(h.route) || h.route.all(d, !has(d.weight) || !has(d.destination.subset) || d.destination.subset != 'v2' || d.weight <= 50))",
				Message:    msg,
			}},
		},
	}
	if _, err := kc.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create policy: %v", err)
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}},
		},
	}
	if _, err := kc.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create binding: %v", err)
	}
	t.Cleanup(func() {
		_ = kc.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = kc.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	r := realRouter(t, env.Config, subsetConfig(ns))
	// The policy takes effect once the server's informers have it.
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if e := r.SetSplit(ctx, traffic.Weighted(10)); e != nil {
			t.Fatalf("SetSplit(10): %v", e)
		}
		if err = r.SetSplit(ctx, traffic.Weighted(60)); err != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var se *apierrors.StatusError
	if err == nil || !errors.As(err, &se) || !strings.Contains(err.Error(), msg) {
		t.Fatalf("SetSplit(60) under the policy = %v, want the server's refusal with %q", err, msg)
	}
	if s, err := r.Split(ctx); err != nil || !s.Equal(traffic.Weighted(10)) {
		t.Errorf("after the refusal the split is %v (%v), want the last accepted one", s, err)
	}
}

// TestRealRequestCounts pins the costs the package documents.
func TestRealRequestCounts(t *testing.T) {
	env := kubetest.Env(t)
	ns := seed(t, env)
	ctx := context.Background()
	cfg, counter := env.CountingConfig()
	r := realRouter(t, cfg, subsetConfig(ns))
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil { // also checks the subsets, once
		t.Fatal(err)
	}
	step := func(name string, s traffic.Split, want map[string]int) {
		t.Helper()
		counter.Reset()
		if err := r.SetSplit(ctx, s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := counter.Counts(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s cost %v, want %v", name, got, want)
		}
	}
	step("weight change", traffic.Weighted(20), map[string]int{"GET": 1, "PATCH": 1})
	step("split already in force", traffic.Weighted(20), map[string]int{"GET": 1})
	step("rollback", traffic.AllStable(), map[string]int{"PATCH": 1})
	if s, err := r.Split(ctx); err != nil || !s.Equal(traffic.AllStable()) {
		t.Errorf("after rollback: %v, %v", s, err)
	}
}

// TestRealUnmanagedBytesKept checks that what the router does not manage
// stays byte for byte as written, which a typed read-modify-write would
// not do (a timeout of "0.5s" comes back from the protobuf types as
// "0.500s" and shows as drift in Argo CD).
func TestRealUnmanagedBytesKept(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	dc := env.Dynamic(t)
	gvr := schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "reviews", "namespace": ns},
		"spec": map[string]any{
			"hosts": []any{"reviews"},
			"http": []any{
				map[string]any{"name": "primary", "timeout": "0.5s",
					"retries": map[string]any{"attempts": int64(2), "perTryTimeout": "0.25s"},
					"route":   []any{map[string]any{"destination": map[string]any{"host": "reviews-stable"}}}},
				map[string]any{"name": "other", "timeout": "1.50s",
					"route": []any{map[string]any{"destination": map[string]any{"host": "legacy"}}}},
			},
		},
	}}
	if _, err := dc.Resource(gvr).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := realRouter(t, env.Config, hostConfig(ns))
	for _, s := range []traffic.Split{
		{Stable: 50, Canary: 50, Mirror: 10, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "1"}},
		traffic.Weighted(100),
	} {
		if err := r.SetSplit(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Release(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := dc.Resource(gvr).Namespace(ns).Get(ctx, "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	http, _, _ := unstructured.NestedSlice(got.Object, "spec", "http")
	if len(http) != 2 {
		t.Fatalf("routes: %v", http)
	}
	primary := http[0].(map[string]any)
	if primary["timeout"] != "0.5s" || primary["retries"].(map[string]any)["perTryTimeout"] != "0.25s" {
		t.Errorf("managed route's other fields rewritten: %v", primary)
	}
	if !reflect.DeepEqual(http[1], obj.Object["spec"].(map[string]any)["http"].([]any)[1]) {
		t.Errorf("other route changed: %v", http[1])
	}
}

// BenchmarkRealWeightChange measures, on the real server, the median time
// of a weight change (GET + PATCH + read-back check) and of a plain GET of
// the same object, and reports their ratio.
func BenchmarkRealWeightChange(b *testing.B) {
	env := kubetest.Env(b)
	ns := seed(b, env)
	ctx := context.Background()
	r := realRouter(b, env.Config, subsetConfig(ns))
	if err := r.SetSplit(ctx, traffic.Weighted(1)); err != nil {
		b.Fatal(err)
	}
	plain := istioClient(b, env.Config).NetworkingV1().VirtualServices(ns)
	b.ResetTimer()
	traffictest.BenchmarkWeightChange(b, r, 2, 3, func(ctx context.Context) error {
		_, err := plain.Get(ctx, "reviews", metav1.GetOptions{})
		return err
	})
}

// Every write names the module's field manager, on both objects the router
// writes (the VirtualService patch, the DestinationRule it creates), so
// Argo CD can ignore the router's fields by manager.
func TestRealWritesCarryTheFieldManager(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	c := istioClient(t, env.Config)
	if _, err := c.NetworkingV1().VirtualServices(ns).Create(ctx, virtualService(ns, "reviews", "v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := subsetConfig(ns)
	cfg.CreateSubsets = true
	r := realRouter(t, env.Config, cfg)
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	vs, err := c.NetworkingV1().VirtualServices(ns).Get(ctx, "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dr, err := c.NetworkingV1().DestinationRules(ns).Get(ctx, "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		kind string
		mf   []metav1.ManagedFieldsEntry
	}{{"VirtualService", vs.ManagedFields}, {"DestinationRule", dr.ManagedFields}} {
		var managers []string
		for _, e := range o.mf {
			managers = append(managers, e.Manager)
		}
		if !slices.Contains(managers, canary.FieldManager) {
			t.Errorf("%s managed by %v, want %q among them", o.kind, managers, canary.FieldManager)
		}
	}
}

// The header test route lands immediately before the managed route on the
// real server too, and every other route keeps its place.
func TestRealTestRoutePlacement(t *testing.T) {
	env := kubetest.Env(t)
	ns := seed(t, env)
	ctx := context.Background()
	r := realRouter(t, env.Config, subsetConfig(ns))
	if err := r.SetSplit(ctx, traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "1"}}); err != nil {
		t.Fatal(err)
	}
	vs, err := istioClient(t, env.Config).NetworkingV1().VirtualServices(ns).Get(ctx, "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range vs.Spec.Http {
		names = append(names, h.Name)
	}
	if !slices.Equal(names, []string{"static", "primary-canary-test", "primary", "fallback"}) {
		t.Errorf("routes %v, want static, primary-canary-test, primary, fallback", names)
	}
	if r := route(vs, "/static/x", map[string]string{"x-canary": "1"}); r != "static" {
		t.Errorf("/static with the test header goes to %q, want static", r)
	}
}
