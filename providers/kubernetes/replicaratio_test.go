package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/traffic/traffictest"
)

// kubelet stands in, on the real API server (which runs no controllers),
// for the Deployment controller and the kubelets: whenever a Deployment's
// spec.replicas differs from its status, it writes a status with that many
// pods, all ready, and the generation observed. hold, when it returns true
// for a Deployment's name, keeps that Deployment's pods from becoming
// ready (a canary whose pods never start).
type kubelet struct {
	hold func(name string) bool
}

func (k *kubelet) run(ctx context.Context, t *testing.T, kc k8s.Interface, ns string) {
	t.Helper()
	// List, then watch from the list's resourceVersion with a
	// RetryWatcher: a fresh API server's watch cache can answer a plain
	// watch with "Too large resource version", which the RetryWatcher
	// retries.
	list, err := kc.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return kc.AppsV1().Deployments(ns).Watch(ctx, o)
		}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	t.Cleanup(func() { w.Stop(); wg.Wait() })
	go func() {
		defer wg.Done()
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok {
				continue
			}
			n := int32(1)
			if d.Spec.Replicas != nil {
				n = *d.Spec.Replicas
			}
			ready := n
			if k.hold != nil && k.hold(d.Name) {
				ready = 0
			}
			st := d.Status
			if st.ObservedGeneration == d.Generation && st.Replicas == n && st.ReadyReplicas == ready {
				continue
			}
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n,
				ReadyReplicas: ready, AvailableReplicas: ready}
			// A conflict means a newer event is on its way.
			_, _ = kc.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
		}
	}()
}

func labelled(d *appsv1.Deployment, extra map[string]string) *appsv1.Deployment {
	for k, v := range extra {
		d.Spec.Template.Labels[k] = v
	}
	return d
}

