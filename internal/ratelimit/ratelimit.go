package ratelimit

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/meshcanary/canary"
)

// Wait returns how long to wait before retry number attempt (from 0) after
// an answer with headers h, received at now: what the headers ask for
// ([Asked]), and with none it backs off exponentially from one second,
// doubling up to 64 s.
func Wait(h http.Header, attempt int, now time.Time, headers ...string) time.Duration {
	if d, ok := Asked(h, now, headers...); ok {
		return d
	}
	return time.Second << min(max(attempt, 0), 6)
}

// Asked returns the wait the headers h of an answer received at now ask
// for, and whether one did. It reads the headers in order and takes the
// first that parses: each as whole seconds, and Retry-After also as an
// HTTP date (a past date waits 0).
func Asked(h http.Header, now time.Time, headers ...string) (time.Duration, bool) {
	for _, name := range headers {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			continue
		}
		if s, err := strconv.ParseInt(v, 10, 32); err == nil && s >= 0 {
			return time.Duration(s) * time.Second, true
		}
		if http.CanonicalHeaderKey(name) == "Retry-After" {
			if t, err := http.ParseTime(v); err == nil {
				return max(t.Sub(now), 0), true
			}
		}
	}
	return 0, false
}

// Defaults of a provider's rate-limit budget.
const (
	DefaultMaxRetries = 3
	DefaultMaxWait    = 30 * time.Second
)

// Budget fills in a provider's rate-limit budget from its Config fields:
// maxRetries 0 is DefaultMaxRetries and a negative value never retries;
// maxWait 0 is DefaultMaxWait and a negative value is refused with a
// *[canary.FieldError] naming Config.MaxWait.
func Budget(maxRetries int, maxWait time.Duration) (int, time.Duration, error) {
	switch {
	case maxRetries == 0:
		maxRetries = DefaultMaxRetries
	case maxRetries < 0:
		maxRetries = 0
	}
	switch {
	case maxWait == 0:
		maxWait = DefaultMaxWait
	case maxWait < 0:
		return 0, 0, canary.Invalid("Config.MaxWait", maxWait, "must not be negative")
	}
	return maxRetries, maxWait, nil
}
