package newrelic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/meshcanary/canary/internal/ratelimit"
	"github.com/meshcanary/canary/metrics"

	nrerrors "github.com/newrelic/newrelic-client-go/v2/pkg/errors"
)

// Error is an error answer from NerdGraph: a [metrics.HTTPError] with
// Vendor "newrelic" and Op "NerdGraph". It wraps ErrUnauthorized or
// ErrRateLimited where they apply (also for NerdGraph's BAD_API_KEY and
// TOO_MANY_REQUESTS in a 200 answer) and, when the client produced one, the
// client's native error (for example *errors.UnexpectedStatusCode from
// newrelic-client-go/v2/pkg/errors), so errors.Is and errors.As reach them.
// Its StatusCode is 200 for GraphQL errors in a 200 answer and 0 when
// unknown. Any key the server echoed is redacted from the text; a native
// error whose text held the key is replaced by a redacted copy.
type Error = metrics.HTTPError

// hint is the Error's advice when NerdGraph refused the key.
const hint = "check Config.APIKey is a valid user key for the account and Config.Region"

// apiError returns an Error with the key redacted.
func (p *driver) apiError(status int, messages []string, kind error, native error) *Error {
	return (&Error{Vendor: "newrelic", Op: "NerdGraph", StatusCode: status, Messages: messages, Hint: hint, Kind: kind, Err: native}).Redact(p.key)
}

// rateLimited returns an Error for a rate limit the adapter gave up waiting
// for.
func (p *driver) rateLimited(status int, messages []string, wait time.Duration) *Error {
	e := p.apiError(status, messages, ErrRateLimited, nil)
	e.RetryAfter = wait
	return e
}

func (p *driver) redact(s string) string { return metrics.Redact(s, p.key) }

// clientError wraps an error returned by the client.
func (p *driver) clientError(err error) error {
	status := 0
	var kind error
	var unauthorized *nrerrors.UnauthorizedError
	var unexpected *nrerrors.UnexpectedStatusCode
	switch {
	case errors.As(err, &unauthorized):
		status, kind = http.StatusUnauthorized, ErrUnauthorized
	case errors.As(err, &unexpected):
		// The client keeps the status unexported; its text starts with it.
		var code int
		if _, serr := fmt.Sscanf(unexpected.Error(), "%d response returned", &code); serr == nil {
			status = code
		}
	}
	return p.apiError(status, []string{err.Error()}, kind, err)
}

// graphQLErrors is the error part of a GraphQL answer.
type graphQLErrors struct {
	Errors []struct {
		Message    string `json:"message"`
		Extensions struct {
			ErrorClass string `json:"errorClass"`
			ErrorCode  string `json:"error_code"`
			Code       string `json:"code"`
		} `json:"extensions"`
	} `json:"errors"`
}

// transport binds one query's requests to its context (the client drops
// it) and handles the answers the client would retry with context-blind
// sleeps. Once it fails, every later round trip fails at once without a
// request, and done is closed so that the query returns.
type transport struct {
	ctx   context.Context
	p     *driver
	retry bool // wait for a rate limit here, within the budget
	mu    sync.Mutex
	err   error
	done  chan struct{}
}

func (t *transport) failure() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

func (t *transport) fail(err error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		t.err = err
		close(t.done)
	}
	return t.err
}

