package main

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/meshcanary/canary/internal/kubetest"
)

var (
	trafficSplits = schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"}
	ingresses     = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}
	deployments   = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

// TestRunSMIRouter drives a rollout through the SMI TrafficSplit router
// against a real kube-apiserver with OSM's TrafficSplit CRD.
func TestRunSMIRouter(t *testing.T) {
	slow(t)
	split := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
		"metadata": map[string]any{"name": "cart"},
		"spec": map[string]any{"service": "cart", "backends": []any{
			map[string]any{"service": "cart-v1", "weight": int64(100)},
			map[string]any{"service": "cart-v2", "weight": int64(0)},
		}},
	}}
	weights := func(got *unstructured.Unstructured) map[string]int64 {
		bs, _, _ := unstructured.NestedSlice(got.Object, "spec", "backends")
		w := map[string]int64{}
		for _, b := range bs {
			m := b.(map[string]any)
			w[m["service"].(string)], _ = m["weight"].(int64)
		}
		return w
	}
	router := `  smi:
    kubeconfig: KUBECONFIG
    namespace: NAMESPACE
    trafficSplit: cart
    service: cart
    stableBackend: cart-v1
    canaryBackend: cart-v2
`
	t.Run("promoted", func(t *testing.T) {
		w := weights(runKubeRouter(t, trafficSplits, split.DeepCopy(), "cart", router, false))
		if w["cart-v2"] != 100 || w["cart-v1"] != 0 {
			t.Errorf("TrafficSplit weights after the rollout: %v", w)
		}
	})
	t.Run("aborted", func(t *testing.T) {
		w := weights(runKubeRouter(t, trafficSplits, split.DeepCopy(), "cart", router, true))
		if w["cart-v2"] != 0 || w["cart-v1"] != 100 {
			t.Errorf("TrafficSplit weights after the abort: %v", w)
		}
	})
}

// TestRunALBRouter drives a rollout through the ALB router: the Ingress's
// action annotation ends with every request on the canary's target group
// (or, aborted, on the stable's), the other annotation untouched.
func TestRunALBRouter(t *testing.T) {
	slow(t)
	const key = "alb.ingress.kubernetes.io/actions.weighted"
	ing := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": map[string]any{"name": "cart", "annotations": map[string]any{
			"alb.ingress.kubernetes.io/scheme": "internal",
			key:                                `{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"cart","servicePort":80,"weight":100},{"serviceName":"cart-canary","servicePort":80,"weight":0}]}}`,
		}},
		"spec": map[string]any{"ingressClassName": "alb", "rules": []any{map[string]any{"http": map[string]any{"paths": []any{
			map[string]any{"path": "/", "pathType": "Prefix", "backend": map[string]any{"service": map[string]any{
				"name": "weighted", "port": map[string]any{"name": "use-annotation"}}}},
		}}}}},
	}}
	router := `  alb:
    kubeconfig: KUBECONFIG
    namespace: NAMESPACE
    ingress: cart
    actionName: weighted
    stableService: cart
    canaryService: cart-canary
    servicePort: 80
`
	for _, c := range []struct {
		name  string
		abort bool
		want  string
	}{
		{"promoted", false, `"serviceName":"cart","servicePort":80,"weight":0},{"serviceName":"cart-canary","servicePort":80,"weight":100}`},
		{"aborted", true, `"serviceName":"cart","servicePort":80,"weight":100},{"serviceName":"cart-canary","servicePort":80,"weight":0}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := runKubeRouter(t, ingresses, ing.DeepCopy(), "cart", router, c.abort)
			a := got.GetAnnotations()
			if !strings.Contains(a[key], c.want) {
				t.Errorf("action after the rollout: %s, want it to contain %s", a[key], c.want)
			}
			if a["alb.ingress.kubernetes.io/scheme"] != "internal" {
				t.Errorf("foreign annotation lost: %v", a)
			}
		})
	}
}

// TestRunReplicaRatioRouter drives a rollout with no traffic router: the
// canary's weight is its share of 5 pods behind one Service. The test
// stands in for the Deployment controller and the kubelets, which the
// test API server does not run: each Deployment's pods are all ready as
// soon as its spec asks for them.
func TestRunReplicaRatioRouter(t *testing.T) {
	slow(t)
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dc := env.Dynamic(t)
	svc := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "cart"},
		"spec":     map[string]any{"selector": map[string]any{"app": "cart"}, "ports": []any{map[string]any{"port": int64(80)}}}}}
	if _, err := dc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "services"}).Namespace(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]int64{"cart": 5, "cart-canary": 0} {
		d := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": name},
			"spec": map[string]any{"replicas": n,
				"selector": map[string]any{"matchLabels": map[string]any{"app": "cart", "track": name}},
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "cart", "track": name}},
					"spec": map[string]any{"containers": []any{map[string]any{"name": "app", "image": "example.invalid/cart:1"}}}}}}}
		if _, err := dc.Resource(deployments).Namespace(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// List, then watch with a RetryWatcher: a fresh API server's watch
	// cache can answer a plain watch with "Too large resource version".
	list, err := dc.Resource(deployments).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.GetResourceVersion(), &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return dc.Resource(deployments).Namespace(ns).Watch(ctx, o)
		}})
	if err != nil {
		t.Fatal(err)
	}
	// kubelet writes the status of d's pods: all of them ready.
	kubelet := func(d *unstructured.Unstructured) {
		n, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas")
		ready, _, _ := unstructured.NestedInt64(d.Object, "status", "readyReplicas")
		observed, _, _ := unstructured.NestedInt64(d.Object, "status", "observedGeneration")
		if ready == n && observed == d.GetGeneration() {
			return
		}
		_ = unstructured.SetNestedMap(d.Object, map[string]any{"observedGeneration": d.GetGeneration(), "replicas": n,
			"updatedReplicas": n, "readyReplicas": n, "availableReplicas": n}, "status")
		_, _ = dc.Resource(deployments).Namespace(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	}
	done := make(chan struct{})
	t.Cleanup(func() { w.Stop(); <-done })
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				continue
			}
			kubelet(d)
		}
	}()
	for i := range list.Items {
		kubelet(&list.Items[i])
	}
	until(t, "the stable Deployment's 5 pods to be ready", func() bool {
		d, err := dc.Resource(deployments).Namespace(ns).Get(ctx, "cart", metav1.GetOptions{})
		n, _, _ := unstructured.NestedInt64(d.Object, "status", "readyReplicas")
		return err == nil && n == 5
	})
	kubeconfig := writeKubeconfig(t, env, env.Config.Host)
	file := write(t, "cart.yaml", `name: cart
router:
  replicaRatio:
    kubeconfig: `+kubeconfig+`
    namespace: `+ns+`
    service: cart
    stableDeployment: cart
    canaryDeployment: cart-canary
    replicas: 5
plan:
  stages: [20, 60]
  interval: 1s
`)
	store := t.TempDir()
	out, errOut, code := ctl(t, store, "run", "-f", file, "--timeout", "120s")
	if code != 0 || !strings.Contains(out, "cart succeeded") || !strings.Contains(out, "steps of 20 %") {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	hist, _, _ := ctl(t, store, "history", "cart")
	for _, want := range []string{"set-split stable 80% / canary 20%", "set-split stable 40% / canary 60%", "set-split stable 0% / canary 100%"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	for name, want := range map[string]int64{"cart": 0, "cart-canary": 5} {
		d, err := dc.Resource(deployments).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); n != want {
			t.Errorf("Deployment %s has %d replicas after the rollout, want %d", name, n, want)
		}
	}
}
