package datadog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/ratelimit"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"
	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV2"
)

// Error is an error answer from Datadog. It wraps ErrUnauthorized (401,
// 403) or ErrRateLimited (429) where they apply, and the client's native
// datadog.GenericOpenAPIError (with any key the server echoed redacted), so
// both errors.Is and errors.As reach them.
type Error struct {
	Op         string        // "scalar" or "timeseries"
	StatusCode int           // the HTTP status; 200 for an error reported inside a 200 answer
	Messages   []string      // Datadog's error messages, redacted
	RetryAfter time.Duration // for a 429: how long the rate-limit headers asked to wait
	kind       error
	native     error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "datadog: %s query: ", e.Op)
	if e.StatusCode != http.StatusOK {
		fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	} else {
		b.WriteString("error in the answer")
	}
	if len(e.Messages) > 0 {
		b.WriteString(": " + strings.Join(e.Messages, "; "))
	}
	switch e.kind {
	case ErrUnauthorized:
		b.WriteString(" (check Config.APIKey, Config.AppKey, the application key's timeseries_query scope and Config.Site)")
	case ErrRateLimited:
		fmt.Fprintf(&b, " (rate limited; the server asked to wait %v)", e.RetryAfter)
	}
	return b.String()
}

// ErrorCode returns the code of the answer's HTTP status ([canary.HTTPCode]):
// [canary.Unauthorized] for 401 and 403, [canary.RateLimited] for 429,
// [canary.Unavailable] for 5xx…; [canary.Unknown] for an error reported inside
// a 200 answer.
func (e *Error) ErrorCode() canary.ErrorCode {
	if e.kind != nil {
		return canary.Code(e.kind)
	}
	return canary.HTTPCode(e.StatusCode)
}

// Unwrap returns the sentinel (if any) and the native client error.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.native != nil {
		errs = append(errs, e.native)
	}
	return errs
}

const redacted = "[REDACTED]"

func (p *Provider) redact(s string) string {
	for _, k := range p.secrets {
		s = strings.ReplaceAll(s, k, redacted)
	}
	return s
}

// redactedError stands for a transport error whose text held a key.
type redactedError struct{ msg string }

func (e *redactedError) Error() string { return e.msg }

func (p *Provider) safe(err error) error {
	if s := err.Error(); p.redact(s) != s {
		return &redactedError{p.redact(s)}
	}
	return err
}

// call runs do, retrying 429 answers as the rate-limit headers ask, within
// p.maxRetries, p.maxWait and ctx's deadline.
func (p *Provider) call(ctx context.Context, op string, do func(context.Context) (*http.Response, error)) error {
	for attempt := 0; ; attempt++ {
		resp, err := do(ctx)
		if err == nil {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("datadog: %s query: %w", op, cerr)
		}
		var native datadog.GenericOpenAPIError
		if resp == nil || !errors.As(err, &native) {
			return fmt.Errorf("datadog: %s query: %w", op, p.safe(err))
		}
		e := p.apiError(op, resp, native)
		if resp.StatusCode != http.StatusTooManyRequests {
			return e
		}
		wait := ratelimit.Wait(resp.Header, attempt, time.Now(), "X-RateLimit-Reset", "Retry-After")
		e.RetryAfter = wait
		if attempt >= p.maxRetries || wait > p.maxWait {
			return e
		}
		if d, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(d) {
			return e
		}
		p.log.LogAttrs(ctx, slog.LevelWarn, "datadog: rate limited; waiting before retrying",
			slog.String("op", op), slog.String("wait", wait.String()), slog.String("attempt", strconv.Itoa(attempt+1)),
			slog.String("limit_name", resp.Header.Get("X-RateLimit-Name")))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("datadog: %s query: waiting for the rate limit: %w", op, ctx.Err())
		case <-t.C:
		}
	}
}

func (p *Provider) apiError(op string, resp *http.Response, native datadog.GenericOpenAPIError) *Error {
	e := &Error{Op: op, StatusCode: resp.StatusCode}
	body := native.ErrorBody
	for _, k := range p.secrets {
		body = bytes.ReplaceAll(body, []byte(k), []byte(redacted))
	}
	clean := datadog.GenericOpenAPIError{ErrorBody: body, ErrorMessage: p.redact(native.ErrorMessage)}
	var model datadogV2.APIErrorResponse
	if len(body) > 0 && json.Unmarshal(body, &model) == nil && len(model.Errors) > 0 {
		clean.ErrorModel = model
		e.Messages = model.Errors
	} else if resp.StatusCode < 300 && clean.ErrorMessage != "" {
		e.Messages = []string{clean.ErrorMessage} // an answer the client could not decode
	}
	e.native = clean
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		e.kind = ErrUnauthorized
	case http.StatusTooManyRequests:
		e.kind = ErrRateLimited
	}
	return e
}
