package kubetest_test

import (
	"context"
	"os"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"github.com/meshcanary/canary/internal/kubetest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

func TestCRDsServed(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	dc := env.Dynamic(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, gvr := range []schema.GroupVersionResource{
		{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"},
		{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"},
		{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"},
		{Group: "appmesh.k8s.aws", Version: "v1beta2", Resource: "virtualrouters"},
	} {
		list, err := dc.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Errorf("list %v: %v", gvr, err)
			continue
		}
		if n := len(list.Items); n != 0 {
			t.Errorf("fresh namespace has %d %s", n, gvr.Resource)
		}
	}
}

func TestNamespacesAreFresh(t *testing.T) {
	env := kubetest.Env(t)
	a, b := env.Namespace(t), env.Namespace(t)
	if a == b {
		t.Fatalf("two calls gave the same namespace %q", a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := env.Kube(t).CoreV1().Namespaces().Get(ctx, a, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace %s: %v", a, err)
	}
}

func TestCounterCountsAndDenies(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	cfg, counter := env.CountingConfig()
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		if _, err := kc.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := counter.Count("GET"); got != 3 {
		t.Errorf("Count(GET) = %d after 3 gets, want 3 (all counts: %v)", got, counter.Counts())
	}
	counter.Reset()
	if got := counter.Total(); got != 0 {
		t.Errorf("Total after Reset = %d", got)
	}
	counter.Deny(true)
	_, err = kc.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("Get as the denied user = %v, want 403 Forbidden from the server", err)
	}
	counter.Deny(false)
	if _, err := kc.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Fatalf("Get after Deny(false): %v", err)
	}
	if got := counter.Count("GET"); got != 2 {
		t.Errorf("Count(GET) = %d, want 2", got)
	}
}