// ratioFixture creates a Service name selecting app.kubernetes.io/part-of:
// shop, and Deployments name and name-canary with total and 0 replicas;
// with ready, it waits until the stable's pods are reported ready (a
// kubelet stand-in must run).
func ratioFixture(ctx context.Context, t *testing.T, kc k8s.Interface, ns, name string, total int32, ready bool) {
	t.Helper()
	part := map[string]string{"app.kubernetes.io/part-of": "shop"}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Selector: part, Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := kc.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*appsv1.Deployment{
		labelled(realDeployment(ns, name, total), part),
		labelled(realDeployment(ns, name+"-canary", 0), part),
	} {
		d.Annotations = map[string]string{"owner": "helm"}
		if _, err := kc.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if !ready {
		return
	}
	// Until the kubelet stand-in has written the stable's status, the
	// route has no ready pod and no split.
	for {
		d, err := kc.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.ObservedGeneration == d.Generation && d.Status.ReadyReplicas == total {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Deployment %s never reported %d ready pods: %v", name, total, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func ratioConfig(ns, name string) kubernetes.ReplicaRatioConfig {
	return kubernetes.ReplicaRatioConfig{Namespace: ns, Service: name, Stable: name, Canary: name + "-canary", Poll: 5 * time.Millisecond}
}

func TestReplicaRatioConformance(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	kc := env.Kube(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	(&kubelet{}).run(ctx, t, kc, ns)
	var n atomic.Int32
	type entry struct {
		*kubernetes.ReplicaRatio
		name    string
		counter *kubetest.Counter
	}
	traffictest.Run(t, traffictest.Harness{
		New: func(ctx context.Context, t *testing.T) (traffic.Driver, traffic.Config) {
			name := fmt.Sprintf("shop-%d", n.Add(1))
			// 100 replicas: every whole percentage is a pod count, so
			// the suite's weights are realised exactly (the rounding is
			// TestReplicaRatioRounding's).
			ratioFixture(ctx, t, kc, ns, name, 100, true)
			cfg, counter := env.CountingConfig()
			client, err := k8s.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			d, err := kubernetes.NewReplicaRatioDriver(client, ratioConfig(ns, name))
			if err != nil {
				t.Fatal(err)
			}
			return entry{d, name, counter}, d.RouterConfig()
		},
		Delete: func(ctx context.Context, t *testing.T, d traffic.Driver) {
			e := d.(entry)
			if err := kc.AppsV1().Deployments(ns).Delete(ctx, e.name+"-canary", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		},
		Break: func(ctx context.Context, t *testing.T, d traffic.Driver) any {
			e := d.(entry)
			e.counter.Deny(true)
			return new(*apierrors.StatusError)
		},
		NoMirror:    true,
		NoTestRoute: true,
	})
}

func replicas(ctx context.Context, t *testing.T, kc k8s.Interface, ns, name string) (int32, *appsv1.Deployment) {
	t.Helper()
	d, err := kc.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas, d
}

// With 5 replicas a weight becomes whole pods: 10 % is 1 pod (20 %), the
// status says so, and a rollback is the canary at 0 and the stable at 5.
func TestReplicaRatioRounding(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	kc := env.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	(&kubelet{}).run(ctx, t, kc, ns)
	ratioFixture(ctx, t, kc, ns, "shop", 5, true)
	d, err := kubernetes.NewReplicaRatioDriver(kc, ratioConfig(ns, "shop"))
	if err != nil {
		t.Fatal(err)
	}
	r := traffic.NewRouter(d, d.RouterConfig())
	for _, c := range []struct {
		weight, canaryPods int32
		status             string
	}{
		{10, 1, "canary weight 10 % is 1 of 5 pods (20 %); ready: 4 stable, 1 canary"},
		{50, 3, "canary weight 50 % is 3 of 5 pods (60 %); ready: 2 stable, 3 canary"},
		{99, 4, "canary weight 99 % is 4 of 5 pods (80 %); ready: 1 stable, 4 canary"},
		{100, 5, "canary weight 100 % is 5 of 5 pods (100 %); ready: 0 stable, 5 canary"},
	} {
		if err := r.SetSplit(ctx, traffic.Weighted(int(c.weight))); err != nil {
			t.Fatalf("SetSplit(%d): %v", c.weight, err)
		}
		if n, _ := replicas(ctx, t, kc, ns, "shop-canary"); n != c.canaryPods {
			t.Errorf("weight %d: canary has %d replicas, want %d", c.weight, n, c.canaryPods)
		}
		if n, _ := replicas(ctx, t, kc, ns, "shop"); n != 5-c.canaryPods {
			t.Errorf("weight %d: stable has %d replicas, want %d", c.weight, n, 5-c.canaryPods)
		}
		st, err := d.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.String() != c.status {
			t.Errorf("Status = %q, want %q", st, c.status)
		}
	}
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	nc, canaryDep := replicas(ctx, t, kc, ns, "shop-canary")
	ns1, stableDep := replicas(ctx, t, kc, ns, "shop")
	if nc != 0 || ns1 != 5 || canaryDep.Status.ReadyReplicas != 0 || stableDep.Status.ReadyReplicas != 5 {
		t.Errorf("after rollback: canary %d (%d ready), stable %d (%d ready); want 0 and 5", nc, canaryDep.Status.ReadyReplicas, ns1, stableDep.Status.ReadyReplicas)
	}
	// The foreign annotation survives, and every write names the field manager.
	if canaryDep.Annotations["owner"] != "helm" || stableDep.Annotations["owner"] != "helm" {
		t.Errorf("annotations lost: %v, %v", canaryDep.Annotations, stableDep.Annotations)
	}
	for _, dep := range []*appsv1.Deployment{canaryDep, stableDep} {
		found := false
		for _, m := range dep.ManagedFields {
			if m.Manager == canary.FieldManager && m.Operation == metav1.ManagedFieldsOperationUpdate && m.Subresource == "" {
				found = true
			}
		}
		if !found {
			t.Errorf("Deployment %s: no managed-fields entry of %q", dep.Name, canary.FieldManager)
		}
	}
}

// A rollback (stable 100 %) writes one patch per Deployment and no more.
func TestReplicaRatioRollbackRequests(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	kc := env.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	(&kubelet{}).run(ctx, t, kc, ns)
	ratioFixture(ctx, t, kc, ns, "shop", 4, true)
	cfg, counter := env.CountingConfig()
	client, err := k8s.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := kubernetes.NewReplicaRatio(client, ratioConfig(ns, "shop"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetSplit(ctx, traffic.Weighted(50)); err != nil {
		t.Fatal(err)
	}
	counter.Reset()
	if err := r.SetSplit(ctx, traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	if got := counter.Counts(); got["PATCH"] != 2 {
		t.Errorf("rollback sent %v, want exactly 2 PATCHes (one per Deployment)", got)
	}
	if s, err := r.Split(ctx); err != nil || s != traffic.AllStable() {
		t.Errorf("after rollback: %v, %v", s, err)
	}
}

// Canary pods that never become ready: the write waits ReadyWait, then
// fails verification with the ready counts in the message.
func TestReplicaRatioNotReady(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	kc := env.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	(&kubelet{hold: func(name string) bool { return strings.HasSuffix(name, "-canary") }}).run(ctx, t, kc, ns)
	ratioFixture(ctx, t, kc, ns, "shop", 4, true)
	cfg := ratioConfig(ns, "shop")
	cfg.ReadyWait = 200 * time.Millisecond
	r, err := kubernetes.NewReplicaRatio(kc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = r.SetSplit(ctx, traffic.Weighted(25))
	if !errors.Is(err, traffic.ErrVerify) {
		t.Fatalf("SetSplit with pods that never get ready = %v, want traffic.ErrVerify", err)
	}
	if !strings.Contains(err.Error(), "canary 0 of 1 pods ready") {
		t.Errorf("error %q does not give the ready counts", err)
	}
}

// A Service that does not select the canary's pods is refused, naming it.
func TestReplicaRatioServiceSelector(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	kc := env.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	ratioFixture(ctx, t, kc, ns, "shop", 4, false)
	svc, err := kc.CoreV1().Services(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Selector = map[string]string{"app": "shop"} // the stable's pods only
	if _, err := kc.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := kubernetes.NewReplicaRatio(kc, ratioConfig(ns, "shop"))
	if err != nil {
		t.Fatal(err)
	}
	err = r.SetSplit(ctx, traffic.Weighted(25))
	var fe *canary.FieldError
	if !errors.As(err, &fe) || !strings.Contains(fe.Field, "spec.selector") || !strings.Contains(err.Error(), "shop-canary") {
		t.Fatalf("SetSplit = %v, want a FieldError on the Service's spec.selector naming shop-canary", err)
	}
	if n, _ := replicas(ctx, t, kc, ns, "shop-canary"); n != 0 {
		t.Errorf("canary scaled to %d despite the refusal", n)
	}
}

func TestRoundWeight(t *testing.T) {
	for _, c := range []struct {
		w        int
		total    int32
		pods     int32
		realised int
	}{
		{0, 5, 0, 0}, {1, 5, 1, 20}, {10, 5, 1, 20}, {20, 5, 1, 20}, {21, 5, 2, 40}, {99, 5, 4, 80}, {100, 5, 5, 100},
		{5, 100, 5, 5}, {33, 3, 1, 33}, {50, 1, 1, 100}, {0, 1, 0, 0}, {10, 0, 0, 0},
	} {
		pods, realised := kubernetes.RoundWeight(c.w, c.total)
		if pods != c.pods || realised != c.realised {
			t.Errorf("RoundWeight(%d, %d) = %d, %d; want %d, %d", c.w, c.total, pods, realised, c.pods, c.realised)
		}
	}
}

func TestNewReplicaRatioRefusesBadConfig(t *testing.T) {
	kc := k8s.New(nil)
	good := kubernetes.ReplicaRatioConfig{Namespace: "shop", Service: "cart", Stable: "cart", Canary: "cart-canary"}
	for field, mod := range map[string]func(*kubernetes.ReplicaRatioConfig){
		"Config.Namespace": func(c *kubernetes.ReplicaRatioConfig) { c.Namespace = "Shop" },
		"Config.Service":   func(c *kubernetes.ReplicaRatioConfig) { c.Service = "" },
		"Config.Canary":    func(c *kubernetes.ReplicaRatioConfig) { c.Canary = c.Stable },
		"Config.Replicas":  func(c *kubernetes.ReplicaRatioConfig) { c.Replicas = -1 },
		"Config.ReadyWait": func(c *kubernetes.ReplicaRatioConfig) { c.ReadyWait = -time.Second },
	} {
		c := good
		mod(&c)
		_, err := kubernetes.NewReplicaRatio(kc, c)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: err = %v, want a FieldError on %s", field, err, field)
		}
	}
	if _, err := kubernetes.NewReplicaRatio(kc, good); err != nil {
		t.Errorf("good config: %v", err)
	}
}