const maxBody = 32 << 20

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.failure(); err != nil {
		return nil, err
	}
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, t.fail(fmt.Errorf("newrelic: reading the request: %w", err))
		}
	}
	p := t.p
	for attempt := 0; ; attempt++ {
		out := req.Clone(t.ctx)
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		resp, err := p.base.RoundTrip(out)
		if err != nil {
			if cerr := t.ctx.Err(); cerr != nil {
				return nil, t.fail(fmt.Errorf("newrelic: query: %w", cerr))
			}
			return nil, t.fail(fmt.Errorf("newrelic: query: %w", metrics.RedactError(err, p.key)))
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if err != nil {
			if cerr := t.ctx.Err(); cerr != nil {
				return nil, t.fail(fmt.Errorf("newrelic: query: %w", cerr))
			}
			return nil, t.fail(fmt.Errorf("newrelic: reading the answer: %w", metrics.RedactError(err, p.key)))
		}
		var ge graphQLErrors
		_ = json.Unmarshal(data, &ge)
		var messages []string
		limited, unavailable, unauthorized := resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500, resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden
		for _, e := range ge.Errors {
			if e.Message != "" {
				messages = append(messages, p.redact(e.Message))
			}
			switch e.Extensions.ErrorClass {
			case "TOO_MANY_REQUESTS":
				limited = true
			case "TIMEOUT", "INTERNAL_SERVER_ERROR", "SERVER_ERROR":
				unavailable = true
			}
			if e.Extensions.ErrorCode == "BAD_API_KEY" {
				unauthorized = true
			}
		}
		if len(messages) == 0 && resp.StatusCode >= 300 && len(data) > 0 {
			messages = []string{p.redact(strings.TrimSpace(string(data[:min(len(data), 512)])))}
		}
		switch {
		case unauthorized:
			return nil, t.fail(p.apiError(resp.StatusCode, messages, ErrUnauthorized, nil))
		case limited:
			if !t.retry {
				// The Source retries: hand it only a wait the server asked
				// for, so that without one it backs off by itself.
				asked, _ := ratelimit.Asked(resp.Header, time.Now(), "Retry-After", "X-RateLimit-Reset")
				return nil, t.fail(p.rateLimited(resp.StatusCode, messages, asked))
			}
			wait := ratelimit.Wait(resp.Header, attempt, time.Now(), "Retry-After", "X-RateLimit-Reset")
			if attempt >= p.maxRetries || wait > p.maxWait {
				return nil, t.fail(p.rateLimited(resp.StatusCode, messages, wait))
			}
			if d, ok := t.ctx.Deadline(); ok && time.Now().Add(wait).After(d) {
				return nil, t.fail(p.rateLimited(resp.StatusCode, messages, wait))
			}
			p.log.LogAttrs(t.ctx, slog.LevelWarn, "newrelic: rate limited; waiting before retrying",
				slog.String("wait", wait.String()), slog.Int("attempt", attempt+1))
			tm := time.NewTimer(wait)
			select {
			case <-t.ctx.Done():
				tm.Stop()
				return nil, t.fail(fmt.Errorf("newrelic: waiting for the rate limit: %w", t.ctx.Err()))
			case <-tm.C:
			}
			continue
		case unavailable:
			return nil, t.fail(p.apiError(resp.StatusCode, messages, nil, nil))
		}
		resp.Body = io.NopCloser(bytes.NewReader(data))
		resp.ContentLength = int64(len(data))
		return resp, nil
	}
}

// logger passes the client's log lines to the provider's slog.Logger with
// the key redacted. Trace lines (which carry request and answer bodies) go
// at slog.LevelDebug-4.
type logger struct {
	p   *driver
	ctx context.Context
}

func (l *logger) emit(level slog.Level, msg string, kv []any) {
	if !l.p.log.Enabled(l.ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(kv)/2+1)
	for i := 0; i < len(kv); i += 2 {
		key := l.p.redact(fmt.Sprint(kv[i]))
		if i+1 >= len(kv) {
			attrs = append(attrs, slog.String("extra", key))
			break
		}
		attrs = append(attrs, slog.String(key, l.p.redact(fmt.Sprint(kv[i+1]))))
	}
	l.p.log.LogAttrs(l.ctx, level, "newrelic client: "+l.p.redact(msg), attrs...)
}

func (l *logger) Error(msg string, kv ...any) { l.emit(slog.LevelError, msg, kv) }
func (l *logger) Warn(msg string, kv ...any)  { l.emit(slog.LevelWarn, msg, kv) }
func (l *logger) Info(msg string, kv ...any)  { l.emit(slog.LevelInfo, msg, kv) }
func (l *logger) Debug(msg string, kv ...any) { l.emit(slog.LevelDebug, msg, kv) }
func (l *logger) Trace(msg string, kv ...any) { l.emit(slog.LevelDebug-4, msg, kv) }
func (l *logger) SetLevel(string)             {}
