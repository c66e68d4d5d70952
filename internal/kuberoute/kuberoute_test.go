package kuberoute_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kuberoute"
)

func TestCode(t *testing.T) {
	gr := schema.GroupResource{Group: "networking.istio.io", Resource: "virtualservices"}
	gk := schema.GroupKind{Group: "networking.istio.io", Kind: "VirtualService"}
	for _, tc := range []struct {
		err  error
		want canary.ErrorCode
	}{
		{nil, canary.OK},
		{apierrors.NewNotFound(gr, "reviews"), canary.NotFound},
		{apierrors.NewConflict(gr, "reviews", errors.New("modified")), canary.Conflict},
		{apierrors.NewAlreadyExists(gr, "reviews"), canary.Conflict},
		{apierrors.NewUnauthorized("no token"), canary.Unauthorized},
		{apierrors.NewForbidden(gr, "reviews", errors.New("rbac")), canary.Unauthorized},
		{apierrors.NewTooManyRequests("slow down", 1), canary.RateLimited},
		{apierrors.NewServiceUnavailable("etcd down"), canary.Unavailable},
		{apierrors.NewInternalError(errors.New("boom")), canary.Unavailable},
		{apierrors.NewTimeoutError("slow", 1), canary.DeadlineExceeded},
		{apierrors.NewInvalid(gk, "reviews", nil), canary.InvalidArgument},
		{apierrors.NewBadRequest("bad"), canary.InvalidArgument},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), canary.DeadlineExceeded},
		{canary.Invalid("Config.Route", "x", "bad"), canary.InvalidArgument},
		// A code given on purpose wins over the status's.
		{canary.WithCode(canary.Conflict, apierrors.NewInvalid(gk, "reviews", nil)), canary.Conflict},
		{errors.New("connection refused"), canary.Unknown},
	} {
		if got := kuberoute.Code(tc.err); got != tc.want {
			t.Errorf("Code(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if tc.err == nil {
			continue
		}
		w := kuberoute.Wrap(tc.err)
		var se *apierrors.StatusError
		if canary.Code(w) != tc.want || w.Error() != tc.err.Error() || (errors.As(tc.err, &se) && !errors.As(w, &se)) {
			t.Errorf("Wrap(%v) = %v with code %v, want code %v, same text, StatusError reachable", tc.err, w, canary.Code(w), tc.want)
		}
	}
}

func TestPatchError(t *testing.T) {
	gk := schema.GroupKind{Group: "networking.istio.io", Kind: "VirtualService"}
	invalid := apierrors.NewInvalid(gk, "reviews", nil)
	current := func(rv string, err error) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { return rv, err }
	}
	ctx := context.Background()
	if err := kuberoute.PatchError(ctx, invalid, "7", current("8", nil)); canary.Code(err) != canary.Conflict || !apierrors.IsInvalid(err) {
		t.Errorf("stale version: %v (code %v), want Conflict wrapping the 422", err, canary.Code(err))
	}
	if err := kuberoute.PatchError(ctx, invalid, "7", current("7", nil)); err != invalid {
		t.Errorf("same version: %v, want the server's refusal as is", err)
	}
	gone := apierrors.NewNotFound(schema.GroupResource{Resource: "virtualservices"}, "reviews")
	if err := kuberoute.PatchError(ctx, invalid, "7", current("", gone)); err != gone {
		t.Errorf("re-read failed: %v, want its error", err)
	}
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "virtualservices"}, "reviews", errors.New("x"))
	if err := kuberoute.PatchError(ctx, conflict, "7", nil); err != conflict {
		t.Errorf("a conflict: %v, want it as is without a read", err)
	}
}
