package ratelimit

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Wait returns how long to wait before retry number attempt (from 0) after
// an answer with headers h, received at now. It reads the headers in order
// and takes the first that parses: each as whole seconds, and Retry-After
// also as an HTTP date (a past date waits 0). With none it backs off
// exponentially from one second, doubling up to 64 s.
func Wait(h http.Header, attempt int, now time.Time, headers ...string) time.Duration {
	for _, name := range headers {
		v := strings.TrimSpace(h.Get(name))
		if v == "" {
			continue
		}
		if s, err := strconv.ParseInt(v, 10, 32); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
		if http.CanonicalHeaderKey(name) == "Retry-After" {
			if t, err := http.ParseTime(v); err == nil {
				return max(t.Sub(now), 0)
			}
		}
	}
	return time.Second << min(max(attempt, 0), 6)
}
