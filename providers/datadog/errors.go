package datadog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
func (d *driver) answerError(op, msg string) *Error {
	return (&Error{Vendor: "datadog", Op: op + " query", StatusCode: http.StatusOK, Messages: []string{msg}}).Redact(d.secrets...)
}

func (d *driver) redact(s string) string { return metrics.Redact(s, d.secrets...) }

func (d *driver) safe(err error) error { return metrics.RedactError(err, d.secrets...) }

// callError turns an error of the client into the driver's: the
// context's error when ctx is done, an *Error for an HTTP answer (for a
// 429 with the wait the rate-limit headers ask for, which the Source
// honours), otherwise the transport's error with the keys redacted.
func (d *driver) callError(ctx context.Context, op string, resp *http.Response, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("datadog: %s query: %w", op, cerr)
	}
	var native datadog.GenericOpenAPIError
	if resp == nil || !errors.As(err, &native) {
		return fmt.Errorf("datadog: %s query: %w", op, d.safe(err))
	}
	e := d.apiError(op, resp, native)
	if resp.StatusCode == http.StatusTooManyRequests {
		// Only a wait the server asked for: without one the Source backs
		// off by itself, doubling from one second.
		e.RetryAfter, _ = ratelimit.Asked(resp.Header, time.Now(), "X-RateLimit-Reset", "Retry-After")
	}
	return e
}

func (d *driver) apiError(op string, resp *http.Response, native datadog.GenericOpenAPIError) *Error {
	e := &Error{Vendor: "datadog", Op: op + " query", StatusCode: resp.StatusCode, Hint: hint}
	body := []byte(d.redact(string(native.ErrorBody)))
	clean := datadog.GenericOpenAPIError{ErrorBody: body, ErrorMessage: d.redact(native.ErrorMessage)}
	var model datadogV2.APIErrorResponse
	if len(body) > 0 && json.Unmarshal(body, &model) == nil && len(model.Errors) > 0 {
		clean.ErrorModel = model
		e.Messages = model.Errors
	} else if resp.StatusCode < 300 && clean.ErrorMessage != "" {
		e.Messages = []string{clean.ErrorMessage} // an answer the client could not decode
	}
	e.Err = clean
	return e.Redact(d.secrets...)
}
