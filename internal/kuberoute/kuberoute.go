package kuberoute

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
)

// Code classifies an error from the Kubernetes API server (or client-go)
// for [canary.Code]: an error that already has a code (a *[canary.FieldError],
// a sentinel made with [canary.NewError], a context error) keeps it;
// otherwise the *apierrors.StatusError's reason decides. Anything else is
// [canary.Unknown].
func Code(err error) canary.ErrorCode {
	if c := canary.Code(err); c != canary.Unknown {
		return c
	}
	switch {
	case apierrors.IsNotFound(err), apierrors.IsGone(err):
		return canary.NotFound
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err), apierrors.IsResourceExpired(err):
		return canary.Conflict
	case apierrors.IsUnauthorized(err), apierrors.IsForbidden(err):
		return canary.Unauthorized
	case apierrors.IsTooManyRequests(err):
		return canary.RateLimited
	case apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsUnexpectedServerError(err):
		return canary.Unavailable
	case apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return canary.DeadlineExceeded
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsRequestEntityTooLargeError(err):
		return canary.InvalidArgument
	case apierrors.IsMethodNotSupported(err), apierrors.IsNotAcceptable(err), apierrors.IsUnsupportedMediaType(err):
		return canary.FailedPrecondition
	}
	return canary.Unknown
}

// Wrap gives a Kubernetes error its code (Code) once, keeping its text and
// the *apierrors.StatusError reachable with errors.As. It returns nil for
// nil, and err itself when err already has a code.
func Wrap(err error) error {
	if err == nil || canary.Code(err) != canary.Unknown {
		return err
	}
	return canary.WithCode(Code(err), err)
}

// PatchError interprets the error of a JSON Patch pinned to resourceVersion
// rv. A patch computed from a stale version can fail to apply (an index
// that moved) with 422 Invalid before the server's version check: current
// reads the object's resourceVersion again, and a new one makes the error
// a conflict ([canary.Conflict], so the [traffic.Router] retries from a fresh
// read), the same one leaves the server's refusal of the value as it is.
func PatchError(ctx context.Context, err error, rv string, current func(context.Context) (string, error)) error {
	if !apierrors.IsInvalid(err) {
		return err
	}
	now, gerr := current(ctx)
	switch {
	case gerr != nil:
		return gerr
	case now != rv:
		return canary.WithCode(canary.Conflict, err)
	}
	return err
}

// Router returns traffic.NewRouter(d, d.RouterConfig()), or err: the body of
// each Kubernetes adapter's New.
func Router[D interface {
	traffic.Driver
	RouterConfig() traffic.Config
}](d D, err error) (*traffic.Router, error) {
	if err != nil {
		return nil, err
	}
	return traffic.NewRouter(d, d.RouterConfig()), nil
}
