package kubernetes_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/workload"
	"github.com/meshcanary/canary/workload/workloadtest"
)

func deployment(ns, name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
	}
}

func TestNewDeploymentsValidates(t *testing.T) {
	cs := fake.NewClientset()
	cases := []struct {
		ns, stable, canaryName, field string
	}{
		{"Bad_NS", "a", "b", "DeploymentsConfig.Namespace"},
		{"", "a", "b", "DeploymentsConfig.Namespace"},
		{"ns", "UPPER", "b", "DeploymentsConfig.Stable"},
		{"ns", "a", "b..c", "DeploymentsConfig.Canary"},
		{"ns", "a", "a", "DeploymentsConfig.Canary"},
	}
	for _, c := range cases {
		_, err := kubernetes.NewDeployments(cs, kubernetes.DeploymentsConfig{Namespace: c.ns, Stable: c.stable, Canary: c.canaryName})
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("NewDeployments(%q/%q, %q) = %v, want a FieldError on %s", c.ns, c.stable, c.canaryName, err, c.field)
		}
	}
	if _, err := kubernetes.NewDeployments(nil, kubernetes.DeploymentsConfig{Namespace: "ns", Stable: "a", Canary: "b"}); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("nil client: %v", err)
	}
	if n := len(cs.Actions()); n != 0 {
		t.Errorf("validation sent %d requests", n)
	}
}

func TestScaleAndReplicas(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(deployment("ns", "app", 4), deployment("ns", "app-canary", 1))
	d, err := kubernetes.NewDeployments(cs, kubernetes.DeploymentsConfig{Namespace: "ns", Stable: "app", Canary: "app-canary"})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := d.Replicas(ctx, workload.Stable); err != nil || n != 4 {
		t.Fatalf("Replicas(stable) = %d, %v; want 4", n, err)
	}
	if err := d.Scale(ctx, workload.Canary, 0); err != nil {
		t.Fatal(err)
	}
	if n, err := d.Replicas(ctx, workload.Canary); err != nil || n != 0 {
		t.Fatalf("Replicas(canary) after Scale(0) = %d, %v", n, err)
	}
	cs.ClearActions()
	if err := d.Scale(ctx, workload.Canary, 0); err != nil {
		t.Fatal(err)
	}
	for _, a := range cs.Actions() {
		if a.GetVerb() != "get" {
			t.Errorf("scaling to the current count sent a %s", a.GetVerb())
		}
	}
	if err := d.Scale(ctx, workload.Canary, -1); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("Scale(-1) = %v, want ErrInvalid", err)
	}
	if _, err := d.Replicas(ctx, workload.Version("blue")); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("Replicas(blue) = %v, want ErrInvalid", err)
	}
}

func TestScaleRetriesConflicts(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(deployment("ns", "app", 4), deployment("ns", "app-canary", 1))
	conflicts := 2
	cs.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, "app-canary", errors.New("object was modified"))
		}
		return false, nil, nil
	})
	d, _ := kubernetes.NewDeployments(cs, kubernetes.DeploymentsConfig{Namespace: "ns", Stable: "app", Canary: "app-canary"})
	if err := d.Scale(ctx, workload.Canary, 3); err != nil {
		t.Fatalf("Scale after 2 conflicts: %v", err)
	}
	if n, _ := d.Replicas(ctx, workload.Canary); n != 3 {
		t.Fatalf("replicas = %d, want 3", n)
	}
	gets := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "get" {
			gets++
		}
	}
	if gets < 3 {
		t.Errorf("%d gets for 3 attempts; each retry must read afresh", gets)
	}

	// Endless conflicts: bounded retries, the StatusError reachable.
	cs.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, "app-canary", errors.New("object was modified"))
	})
	err := d.Scale(ctx, workload.Canary, 5)
	var se *apierrors.StatusError
	if !apierrors.IsConflict(err) || !errors.As(err, &se) {
		t.Fatalf("Scale under endless conflicts = %v, want a Conflict StatusError", err)
	}
}

func TestNotFoundAndInjectedErrors(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(deployment("ns", "app", 2))
	d, _ := kubernetes.NewDeployments(cs, kubernetes.DeploymentsConfig{Namespace: "ns", Stable: "app", Canary: "app-canary"})
	if _, err := d.Replicas(ctx, workload.Canary); !errors.Is(err, kubernetes.ErrNotFound) || !apierrors.IsNotFound(err) {
		t.Errorf("Replicas of a missing deployment = %v, want ErrNotFound wrapping the 404", err)
	}
	cs.PrependReactor("get", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "app", errors.New("rbac says no"))
	})
	_, _, err := d.Ready(ctx, workload.Stable)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "rbac says no") {
		t.Errorf("Ready with a forbidden get = %v", err)
	}
}

func TestReady(t *testing.T) {
	three := int32(3)
	cases := []struct {
		name   string
		gen    int64
		status appsv1.DeploymentStatus
		ready  bool
		reason string
	}{
		{"complete", 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3, ReadyReplicas: 3}, true, ""},
		{"not observed", 3, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}, false, "generation 3 not yet observed"},
		{"updating", 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 1}, false, "1 of 3 replicas updated"},
		{"old pods left", 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 3, AvailableReplicas: 3}, false, "1 old replicas pending termination"},
		{"unavailable", 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2}, false, "2 of 3 updated replicas available"},
		{"deadline", 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 1, Conditions: []appsv1.DeploymentCondition{{
			Type: appsv1.DeploymentProgressing, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "app-7c" has timed out progressing.`,
		}}}, false, "progress deadline exceeded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dep := deployment("ns", "app-canary", three)
			dep.Generation, dep.Status = c.gen, c.status
			cs := fake.NewClientset(deployment("ns", "app", 1), dep)
			d, _ := kubernetes.NewDeployments(cs, kubernetes.DeploymentsConfig{Namespace: "ns", Stable: "app", Canary: "app-canary"})
			ready, reason, err := d.Ready(context.Background(), workload.Canary)
			if err != nil {
				t.Fatal(err)
			}
			if ready != c.ready || !strings.Contains(reason, c.reason) || (c.ready && reason != "") {
				t.Errorf("Ready = %v, %q; want %v, %q", ready, reason, c.ready, c.reason)
			}
		})
	}
}

func TestDeploymentsConformance(t *testing.T) {
	ready := func(ns, name string, replicas int32) *appsv1.Deployment {
		d := deployment(ns, name, replicas)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: replicas, UpdatedReplicas: replicas,
			AvailableReplicas: replicas, ReadyReplicas: replicas}
		return d
	}
	workloadtest.RunScaler(t, workloadtest.ScalerHarness{
		New: func(_ context.Context, t *testing.T, stable, canaryN int32) workload.Scaler {
			d, err := kubernetes.NewDeployments(fake.NewClientset(deployment("ns", "app", stable), deployment("ns", "app-canary", canaryN)), kubernetes.DeploymentsConfig{Namespace: "ns", Stable: "app", Canary: "app-canary"})
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
	})
	workloadtest.RunReadiness(t, workloadtest.ReadinessHarness{
		New: func(_ context.Context, t *testing.T, ok bool) workload.Readiness {
			c := ready("ns", "app-canary", 2)
			if !ok {
				c.Status.AvailableReplicas = 1
			}
			d, err := kubernetes.NewDeployments(fake.NewClientset(ready("ns", "app", 2), c), kubernetes.DeploymentsConfig{Namespace: "ns", Stable: "app", Canary: "app-canary"})
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
	})
}
