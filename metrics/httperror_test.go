package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// nativeError stands for a vendor client's error type.
type nativeError struct{ body string }

func (e *nativeError) Error() string { return "native: " + e.body }

func TestHTTPError(t *testing.T) {
	native := &nativeError{"boom"}
	for _, c := range []struct {
		name     string
		err      *metrics.HTTPError
		text     string
		code     canary.ErrorCode
		sentinel error
	}{
		{"unauthorized", &metrics.HTTPError{Vendor: "datadog", Op: "scalar query", StatusCode: 401, Messages: []string{"bad key"}, Hint: "check Config.APIKey", Err: native},
			"datadog: scalar query: 401 Unauthorized: bad key (check Config.APIKey)", canary.Unauthorized, metrics.ErrUnauthorized},
		{"forbidden", &metrics.HTTPError{Vendor: "datadog", Op: "timeseries query", StatusCode: 403, Err: native},
			"datadog: timeseries query: 403 Forbidden", canary.Unauthorized, metrics.ErrUnauthorized},
		{"rate limited", &metrics.HTTPError{Vendor: "newrelic", Op: "NerdGraph", StatusCode: 429, RetryAfter: 2 * time.Minute, Hint: "not shown"},
			"newrelic: NerdGraph: 429 Too Many Requests (rate limited; the server asked to wait 2m0s)", canary.RateLimited, metrics.ErrRateLimited},
		{"unauthorized inside a 200 answer", &metrics.HTTPError{Vendor: "newrelic", Op: "NerdGraph", StatusCode: 200, Messages: []string{"Invalid API key"}, Kind: metrics.ErrUnauthorized, Hint: "check Config.APIKey"},
			"newrelic: NerdGraph: error in the answer: Invalid API key (check Config.APIKey)", canary.Unauthorized, metrics.ErrUnauthorized},
		{"rate limited inside a 200 answer", &metrics.HTTPError{Vendor: "newrelic", StatusCode: 200, Kind: metrics.ErrRateLimited, RetryAfter: time.Second},
			"newrelic: error in the answer (rate limited; the server asked to wait 1s)", canary.RateLimited, metrics.ErrRateLimited},
		{"error inside a 200 answer", &metrics.HTTPError{Vendor: "datadog", Op: "scalar query", StatusCode: 200, Messages: []string{"a", "b"}},
			"datadog: scalar query: error in the answer: a; b", canary.Unknown, nil},
		{"not found", &metrics.HTTPError{Vendor: "datadog", Op: "scalar query", StatusCode: 404, Err: native},
			"datadog: scalar query: 404 Not Found", canary.NotFound, nil},
		{"bad request", &metrics.HTTPError{Vendor: "datadog", Op: "scalar query", StatusCode: 400, Messages: []string{"Error parsing query"}},
			"datadog: scalar query: 400 Bad Request: Error parsing query", canary.InvalidArgument, nil},
		{"unavailable", &metrics.HTTPError{Vendor: "newrelic", Op: "NerdGraph", StatusCode: 503, Hint: "not shown"},
			"newrelic: NerdGraph: 503 Service Unavailable", canary.Unavailable, nil},
		{"unknown status", &metrics.HTTPError{Vendor: "newrelic", Op: "NerdGraph", Messages: []string{"connection reset"}, Err: native},
			"newrelic: NerdGraph: connection reset", canary.Unknown, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error = c.err
			if got := err.Error(); got != c.text {
				t.Errorf("Error() = %q, want %q", got, c.text)
			}
			if got := canary.Code(err); got != c.code {
				t.Errorf("canary.Code = %v, want %v", got, c.code)
			}
			wrapped := fmt.Errorf("outer: %w", err)
			if got := canary.Code(wrapped); got != c.code {
				t.Errorf("canary.Code of the wrapped error = %v, want %v", got, c.code)
			}
			for _, s := range []error{metrics.ErrUnauthorized, metrics.ErrRateLimited} {
				if got, want := errors.Is(wrapped, s), s == c.sentinel; got != want {
					t.Errorf("errors.Is(err, %v) = %v, want %v", s, got, want)
				}
			}
			if errors.Is(wrapped, metrics.ErrNoData) {
				t.Error("an HTTP error reads as no data")
			}
			var n *nativeError
			if got, want := errors.As(wrapped, &n), c.err.Err != nil; got != want || (got && n != native) {
				t.Errorf("errors.As(err, *nativeError) = %v (%v), want %v", got, n, want)
			}
			var h *metrics.HTTPError
			if !errors.As(wrapped, &h) || h != c.err {
				t.Error("errors.As does not reach the *HTTPError")
			}
		})
	}
}

