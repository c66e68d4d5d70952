package datadog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/meshcanary/canary/internal/ratelimit"
	"github.com/meshcanary/canary/metrics"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"
	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV2"
)

// Error is an error answer from Datadog: a [metrics.HTTPError] with Vendor
// "datadog" and Op "scalar query" or "timeseries query". It wraps
// ErrUnauthorized (401, 403) or ErrRateLimited (429) where they apply, and
// the client's native datadog.GenericOpenAPIError (with any key the server
// echoed redacted), so both errors.Is and errors.As reach them. Its code
// ([metrics.HTTPError.ErrorCode]) is that of the answer's HTTP status:
// Unauthorized for 401 and 403, RateLimited for 429, Unavailable for 5xx…;
// Unknown for an error reported inside a 200 answer.
type Error = metrics.HTTPError

// hint is the Error's advice when Datadog refused the keys.
const hint = "check Config.APIKey, Config.AppKey, the application key's timeseries_query scope and Config.Site"

// answerError is an error reported inside a 200 answer.
func (p *Provider) answerError(op, msg string) *Error {
	return (&Error{Vendor: "datadog", Op: op + " query", StatusCode: http.StatusOK, Messages: []string{msg}}).Redact(p.secrets...)
}

func (p *Provider) redact(s string) string { return metrics.Redact(s, p.secrets...) }

func (p *Provider) safe(err error) error { return metrics.RedactError(err, p.secrets...) }

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
	e := &Error{Vendor: "datadog", Op: op + " query", StatusCode: resp.StatusCode, Hint: hint}
	body := []byte(p.redact(string(native.ErrorBody)))
	clean := datadog.GenericOpenAPIError{ErrorBody: body, ErrorMessage: p.redact(native.ErrorMessage)}
	var model datadogV2.APIErrorResponse
	if len(body) > 0 && json.Unmarshal(body, &model) == nil && len(model.Errors) > 0 {
		clean.ErrorModel = model
		e.Messages = model.Errors
	} else if resp.StatusCode < 300 && clean.ErrorMessage != "" {
		e.Messages = []string{clean.ErrorMessage} // an answer the client could not decode
	}
	e.Err = clean
	return e.Redact(p.secrets...)
}
