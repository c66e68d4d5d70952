package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/rollback"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// writeKubeconfig writes a kubeconfig for the test environment's
// administrator, for the API server at host, and returns its path.
func writeKubeconfig(t *testing.T, env *kubetest.Environment, host string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: env.Config.CAData,
		InsecureSkipTLSVerify: env.Config.Insecure}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{Token: env.Config.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	return kubeconfig
}

var virtualServices = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}

// TestRunIstioRouter drives a rollout through the Istio router against a
// real kube-apiserver (internal/kubetest): canaryctl reads the rollout's
// kubeconfig, moves the VirtualService's weights step by step and leaves
// every request on the canary.
func TestRunIstioRouter(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	vs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "reviews", "namespace": ns},
		"spec": map[string]any{"hosts": []any{"reviews"}, "http": []any{map[string]any{
			"name":  "primary",
			"route": []any{map[string]any{"destination": map[string]any{"host": "reviews-stable"}}},
		}}},
	}}
	if _, err := env.Dynamic(t).Resource(virtualServices).Namespace(ns).Create(ctx, vs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeKubeconfig(t, env, env.Config.Host)
	file := write(t, "reviews.yaml", `name: reviews
router:
  istio:
    kubeconfig: `+kubeconfig+`
    namespace: `+ns+`
    virtualService: reviews
    route: primary
    stable: {host: reviews-stable}
    canary: {host: reviews-canary}
plan:
  stages: [20, 50]
  interval: 1s
`)
	store := t.TempDir()
	out, errOut, code := ctl(t, store, "run", "-f", file, "--timeout", "120s")
	if code != 0 || !strings.Contains(out, "reviews succeeded") {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	hist, _, _ := ctl(t, store, "history", "reviews")
	for _, want := range []string{"set-split stable 80% / canary 20%", "set-split stable 50% / canary 50%", "set-split stable 0% / canary 100%"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	got, err := env.Dynamic(t).Resource(virtualServices).Namespace(ns).Get(ctx, "reviews", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	routes, _, _ := unstructured.NestedSlice(got.Object, "spec", "http")
	weights := map[string]int64{}
	for _, r := range routes {
		dests, _, _ := unstructured.NestedSlice(r.(map[string]any), "route")
		for _, d := range dests {
			host, _, _ := unstructured.NestedString(d.(map[string]any), "destination", "host")
			w, _, _ := unstructured.NestedInt64(d.(map[string]any), "weight")
			weights[host] = w
		}
	}
	if weights["reviews-canary"] != 100 || weights["reviews-stable"] != 0 {
		t.Errorf("VirtualService weights after the rollout: %v", weights)
	}
	if st, _ := statusOf(t, store, "reviews"); st.Phase != rollback.Succeeded {
		t.Errorf("status: %+v", st)
	}
}

var httpRoutes = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
var virtualRouters = schema.GroupVersionResource{Group: "appmesh.k8s.aws", Version: "v1beta2", Resource: "virtualrouters"}

// runKubeRouter creates obj in a fresh namespace, drives a rollout with
// steps 20 and 50 through the router the rollout file's router section
// (with NAMESPACE and KUBECONFIG filled in) names, checks the audit
// trail's splits, and returns the object as the rollout left it. With
// abort, the plan holds each step for ten minutes and the rollout is
// aborted from another process at 20 %.
func runKubeRouter(t *testing.T, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, name, router string, abort bool) *unstructured.Unstructured {
	t.Helper()
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	obj.SetNamespace(ns)
	if _, err := env.Dynamic(t).Resource(gvr).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeKubeconfig(t, env, env.Config.Host)
	router = strings.NewReplacer("NAMESPACE", ns, "KUBECONFIG", kubeconfig).Replace(router)
	hold := ""
	if abort {
		hold = "  hold: 10m\n"
	}
	file := write(t, name+".yaml", "name: "+name+"\nrouter:\n"+router+`plan:
  stages: [20, 50]
  interval: 1s
`+hold)
	store := t.TempDir()
	if abort {
		_, out, waitRun := startRun(t, store, file)
		until(t, "the rollout to progress at 20 %", func() bool {
			st, ok := statusOf(t, store, name)
			return ok && st.Phase == rollback.Progressing && st.Split.Canary == 20
		})
		if o, e, code := ctl(t, store, "abort", name, "--actor", "bob", "--reason", "wrong build"); code != 0 {
			t.Fatalf("abort: exit %d %s %s", code, o, e)
		}
		var ee *exec.ExitError
		if err := waitRun(); !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out.String(), name+" rolled-back") {
			t.Fatalf("run ended with %v, want exit 1 (rolled back):\n%s", err, out.String())
		}
		hist, _, _ := ctl(t, store, "history", name)
		for _, want := range []string{"set-split stable 80% / canary 20%", "abort by bob — wrong build", "set-split stable 100% / canary 0%"} {
			if !strings.Contains(hist, want) {
				t.Errorf("history lacks %q:\n%s", want, hist)
			}
		}
		got, err := env.Dynamic(t).Resource(gvr).Namespace(ns).Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	out, errOut, code := ctl(t, store, "run", "-f", file, "--timeout", "120s")
	if code != 0 || !strings.Contains(out, name+" succeeded") {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	hist, _, _ := ctl(t, store, "history", name)
	for _, want := range []string{"set-split stable 80% / canary 20%", "set-split stable 50% / canary 50%", "set-split stable 0% / canary 100%"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	if st, _ := statusOf(t, store, name); st.Phase != rollback.Succeeded || st.Split.Canary != 100 {
		t.Errorf("status: %+v", st)
	}
	got, err := env.Dynamic(t).Resource(gvr).Namespace(ns).Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRunGatewayAPIRouter drives a rollout through the Gateway API router
// against a real kube-apiserver with the Gateway API CRDs: the HTTPRoute's
// managed rule ends with every request on the canary's Service, and the
// other rule is untouched.
func TestRunGatewayAPIRouter(t *testing.T) {
	slow(t)
	backend := func(name string, weight int64) any {
		return map[string]any{"name": name, "port": int64(8080), "weight": weight}
	}
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": "cart"},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": "mesh-gateway"}},
			"rules": []any{
				map[string]any{"name": "api",
					"matches":     []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/api"}}},
					"backendRefs": []any{backend("cart", 1), backend("cart-canary", 0)}},
				map[string]any{"name": "static",
					"matches":     []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/static"}}},
					"backendRefs": []any{backend("assets", 1)}},
			},
		},
	}}
	weights := func(got *unstructured.Unstructured) map[string]int64 {
		rules, _, _ := unstructured.NestedSlice(got.Object, "spec", "rules")
		weights := map[string]int64{}
		for _, r := range rules {
			refs, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
			for _, ref := range refs {
				n, _, _ := unstructured.NestedString(ref.(map[string]any), "name")
				w, _, _ := unstructured.NestedInt64(ref.(map[string]any), "weight")
				weights[n] = w
			}
		}
		return weights
	}
	router := `  gatewayapi:
    kubeconfig: KUBECONFIG
    namespace: NAMESPACE
    route: cart
    rule: api
    stable: cart
    canary: cart-canary
`
	t.Run("promoted", func(t *testing.T) {
		w := weights(runKubeRouter(t, httpRoutes, route.DeepCopy(), "cart", router, false))
		if w["cart-canary"] != 100 || w["cart"] != 0 || w["assets"] != 1 {
			t.Errorf("HTTPRoute weights after the rollout: %v", w)
		}
	})
	t.Run("aborted", func(t *testing.T) {
		w := weights(runKubeRouter(t, httpRoutes, route.DeepCopy(), "cart", router, true))
		if w["cart-canary"] != 0 || w["cart"] != 100 || w["assets"] != 1 {
			t.Errorf("HTTPRoute weights after the abort: %v", w)
		}
	})
}

// TestRunAppMeshRouter drives a rollout through the App Mesh router
// against a real kube-apiserver with the VirtualRouter CRD: the managed
// route's weighted targets end with every request on the canary's
// virtual node.
func TestRunAppMeshRouter(t *testing.T) {
	slow(t)
	target := func(node string, weight int64) any {
		return map[string]any{"virtualNodeRef": map[string]any{"name": node}, "weight": weight, "port": int64(8080)}
	}
	vr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualRouter",
		"metadata": map[string]any{"name": "cart-router"},
		"spec": map[string]any{
			"listeners": []any{map[string]any{"portMapping": map[string]any{"port": int64(8080), "protocol": "http"}}},
			"routes": []any{
				map[string]any{"name": "api", "priority": int64(10), "httpRoute": map[string]any{
					"match":  map[string]any{"prefix": "/api"},
					"action": map[string]any{"weightedTargets": []any{target("cart", 1), target("cart-canary", 0)}}}},
				map[string]any{"name": "static", "priority": int64(20), "httpRoute": map[string]any{
					"match":  map[string]any{"prefix": "/static"},
					"action": map[string]any{"weightedTargets": []any{target("assets", 1)}}}},
			},
		},
	}}
	weights := func(got *unstructured.Unstructured) map[string]int64 {
		routes, _, _ := unstructured.NestedSlice(got.Object, "spec", "routes")
		weights := map[string]int64{}
		for _, r := range routes {
			ts, _, _ := unstructured.NestedSlice(r.(map[string]any), "httpRoute", "action", "weightedTargets")
			for _, tg := range ts {
				n, _, _ := unstructured.NestedString(tg.(map[string]any), "virtualNodeRef", "name")
				w, _, _ := unstructured.NestedInt64(tg.(map[string]any), "weight")
				weights[n] = w
			}
		}
		return weights
	}
	router := `  appmesh:
    kubeconfig: KUBECONFIG
    namespace: NAMESPACE
    virtualRouter: cart-router
    route: api
    stable: cart
    canary: cart-canary
`
	t.Run("promoted", func(t *testing.T) {
		w := weights(runKubeRouter(t, virtualRouters, vr.DeepCopy(), "cart-mesh", router, false))
		if w["cart-canary"] != 100 || w["cart"] != 0 || w["assets"] != 1 {
			t.Errorf("VirtualRouter weights after the rollout: %v", w)
		}
	})
	t.Run("aborted", func(t *testing.T) {
		w := weights(runKubeRouter(t, virtualRouters, vr.DeepCopy(), "cart-mesh", router, true))
		if w["cart-canary"] != 0 || w["cart"] != 100 || w["assets"] != 1 {
			t.Errorf("VirtualRouter weights after the abort: %v", w)
		}
	})
}
