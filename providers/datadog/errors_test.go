package datadog_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/datadog"
)

// canary.Code classifies every error the provider returns, with the
// shared metrics sentinels, and the *datadog.Error stays reachable.
func TestErrorCodes(t *testing.T) {
	s := newServer(t)
	s.handle("401", errorAnswer(http.StatusUnauthorized, "Unauthorized"))
	s.handle("403", errorAnswer(http.StatusForbidden, "Forbidden"))
	s.handle("404", errorAnswer(http.StatusNotFound, "no such metric"))
	s.handle("400", errorAnswer(http.StatusBadRequest, "Error parsing query"))
	s.handle("503", errorAnswer(http.StatusServiceUnavailable, "down"))
	s.handle("429", rateLimited(100, "0", 1))
	s.handle("empty", emptyAnswer)
	s.handle("groups", func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ string, _ request, _ int) {
		writeJSON(w, http.StatusOK, scalarBody([]string{"a", "b"}, f(1), f(2)))
	})
	p := newProvider(t, s, func(c *datadog.Config) { c.MaxRetries = 1 })
	for _, c := range []struct {
		query    string
		code     canary.ErrorCode
		sentinel error
		native   bool
	}{
		{"401", canary.Unauthorized, metrics.ErrUnauthorized, true},
		{"403", canary.Unauthorized, metrics.ErrUnauthorized, true},
		{"429", canary.RateLimited, metrics.ErrRateLimited, true},
		{"404", canary.NotFound, nil, true},
		{"400", canary.InvalidArgument, nil, true},
		{"503", canary.Unavailable, nil, true},
		{"empty", canary.NotFound, metrics.ErrNoData, false},
		{"groups", canary.InvalidArgument, metrics.ErrSeveralSeries, false},
	} {
		_, err := p.Query(context.Background(), q(c.query))
		if got := canary.Code(err); got != c.code {
			t.Errorf("%s: canary.Code(%v) = %v, want %v", c.query, err, got, c.code)
		}
		if c.sentinel != nil && !errors.Is(err, c.sentinel) {
			t.Errorf("%s: %v does not match %v", c.query, err, c.sentinel)
		}
		var e *datadog.Error
		if c.native && !errors.As(err, &e) {
			t.Errorf("%s: %v: no *datadog.Error in the chain", c.query, err)
		}
	}
	if datadog.ErrUnauthorized != metrics.ErrUnauthorized || datadog.ErrMultipleSeries != metrics.ErrSeveralSeries {
		t.Error("the Datadog sentinels are not the shared metrics ones")
	}
}