var _ metrics.RetryDelayer = (*metrics.HTTPError)(nil)

// A Source waits as long as the server asked: RetryDelay is RetryAfter.
func TestHTTPErrorRetryDelay(t *testing.T) {
	e := &metrics.HTTPError{StatusCode: 429, RetryAfter: 7 * time.Second}
	var rd metrics.RetryDelayer
	if !errors.As(fmt.Errorf("wrapped: %w", e), &rd) || rd.RetryDelay() != 7*time.Second {
		t.Errorf("RetryDelayer of a 429 = %v, want 7s", rd)
	}
}

func TestHTTPErrorRedact(t *testing.T) {
	const api, app = "dd-api-0123456789abcdef", "dd-app-fedcba9876543210"
	native := &nativeError{"Forbidden: key " + api}
	clean := &nativeError{"no key here"}
	for _, c := range []struct {
		name       string
		err        *metrics.HTTPError
		keepNative bool // the native error had no secret and stays reachable
	}{
		{"messages and native", &metrics.HTTPError{Vendor: "datadog", Op: "scalar query", StatusCode: 403,
			Messages: []string{"API key " + api + " with application key " + app, "again " + app}, Err: native}, false},
		{"every text field", &metrics.HTTPError{Vendor: "x" + api, Op: "op " + app, StatusCode: 401, Hint: "hint " + api}, false},
		{"clean native stays", &metrics.HTTPError{Vendor: "newrelic", StatusCode: 503, Messages: []string{"down " + api}, Err: clean}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := c.err.Redact(api, "", app)
			if e != c.err {
				t.Error("Redact did not return its receiver")
			}
			texts := []string{e.Error(), strings.Join(e.Messages, " "), e.Vendor, e.Op, e.Hint}
			for _, inner := range e.Unwrap() {
				texts = append(texts, inner.Error())
			}
			all := strings.Join(texts, "\n")
			if !strings.Contains(all, "[REDACTED]") {
				t.Errorf("no [REDACTED] in %q", all)
			}
			for _, key := range []string{api, app} {
				if strings.Contains(all, key) {
					t.Errorf("a secret survived Redact: %q", all)
				}
			}
			var n *nativeError
			if got := errors.As(e, &n); got != c.keepNative {
				t.Errorf("errors.As(err, *nativeError) = %v, want %v", got, c.keepNative)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for _, c := range []struct {
		text    string
		secrets []string
		want    string
	}{
		{"key abc and abc", []string{"abc"}, "key [REDACTED] and [REDACTED]"},
		{"nothing here", []string{"abc"}, "nothing here"},
		{"empty secret", []string{""}, "empty secret"},
		{"two keys k1 k2", []string{"k1", "k2"}, "two keys [REDACTED] [REDACTED]"},
		{"no secrets", nil, "no secrets"},
	} {
		if got := metrics.Redact(c.text, c.secrets...); got != c.want {
			t.Errorf("Redact(%q, %q) = %q, want %q", c.text, c.secrets, got, c.want)
		}
	}
	if metrics.RedactError(nil, "k") != nil {
		t.Error("RedactError(nil) is not nil")
	}
	plain := fmt.Errorf("wrapped: %w", context.Canceled)
	if got := metrics.RedactError(plain, "k9"); got != plain {
		t.Errorf("RedactError changed an error without the secret: %v", got)
	}
	leaky := fmt.Errorf("dial with key s3cret: %w", context.Canceled)
	got := metrics.RedactError(leaky, "s3cret")
	if got.Error() != "dial with key [REDACTED]: context canceled" {
		t.Errorf("RedactError text = %q", got)
	}
	if errors.Is(got, context.Canceled) {
		t.Error("a redacted error still wraps what it wrapped (which may show the secret)")
	}
}
