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
