package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/yaml"

	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/metrics"
)

// A test binary started with MESHCANARY_CONTROLLER_ARGS runs one replica
// of the controller (with the fake metrics) instead of the tests, so that
// the kill tests can kill -9 real processes.
func TestMain(m *testing.M) {
	if args := os.Getenv("MESHCANARY_CONTROLLER_ARGS"); args != "" {
		var a []string
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if err := run(context.Background(), a, fakeMetrics{}); err != nil {
			fmt.Fprintln(os.Stderr, "replica:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(kubetest.Main(m))
}

// fakeMetrics answers every error-rate query from the workload it names: a
// canary Deployment whose name contains "faulty" fails 20 % of 10,000
// requests, every other workload 0.1 %. It keeps no state, so that every
// replica process answers alike.
type fakeMetrics struct{}

var workloadRE = regexp.MustCompile(`workload="([^"]+)"`)

func (fakeMetrics) Query(_ context.Context, q metrics.Query) (metrics.Result, error) {
	if err := q.Validate(); err != nil {
		return metrics.Result{}, err
	}
	m := workloadRE.FindStringSubmatch(q.Text)
	if m == nil {
		return metrics.Result{}, fmt.Errorf("fake metrics: no workload in %q", q.Text)
	}
	if strings.Contains(m[1], "faulty") && strings.HasSuffix(m[1], "-canary") {
		return metrics.Result{Value: 0.2, Count: 10000}, nil
	}
	return metrics.Result{Value: 0.001, Count: 10000}, nil
}

const errorRateQuery = `sum(rate(errors{namespace="{{namespace}}",workload="{{workload}}"}[{{window}}]))`

var (
	vsGVR  = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// installCRD applies deploy/crd.yaml once per test binary and waits until
// the API server serves it.
func installCRD(t *testing.T, env *kubetest.Environment) {
	t.Helper()
	dc := env.Dynamic(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := os.ReadFile("deploy/crd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	if _, err := dc.Resource(crdGVR).Create(ctx, u, metav1.CreateOptions{}); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	poll(t, 2*time.Minute, "the Rollout CRD to be served", func() (bool, string) {
		_, err := dc.Resource(GVR).Namespace("default").List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, fmt.Sprint(err)
	})
}

// poll checks cond until it holds or the (generous) limit passes; it
// never asserts how long anything took.
func poll(t testing.TB, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	last := ""
	for {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last: %s", limit, what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type fixture struct {
	env *kubetest.Environment
	ns  string
	kc  k8s.Interface
	dc  dynamic.Interface
	ctx context.Context
}

func newFixture(t *testing.T) *fixture {
	env := kubetest.Env(t)
	installCRD(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	t.Cleanup(cancel)
	return &fixture{env: env, ns: env.Namespace(t), kc: env.Kube(t), dc: env.Dynamic(t), ctx: ctx}
}

// deployment creates a Deployment and sets its status as a ready
// Deployment controller would (no kubelet or controller runs).
func (f *fixture) deployment(t testing.TB, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}}}},
	}
	d, err := f.kc.AppsV1().Deployments(f.ns).Create(f.ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: replicas, UpdatedReplicas: replicas,
		ReadyReplicas: replicas, AvailableReplicas: replicas}
	if _, err := f.kc.AppsV1().Deployments(f.ns).UpdateStatus(f.ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// virtualService creates a host-mode VirtualService: all traffic to
// stable.
func (f *fixture) virtualService(t testing.TB, name, stable, canarySvc string) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": name, "namespace": f.ns},
		"spec": map[string]any{"hosts": []any{stable}, "http": []any{map[string]any{"name": "primary", "route": []any{
			map[string]any{"destination": map[string]any{"host": stable}, "weight": int64(100)},
			map[string]any{"destination": map[string]any{"host": canarySvc}, "weight": int64(0)},
		}}}},
	}}
	if _, err := f.dc.Resource(vsGVR).Namespace(f.ns).Create(f.ctx, u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

var routeGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// httpRoute creates an HTTPRoute whose rule "primary" sends all traffic
// to stable.
func (f *fixture) httpRoute(t testing.TB, name, stable, canarySvc string) {
	t.Helper()
	backend := func(svc string, w int64) any {
		return map[string]any{"name": svc, "port": int64(80), "weight": w}
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": name, "namespace": f.ns},
		"spec": map[string]any{"parentRefs": []any{map[string]any{"name": "mesh-gateway"}},
			"rules": []any{map[string]any{"name": "primary", "backendRefs": []any{backend(stable, 100), backend(canarySvc, 0)}}}},
	}}
	if _, err := f.dc.Resource(routeGVR).Namespace(f.ns).Create(f.ctx, u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// routeCanaryWeight reads the HTTPRoute's canary weight.
func (f *fixture) routeCanaryWeight(t testing.TB, name, canarySvc string) int64 {
	t.Helper()
	u, err := f.dc.Resource(routeGVR).Namespace(f.ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	for _, r := range rules {
		refs, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
		for _, b := range refs {
			if n, _, _ := unstructured.NestedString(b.(map[string]any), "name"); n == canarySvc {
				w, _, _ := unstructured.NestedInt64(b.(map[string]any), "weight")
				return w
			}
		}
	}
	return -1
}

// routeApp is app with an HTTPRoute instead of a VirtualService.
func (f *fixture) routeApp(t testing.TB, name string) {
	t.Helper()
	f.deployment(t, name, 4)
	f.deployment(t, name+"-canary", 2)
	f.httpRoute(t, name, name, name+"-canary")
	spec := rolloutSpec(name)
	spec["router"].(map[string]any)["kind"] = "HTTPRoute"
	f.createRollout(t, name, spec)
}

// canaryWeight reads the VirtualService's canary weight.
func (f *fixture) canaryWeight(t testing.TB, name, canarySvc string) int64 {
	t.Helper()
	u, err := f.dc.Resource(vsGVR).Namespace(f.ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	for _, h := range http {
		routes, _, _ := unstructured.NestedSlice(h.(map[string]any), "route")
		for _, r := range routes {
			host, _, _ := unstructured.NestedString(r.(map[string]any), "destination", "host")
			if host == canarySvc {
				w, _, _ := unstructured.NestedInt64(r.(map[string]any), "weight")
				return w
			}
		}
	}
	return 0
}

// app creates the Deployments, the VirtualService and the Rollout of one
// application called name.
func (f *fixture) app(t testing.TB, name string, spec map[string]any) {
	t.Helper()
	f.deployment(t, name, 4)
	f.deployment(t, name+"-canary", 2)
	f.virtualService(t, name, name, name+"-canary")
	if spec == nil {
		spec = rolloutSpec(name)
	}
	f.createRollout(t, name, spec)
}

func rolloutSpec(name string) map[string]any {
	return map[string]any{
		"stable": map[string]any{"deployment": name},
		"canary": map[string]any{"deployment": name + "-canary"},
		"router": map[string]any{"kind": "VirtualService", "name": name, "route": "primary",
			"stableService": name, "canaryService": name + "-canary"},
		"metrics": []any{map[string]any{"name": "error-rate", "role": "errorRate", "query": errorRateQuery}},
		"plan":    map[string]any{"stages": []any{int64(50), int64(100)}, "interval": "1s"},
		"preset":  "fixed-threshold",
	}
}

func (f *fixture) createRollout(t testing.TB, name string, spec map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": APIVersion, "kind": Kind,
		"metadata": map[string]any{"name": name, "namespace": f.ns},
		"spec":     spec,
	}}
	if _, err := f.dc.Resource(GVR).Namespace(f.ns).Create(f.ctx, u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) rollout(t testing.TB, name string) *Rollout {
	t.Helper()
	u, err := f.dc.Resource(GVR).Namespace(f.ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := decode(u)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// controllerOptions are in-process replica options for the fixture.
func (f *fixture) controllerOptions(t testing.TB, identity string, cfg *rest.Config) Config {
	t.Helper()
	if cfg == nil {
		cfg = rest.CopyConfig(f.env.Config)
	}
	kc, err := k8s.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := routers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return Config{Kube: kc, Dynamic: dc, Routers: rt, Metrics: fakeMetrics{}, Namespace: f.ns, LeaseNamespace: f.ns,
		Identity: identity, Shards: 4, LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second,
		RetryPeriod: 500 * time.Millisecond, Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
}

// watchFrom lists (list returns the list's resourceVersion) and watches
// from there with client-go's RetryWatcher, which resumes a dropped watch
// from the last version it saw, so no event between the list and the end
// of ctx is missed.
func watchFrom(ctx context.Context, t testing.TB, list func(context.Context) (string, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) watch.Interface {
	t.Helper()
	rv, err := list(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, rv, &cache.ListWatch{WatchFuncWithContext: watchFn})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// start runs an in-process replica until the test ends.
func start(t testing.TB, o Config) *Controller {
	t.Helper()
	c, _ := startStoppable(t, o)
	return c
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// kubeconfig writes a kubeconfig for a replica process (impersonating
// cfg.Impersonate.UserName when set).
func kubeconfig(t testing.TB, cfg *rest.Config) string {
	t.Helper()
	c := clientcmdapi.NewConfig()
	c.Clusters["t"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData,
		InsecureSkipTLSVerify: cfg.Insecure}
	c.AuthInfos["t"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken, Impersonate: cfg.Impersonate.UserName}
	c.Contexts["t"] = &clientcmdapi.Context{Cluster: "t", AuthInfo: "t"}
	c.CurrentContext = "t"
	p := t.TempDir() + "/kubeconfig"
	if err := clientcmd.WriteToFile(*c, p); err != nil {
		t.Fatal(err)
	}
	return p
}
