package prometheus_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/prometheus"
)

// canary.Code classifies every error the provider returns, and the
// client's *v1.Error stays reachable.
func TestErrorCodes(t *testing.T) {
	status := func(code int, body string) func(*http.Request) (int, string) {
		return func(*http.Request) (int, string) { return code, body }
	}
	apiErr := func(code int, typ, msg string) func(*http.Request) (int, string) {
		return status(code, `{"status":"error","errorType":"`+typ+`","error":"`+msg+`"}`)
	}
	for _, c := range []struct {
		name     string
		answer   func(*http.Request) (int, string)
		code     canary.ErrorCode
		sentinel error
		native   bool // a *v1.Error in the chain
	}{
		{"401", status(http.StatusUnauthorized, "no"), canary.Unauthorized, metrics.ErrUnauthorized, true},
		{"403", status(http.StatusForbidden, "no"), canary.Unauthorized, metrics.ErrUnauthorized, true},
		{"429", status(http.StatusTooManyRequests, "slow down"), canary.RateLimited, metrics.ErrRateLimited, true},
		{"404", status(http.StatusNotFound, "no such path"), canary.NotFound, nil, true},
		{"503", status(http.StatusServiceUnavailable, "down"), canary.Unavailable, nil, true},
		{"502", status(http.StatusBadGateway, "proxy"), canary.Unavailable, nil, true},
		{"504", status(http.StatusGatewayTimeout, "slow"), canary.DeadlineExceeded, nil, true},
		{"bad query", apiErr(http.StatusBadRequest, "bad_data", "parse error"), canary.InvalidArgument, nil, true},
		{"error type timeout", apiErr(http.StatusUnprocessableEntity, "timeout", "query timed out"), canary.DeadlineExceeded, nil, true},
		{"execution error", apiErr(http.StatusUnprocessableEntity, "execution", "many-to-many matching"), canary.Unknown, nil, true},
		{"no data", fixed("vector", `[]`), canary.NotFound, metrics.ErrNoData, false},
		{"several series", fixed("vector", `[{"metric":{"a":"1"},"value":[`+ts()+`,"1"]},{"metric":{"a":"2"},"value":[`+ts()+`,"2"]}]`),
			canary.InvalidArgument, metrics.ErrSeveralSeries, false},
		{"range vector", fixed("matrix", `[{"metric":{"job":"mesh"},"values":[[`+ts()+`,"1"]]}]`), canary.InvalidArgument, prometheus.ErrRangeVector, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, s := newAPI(t, c.answer)
			_, err := newProvider(t, prometheus.Config{Address: s.URL}).Query(context.Background(), q("x"))
			if got := canary.Code(err); got != c.code {
				t.Errorf("canary.Code(%v) = %v, want %v", err, got, c.code)
			}
			if c.sentinel != nil && !errors.Is(err, c.sentinel) {
				t.Errorf("%v does not match %v", err, c.sentinel)
			}
			var ve *v1.Error
			if c.native && !errors.As(err, &ve) {
				t.Errorf("%v: the *v1.Error is not reachable", err)
			}
		})
	}
	if !errors.Is(prometheus.ErrSeveralSeries, metrics.ErrSeveralSeries) {
		t.Error("prometheus.ErrSeveralSeries is not metrics.ErrSeveralSeries")
	}
}
