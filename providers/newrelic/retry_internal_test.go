package newrelic

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryWait(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		attempt int
		want    time.Duration
	}{
		{"retry-after wins", map[string]string{"X-RateLimit-Reset": "7", "Retry-After": "30"}, 0, 30 * time.Second},
		{"reset alone", map[string]string{"X-RateLimit-Reset": "7"}, 0, 7 * time.Second},
		{"reset zero", map[string]string{"X-RateLimit-Reset": "0"}, 3, 0},
		{"retry-after seconds", map[string]string{"Retry-After": "12"}, 0, 12 * time.Second},
		{"retry-after date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 0, 90 * time.Second},
		{"retry-after past date", map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0, 0},
		{"garbage falls back", map[string]string{"X-RateLimit-Reset": "soon", "Retry-After": "later"}, 2, 4 * time.Second},
		{"negative falls back", map[string]string{"X-RateLimit-Reset": "-5"}, 0, time.Second},
		{"no headers, capped backoff", nil, 40, 64 * time.Second},
	} {
		h := http.Header{}
		for k, v := range tc.headers {
			h.Set(k, v)
		}
		if got := retryWait(h, tc.attempt, now); got != tc.want {
			t.Errorf("%s: retryWait = %v, want %v", tc.name, got, tc.want)
		}
	}
}
