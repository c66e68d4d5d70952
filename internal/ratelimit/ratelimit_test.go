package ratelimit

import (
	"net/http"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	datadog := []string{"X-RateLimit-Reset", "Retry-After"}
	newrelic := []string{"Retry-After", "X-RateLimit-Reset"}
	for _, tc := range []struct {
		name    string
		order   []string
		headers map[string]string
		attempt int
		want    time.Duration
	}{
		{"reset wins for Datadog", datadog, map[string]string{"X-RateLimit-Reset": "7", "Retry-After": "30"}, 0, 7 * time.Second},
		{"retry-after wins for New Relic", newrelic, map[string]string{"X-RateLimit-Reset": "7", "Retry-After": "30"}, 0, 30 * time.Second},
		{"reset zero", datadog, map[string]string{"X-RateLimit-Reset": "0"}, 3, 0},
		{"retry-after seconds", datadog, map[string]string{"Retry-After": "12"}, 0, 12 * time.Second},
		{"retry-after date", newrelic, map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 0, 90 * time.Second},
		{"retry-after past date", datadog, map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0, 0},
		{"a date is not read from X-RateLimit-Reset", datadog, map[string]string{"X-RateLimit-Reset": now.Add(time.Minute).Format(http.TimeFormat)}, 1, 2 * time.Second},
		{"garbage falls back", datadog, map[string]string{"X-RateLimit-Reset": "soon", "Retry-After": "later"}, 2, 4 * time.Second},
		{"negative falls back", newrelic, map[string]string{"X-RateLimit-Reset": "-5"}, 0, time.Second},
		{"no headers, capped backoff", datadog, nil, 40, 64 * time.Second},
		{"negative attempt", datadog, nil, -3, time.Second},
	} {
		h := http.Header{}
		for k, v := range tc.headers {
			h.Set(k, v)
		}
		if got := Wait(h, tc.attempt, now, tc.order...); got != tc.want {
			t.Errorf("%s: Wait = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		retries  int
		wait     time.Duration
		wantR    int
		wantWait time.Duration
		bad      bool
	}{
		{0, 0, DefaultMaxRetries, DefaultMaxWait, false},
		{-1, time.Second, 0, time.Second, false},
		{5, time.Minute, 5, time.Minute, false},
		{1, -time.Second, 0, 0, true},
	} {
		r, w, err := Budget(tc.retries, tc.wait)
		if (err != nil) != tc.bad || r != tc.wantR || w != tc.wantWait {
			t.Errorf("Budget(%d, %v) = %d, %v, %v", tc.retries, tc.wait, r, w, err)
		}
	}
}

// Asked says whether the server asked for a wait, so that a caller that
// backs off by itself can tell "no advice" from "wait 0".
func TestAsked(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	h := http.Header{}
	if d, ok := Asked(h, now, "Retry-After"); ok || d != 0 {
		t.Errorf("no header: (%v, %v), want (0, false)", d, ok)
	}
	h.Set("Retry-After", "soon")
	if _, ok := Asked(h, now, "Retry-After"); ok {
		t.Error("an unparsable header counted as advice")
	}
	h.Set("X-RateLimit-Reset", "0")
	if d, ok := Asked(h, now, "X-RateLimit-Reset", "Retry-After"); !ok || d != 0 {
		t.Errorf("reset 0: (%v, %v), want (0, true)", d, ok)
	}
	h.Set("Retry-After", now.Add(9*time.Second).Format(http.TimeFormat))
	if d, ok := Asked(h, now, "Retry-After"); !ok || d != 9*time.Second {
		t.Errorf("date: (%v, %v), want (9s, true)", d, ok)
	}
}
