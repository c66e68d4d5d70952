package kubernetes_test

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/workload"
)

// canary.Code classifies the API server's errors, wrapped once, with the
// *apierrors.StatusError still reachable.
func TestErrorCodes(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	for _, c := range []struct {
		name string
		err  error
		code canary.ErrorCode
	}{
		{"forbidden", apierrors.NewForbidden(gr, "app", errors.New("rbac")), canary.Unauthorized},
		{"unauthorized", apierrors.NewUnauthorized("token expired"), canary.Unauthorized},
		{"throttled", apierrors.NewTooManyRequests("slow down", 1), canary.RateLimited},
		{"unavailable", apierrors.NewServiceUnavailable("etcd"), canary.Unavailable},
		{"timeout", apierrors.NewTimeoutError("slow", 1), canary.DeadlineExceeded},
		{"conflict", apierrors.NewConflict(gr, "app", errors.New("modified")), canary.Conflict},
	} {
		t.Run(c.name, func(t *testing.T) {
			cs := fake.NewClientset(deployment("ns", "app", 2), deployment("ns", "app-canary", 1))
			cs.PrependReactor("get", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, c.err
			})
			d, _ := kubernetes.NewDeployments(cs, kubernetes.DeploymentsConfig{Namespace: "ns", Stable: "app", Canary: "app-canary"})
			_, err := d.Replicas(context.Background(), workload.Stable)
			var se *apierrors.StatusError
			if canary.Code(err) != c.code || !errors.As(err, &se) {
				t.Errorf("Replicas = %v, code %v; want %v with the StatusError", err, canary.Code(err), c.code)
			}
		})
	}
	cs := fake.NewClientset()
	d, _ := kubernetes.NewDeployments(cs, kubernetes.DeploymentsConfig{Namespace: "ns", Stable: "app", Canary: "app-canary"})
	_, err := d.Replicas(context.Background(), workload.Stable)
	if !errors.Is(err, kubernetes.ErrNotFound) || canary.Code(err) != canary.NotFound {
		t.Errorf("missing deployment: %v, code %v", err, canary.Code(err))
	}
	if _, err := d.Replicas(context.Background(), "beta"); canary.Code(err) != canary.InvalidArgument {
		t.Errorf("bad version: %v, code %v", err, canary.Code(err))
	}
}
