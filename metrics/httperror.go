package metrics

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/meshcanary/canary"
)

// HTTPError is an error answer from a metric back end reached over HTTP
// (Datadog, New Relic…): the status, the back end's messages and the
// client's native error. It wraps [ErrUnauthorized] or [ErrRateLimited]
// where they apply, and the native error, so errors.Is and errors.As reach
// them; [canary.Code] classifies it (see [HTTPError.ErrorCode]).
//
// Its text is built from its fields only. A driver passes every secret it
// holds (API keys, tokens) to [HTTPError.Redact] before returning it, so no
// secret the server echoed reaches an error's text or a log line.
type HTTPError struct {
	// Vendor names the back end; the text starts with it ("datadog").
	Vendor string
	// Op is what was asked ("scalar query", "NerdGraph"); "" for none.
	Op string
	// StatusCode is the HTTP status; 200 for an error reported inside a 200
	// answer; 0 when it is not known.
	StatusCode int
	// Messages are the back end's error messages.
	Messages []string
	// RetryAfter is, for a rate limit, how long the server asked to wait
	// (or the driver's back-off when it did not say); see RetryDelay.
	RetryAfter time.Duration
	// Hint says what to check when the credentials were refused (which
	// Config fields); it is shown only then.
	Hint string
	// Kind is ErrUnauthorized or ErrRateLimited when the answer says so
	// outside its status (New Relic's BAD_API_KEY inside a 200 answer,
	// say). Nil means the status decides: 401 and 403 are ErrUnauthorized,
	// 429 is ErrRateLimited, any other none.
	Kind error
	// Err is the client's native error, or nil.
	Err error
}

// sentinel returns Kind, or the sentinel of the status.
func (e *HTTPError) sentinel() error {
	if e.Kind != nil {
		return e.Kind
	}
	switch e.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusTooManyRequests:
		return ErrRateLimited
	}
	return nil
}

// Error returns "vendor: op: status: messages (hint)", each part where it
// is known: a status of 200 reads "error in the answer".
func (e *HTTPError) Error() string {
	var b strings.Builder
	b.WriteString(e.Vendor)
	sep := func() {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
	}
	if e.Op != "" {
		sep()
		b.WriteString(e.Op)
	}
	switch e.StatusCode {
	case 0:
	case http.StatusOK:
		sep()
		b.WriteString("error in the answer")
	default:
		sep()
		fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if len(e.Messages) > 0 {
		sep()
		b.WriteString(strings.Join(e.Messages, "; "))
	}
	switch e.sentinel() {
	case ErrUnauthorized:
		if e.Hint != "" {
			b.WriteString(" (" + e.Hint + ")")
		}
	case ErrRateLimited:
		fmt.Fprintf(&b, " (rate limited; the server asked to wait %v)", e.RetryAfter)
	}
	return b.String()
}

// ErrorCode returns [canary.Unauthorized] or [canary.RateLimited] where
// those apply (see Kind), otherwise the code of the HTTP status
// ([canary.HTTPCode]): [canary.Unavailable] for 500, 502 and 503,
// [canary.NotFound] for 404…, and [canary.Unknown] for a status of 200 or 0.
func (e *HTTPError) ErrorCode() canary.ErrorCode {
	if s := e.sentinel(); s != nil {
		return canary.Code(s)
	}
	return canary.HTTPCode(e.StatusCode)
}

// Unwrap returns the sentinel (if any) and the native error (if any).
func (e *HTTPError) Unwrap() []error {
	var errs []error
	if s := e.sentinel(); s != nil {
		errs = append(errs, s)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// RetryDelay returns RetryAfter, so that a [Source] retrying a
// rate-limited query waits as long as the server asked ([RetryDelayer]).
func (e *HTTPError) RetryDelay() time.Duration { return e.RetryAfter }

// Redact replaces every secret in e's text fields with "[REDACTED]", and
// replaces Err with [RedactError] of it, and returns e. Empty secrets are
// ignored.
func (e *HTTPError) Redact(secrets ...string) *HTTPError {
	e.Vendor = Redact(e.Vendor, secrets...)
	e.Op = Redact(e.Op, secrets...)
	e.Hint = Redact(e.Hint, secrets...)
	if len(e.Messages) > 0 {
		clean := make([]string, len(e.Messages))
		for i, m := range e.Messages {
			clean[i] = Redact(m, secrets...)
		}
		e.Messages = clean
	}
	if e.Err != nil {
		e.Err = RedactError(e.Err, secrets...)
	}
	return e
}

const redacted = "[REDACTED]"

// Redact returns text with every secret in it replaced by "[REDACTED]".
// Empty secrets are ignored.
func Redact(text string, secrets ...string) string {
	for _, s := range secrets {
		if s != "" {
			text = strings.ReplaceAll(text, s, redacted)
		}
	}
	return text
}

// RedactError returns err when its text holds none of the secrets;
// otherwise an error whose text is err's with the secrets replaced by
// "[REDACTED]" and which wraps nothing, since what err wraps may show the
// secret. Empty secrets are ignored.
func RedactError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	if s := err.Error(); Redact(s, secrets...) != s {
		return &redactedError{Redact(s, secrets...)}
	}
	return err
}

// redactedError stands for an error whose text held a secret.
type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }
