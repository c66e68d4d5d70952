package canary_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/traffic"
)

func TestCode(t *testing.T) {
	sentinel := canary.NewError(canary.RateLimited, "slow down")
	for _, c := range []struct {
		err  error
		want canary.ErrorCode
	}{
		{nil, canary.OK},
		{errors.New("boom"), canary.Unknown},
		{context.DeadlineExceeded, canary.DeadlineExceeded},
		{fmt.Errorf("get: %w", context.Canceled), canary.Canceled},
		{canary.Invalid("Split.Canary", 120, "too big"), canary.InvalidArgument},
		{fmt.Errorf("x: %w", canary.ErrInvalid), canary.InvalidArgument},
		{sentinel, canary.RateLimited},
		{fmt.Errorf("wrapped: %w", sentinel), canary.RateLimited},
		{canary.WithCode(canary.Unavailable, errors.New("503")), canary.Unavailable},
		// The outermost code wins over a context error deeper in the chain.
		{canary.WithCode(canary.Conflict, fmt.Errorf("%w", context.Canceled)), canary.Conflict},
		// Every sentinel of the core has its code (the adapters test theirs).
		{traffic.ErrNotFound, canary.NotFound},
		{traffic.ErrConflict, canary.Conflict},
		{traffic.ErrVerify, canary.Conflict},
		{metrics.ErrNoData, canary.NotFound},
		{metrics.ErrSeveralSeries, canary.InvalidArgument},
		{metrics.ErrUnauthorized, canary.Unauthorized},
		{metrics.ErrRateLimited, canary.RateLimited},
		{store.ErrNotFound, canary.NotFound},
		{store.ErrConflict, canary.Conflict},
		// Closing the proxy is not a missing route.
		{httpsplit.ErrClosed, canary.FailedPrecondition},
	} {
		if got := canary.Code(c.err); got != c.want {
			t.Errorf("Code(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if errors.Is(httpsplit.ErrClosed, traffic.ErrNotFound) {
		t.Error("httpsplit.ErrClosed matches traffic.ErrNotFound: closing the proxy would roll a canary back")
	}
}

func TestWithCodeKeepsTheError(t *testing.T) {
	native := &myErr{"native"}
	err := canary.WithCode(canary.Unauthorized, native)
	var got *myErr
	if !errors.As(err, &got) || got != native || err.Error() != "native" || !errors.Is(err, native) {
		t.Errorf("WithCode lost the error: %v", err)
	}
	if canary.WithCode(canary.Unknown, nil) != nil {
		t.Error("WithCode(nil) is not nil")
	}
}

type myErr struct{ s string }

func (e *myErr) Error() string { return e.s }

func TestHTTPCode(t *testing.T) {
	for status, want := range map[int]canary.ErrorCode{
		400: canary.InvalidArgument, 401: canary.Unauthorized, 403: canary.Unauthorized, 404: canary.NotFound,
		408: canary.DeadlineExceeded, 409: canary.Conflict, 418: canary.FailedPrecondition, 422: canary.InvalidArgument,
		429: canary.RateLimited, 500: canary.Unavailable, 502: canary.Unavailable, 503: canary.Unavailable,
		504: canary.DeadlineExceeded, 200: canary.Unknown, 0: canary.Unknown, 301: canary.Unknown,
	} {
		if got := canary.HTTPCode(status); got != want {
			t.Errorf("HTTPCode(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestErrorCodeString(t *testing.T) {
	for c, want := range map[canary.ErrorCode]string{
		canary.OK: "OK", canary.InvalidArgument: "InvalidArgument", canary.FailedPrecondition: "FailedPrecondition",
		canary.Canceled: "Canceled", canary.ErrorCode(99): "ErrorCode(99)", canary.ErrorCode(-1): "ErrorCode(-1)",
	} {
		if got := c.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(c), got, want)
		}
	}
}

func ExampleCode() {
	err := fmt.Errorf("step: %w", traffic.ErrNotFound)
	fmt.Println(canary.Code(err))
	fmt.Println(canary.Code(canary.Invalid("Split.Canary", 120, "must be between 0 and 100")))
	fmt.Println(canary.Code(context.DeadlineExceeded))
	fmt.Println(canary.Code(nil))
	// Output:
	// NotFound
	// InvalidArgument
	// DeadlineExceeded
	// OK
}
