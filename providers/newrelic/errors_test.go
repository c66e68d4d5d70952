package newrelic_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/newrelic"
)

// canary.Code classifies every error the provider returns, with the
// shared metrics sentinels, and the *newrelic.Error stays reachable.
func TestErrorCodes(t *testing.T) {
	s := newServer(t)
	s.handle("unauthorized", statusAnswer(http.StatusUnauthorized, gqlErrors("Invalid API key")))
	s.handle("rate limited", rateLimited(100, "0"))
	s.handle("unavailable", statusAnswer(http.StatusServiceUnavailable, gqlErrors("down")))
	s.handle("empty", rowsAnswer())
	s.handle("two rows", rowsAnswer(map[string]any{"facet": "a", "count": 1.0}, map[string]any{"facet": "b", "count": 2.0}))
	p := newProvider(t, s, func(c *newrelic.Config) { c.MaxRetries = 1 })
	for _, c := range []struct {
		nrql     string
		code     canary.ErrorCode
		sentinel error
		native   bool
	}{
		{"unauthorized", canary.Unauthorized, metrics.ErrUnauthorized, true},
		{"rate limited", canary.RateLimited, metrics.ErrRateLimited, true},
		{"unavailable", canary.Unavailable, nil, true},
		{"empty", canary.NotFound, metrics.ErrNoData, false},
		{"two rows", canary.InvalidArgument, metrics.ErrSeveralSeries, false},
	} {
		_, err := p.Query(context.Background(), q(c.nrql))
		if got := canary.Code(err); got != c.code {
			t.Errorf("%s: canary.Code(%v) = %v, want %v", c.nrql, err, got, c.code)
		}
		if c.sentinel != nil && !errors.Is(err, c.sentinel) {
			t.Errorf("%s: %v does not match %v", c.nrql, err, c.sentinel)
		}
		var e *newrelic.Error
		if c.native && !errors.As(err, &e) {
			t.Errorf("%s: %v: no *newrelic.Error in the chain", c.nrql, err)
		}
	}
	if newrelic.ErrUnauthorized != metrics.ErrUnauthorized || newrelic.ErrMultipleRows != metrics.ErrSeveralSeries {
		t.Error("the New Relic sentinels are not the shared metrics ones")
	}
}
