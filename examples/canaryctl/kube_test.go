package main

import (
	"context"
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
  steps: [20, 50]
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
