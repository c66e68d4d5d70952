package canary

import (
	"context"
	"errors"
	"fmt"
)

// ErrorCode is the category of an error, the same for every adapter: what
// a caller can do about it does not depend on which mesh, metrics back end
// or store produced it. Read it with Code.
type ErrorCode int

// The error codes, after gocloud.dev's gcerrors.
const (
	// OK is the code of a nil error.
	OK ErrorCode = iota
	// Unknown: no more precise code is known. A network error, a bug.
	Unknown
	// InvalidArgument: the input was refused (a *FieldError, [ErrInvalid],
	// or the back end's own validation). (Named as in gcerrors; the name
	// Invalid is the function that builds a *FieldError.)
	InvalidArgument
	// NotFound: the object or the data asked for does not exist.
	NotFound
	// Conflict: the object changed under the caller (a version
	// conflict, a write that did not stay); reading again and retrying
	// may succeed.
	Conflict
	// Unauthorized: the credentials were refused or lack a permission
	// (HTTP 401 and 403).
	Unauthorized
	// RateLimited: the back end asked the caller to slow down (HTTP 429)
	// and waiting did not help within the budget.
	RateLimited
	// Unavailable: the back end is down or overloaded (HTTP 502, 503);
	// retrying later may succeed.
	Unavailable
	// DeadlineExceeded: a deadline passed before the operation finished
	// (context.DeadlineExceeded, a server-side timeout).
	DeadlineExceeded
	// FailedPrecondition: the system is not in a state that allows the
	// operation (a closed proxy, a missing prerequisite object).
	FailedPrecondition
	// Canceled: the caller cancelled the context.
	Canceled
)

var codeNames = [...]string{
	OK:                 "OK",
	Unknown:            "Unknown",
	InvalidArgument:    "InvalidArgument",
	NotFound:           "NotFound",
	Conflict:           "Conflict",
	Unauthorized:       "Unauthorized",
	RateLimited:        "RateLimited",
	Unavailable:        "Unavailable",
	DeadlineExceeded:   "DeadlineExceeded",
	FailedPrecondition: "FailedPrecondition",
	Canceled:           "Canceled",
}

func (c ErrorCode) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("ErrorCode(%d)", int(c))
}

// coder is implemented by errors that know their code: the sentinels made
// with [NewError], *FieldError, and the adapters' error types.
type coder interface{ ErrorCode() ErrorCode }

// Code returns the category of err: OK for nil; otherwise the code of the
// first error in err's tree (in the order errors.As searches it) that has
// an ErrorCode method, such as the sentinels made with [NewError], a
// *FieldError or an error made with [WithCode]; otherwise DeadlineExceeded or
// Canceled for the context package's errors; otherwise Unknown.
//
// Every sentinel error of this module has a code, and every adapter
// classifies its back end's native errors (HTTP statuses, Kubernetes
// reasons), so a caller can decide to retry, give up or alert on the code
// alone, whichever adapter is behind the error. The error keeps its native
// cause: errors.As still reaches it.
func Code(err error) ErrorCode {
	if err == nil {
		return OK
	}
	var c coder
	if errors.As(err, &c) {
		return c.ErrorCode()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return Canceled
	}
	return Unknown
}

// codedError is a sentinel error with a code.
type codedError struct {
	code ErrorCode
	msg  string
}

func (e *codedError) Error() string        { return e.msg }
func (e *codedError) ErrorCode() ErrorCode { return e.code }

// NewError returns a new sentinel error with text msg whose Code is code.
// Each call returns a distinct error, for errors.Is, as errors.New does.
func NewError(code ErrorCode, msg string) error { return &codedError{code: code, msg: msg} }

// withCode gives an error a code without changing its text.
type withCode struct {
	code ErrorCode
	err  error
}

func (e *withCode) Error() string        { return e.err.Error() }
func (e *withCode) Unwrap() error        { return e.err }
func (e *withCode) ErrorCode() ErrorCode { return e.code }

// WithCode returns err with the code code: Code of the result is code, its
// text is err's, and errors.Is and errors.As reach err. It returns nil for
// a nil err. Adapters use it once, where they receive a native error whose
// category only they can tell.
func WithCode(code ErrorCode, err error) error {
	if err == nil {
		return nil
	}
	return &withCode{code: code, err: err}
}

// HTTPCode is the code of an HTTP error status: 400 and 422 InvalidArgument, 401
// and 403 Unauthorized, 404 and 410 NotFound, 409 and 412 Conflict, 429
// RateLimited, 408 and 504 DeadlineExceeded, 500, 502 and 503 Unavailable,
// other 4xx FailedPrecondition, anything else Unknown.
func HTTPCode(status int) ErrorCode {
	switch status {
	case 400, 422:
		return InvalidArgument
	case 401, 403:
		return Unauthorized
	case 404, 410:
		return NotFound
	case 409, 412:
		return Conflict
	case 429:
		return RateLimited
	case 408, 504:
		return DeadlineExceeded
	case 500, 502, 503:
		return Unavailable
	}
	if status > 400 && status < 500 {
		return FailedPrecondition
	}
	return Unknown
}

// ErrInvalid is matched (with errors.Is) by every *FieldError: input that a
// constructor or a validator refused. Its Code is InvalidArgument.
var ErrInvalid = NewError(InvalidArgument, "invalid input")

// FieldError reports one bad input field. Field is a dotted path as the
// caller wrote it, for example "Plan.Stages[2]" or "Split.Canary".
type FieldError struct {
	Field  string // the field, e.g. "Split.Canary"
	Value  any    // the refused value; nil when showing it would leak a secret
	Reason string // why it was refused, e.g. "must be between 0 and 100"
}

func (e *FieldError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("invalid %s (%v): %s", e.Field, e.Value, e.Reason)
}

// Is reports whether target is [ErrInvalid].
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// ErrorCode returns InvalidArgument.
func (e *FieldError) ErrorCode() ErrorCode { return InvalidArgument }

// Invalid returns a *FieldError for field with the value and a reason built
// from format and args.
func Invalid(field string, value any, format string, args ...any) error {
	return &FieldError{Field: field, Value: value, Reason: fmt.Sprintf(format, args...)}
}
