package kubernetes_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/workload"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

func realDeployment(ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}},
			},
		},
	}
}

func setup(t *testing.T) (context.Context, k8s.Interface, string, *kubernetes.Deployments) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	kc := env.Kube(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	for _, d := range []*appsv1.Deployment{realDeployment(ns, "app", 4), realDeployment(ns, "app-canary", 2)} {
		if _, err := kc.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := kubernetes.NewDeployments(kc, kubernetes.DeploymentsConfig{Namespace: ns, Stable: "app", Canary: "app-canary"})
	if err != nil {
		t.Fatal(err)
	}
	return ctx, kc, ns, d
}

func TestRealScale(t *testing.T) {
	ctx, kc, ns, d := setup(t)
	if n, err := d.Replicas(ctx, workload.Stable); err != nil || n != 4 {
		t.Fatalf("Replicas(stable) = %d, %v", n, err)
	}
	if err := d.Scale(ctx, workload.Canary, 0); err != nil {
		t.Fatal(err)
	}
	got, err := kc.AppsV1().Deployments(ns).Get(ctx, "app-canary", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *got.Spec.Replicas != 0 {
		t.Fatalf("server has replicas %d, want 0", *got.Spec.Replicas)
	}
	if got.Spec.Template.Spec.Containers[0].Image != "example.invalid/app:1" {
		t.Errorf("scaling changed the template")
	}
	if err := d.Scale(ctx, workload.Canary, 2); err != nil {
		t.Fatal(err)
	}
	if n, _ := d.Replicas(ctx, workload.Canary); n != 2 {
		t.Fatalf("Replicas(canary) = %d, want 2", n)
	}
}

// Another client keeps editing the Deployment's labels while Scale runs;
// the scale lands and so do their edits.
func TestRealScaleUnderConcurrentEdits(t *testing.T) {
	ctx, kc, ns, d := setup(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		// The other client edits until the scaling is over and at least
		// one of its edits has landed (bounded), so the outcome does not
		// depend on which goroutine the scheduler runs first.
		landed := false
		for i := 0; i < 200; i++ {
			select {
			case <-stop:
				if landed {
					return
				}
			default:
			}
			dep, err := kc.AppsV1().Deployments(ns).Get(ctx, "app-canary", metav1.GetOptions{})
			if err != nil {
				return
			}
			if dep.Labels == nil {
				dep.Labels = map[string]string{}
			}
			dep.Labels["edited"] = "yes"
			if _, err := kc.AppsV1().Deployments(ns).Update(ctx, dep, metav1.UpdateOptions{}); err == nil {
				landed = true
			}
		}
	}()
	for n := int32(1); n <= 5; n++ {
		if err := d.Scale(ctx, workload.Canary, n); err != nil && !apierrors.IsConflict(err) {
			t.Fatalf("Scale(%d): %v", n, err)
		}
	}
	close(stop)
	wg.Wait()
	dep, err := kc.AppsV1().Deployments(ns).Get(ctx, "app-canary", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *dep.Spec.Replicas != 5 || dep.Labels["edited"] != "yes" {
		t.Fatalf("replicas %d, labels %v; want 5 and the other client's label", *dep.Spec.Replicas, dep.Labels)
	}
}

// No controller runs, so the test plays the Deployment controller by
// writing status through the status subresource.
func TestRealReady(t *testing.T) {
	ctx, kc, ns, d := setup(t)
	ready, reason, err := d.Ready(ctx, workload.Canary)
	if err != nil || ready || reason == "" {
		t.Fatalf("fresh deployment: Ready = %v, %q, %v; want not ready with a reason", ready, reason, err)
	}
	dep, err := kc.AppsV1().Deployments(ns).Get(ctx, "app-canary", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 1}
	if dep, err = kc.AppsV1().Deployments(ns).UpdateStatus(ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if ready, reason, _ := d.Ready(ctx, workload.Canary); ready || reason != "1 of 2 updated replicas available" {
		t.Fatalf("Ready = %v, %q", ready, reason)
	}
	dep.Status.AvailableReplicas = 2
	if _, err = kc.AppsV1().Deployments(ns).UpdateStatus(ctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if ready, reason, err := d.Ready(ctx, workload.Canary); !ready || err != nil {
		t.Fatalf("Ready = %v, %q, %v; want ready", ready, reason, err)
	}
	// A spec change bumps the generation: not ready until observed.
	if err := d.Scale(ctx, workload.Canary, 3); err != nil {
		t.Fatal(err)
	}
	if ready, reason, _ := d.Ready(ctx, workload.Canary); ready {
		t.Fatalf("Ready right after a scale = true (%q)", reason)
	}
}

func TestRealMissingAndForbidden(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	cfg, counter := env.CountingConfig()
	kc, err := k8s.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := kubernetes.NewDeployments(kc, kubernetes.DeploymentsConfig{Namespace: ns, Stable: "app", Canary: "app-canary"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Scale(ctx, workload.Canary, 0); !errors.Is(err, kubernetes.ErrNotFound) {
		t.Fatalf("Scale of a missing deployment = %v, want ErrNotFound", err)
	}
	counter.Deny(true)
	_, err = d.Replicas(ctx, workload.Stable)
	var se *apierrors.StatusError
	if !errors.As(err, &se) || !apierrors.IsForbidden(err) {
		t.Fatalf("Replicas as a user without rights = %v, want the server's 403", err)
	}
}
