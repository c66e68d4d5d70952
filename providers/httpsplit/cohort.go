package httpsplit

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/meshcanary/canary/traffic"
)

// matcher is one compiled [traffic.Match]: it reports whether a request
// satisfies it.
type matcher func(*http.Request) bool

// compileCohort turns the cohort's matches into matchers. The split has
// been validated, so a regular expression compiles; an error is returned
// all the same rather than a match dropped.
func compileCohort(c traffic.Cohort) ([]matcher, error) {
	var out []matcher
	for _, m := range c.Matches() {
		if m.Cookie != "" {
			out = append(out, func(r *http.Request) bool { return hasCookie(r, m.Cookie, m.Value) })
			continue
		}
		switch m.EffectiveKind() {
		case traffic.Prefix:
			out = append(out, func(r *http.Request) bool {
				return anyValue(r.Header, m.Header, func(v string) bool { return strings.HasPrefix(v, m.Value) })
			})
		case traffic.Regex:
			// Matched in full, as Envoy's safe_regex and Istio's regex
			// match a header's value.
			re, err := regexp.Compile(`^(?:` + m.Value + `)$`)
			if err != nil {
				return nil, err
			}
			out = append(out, func(r *http.Request) bool {
				return anyValue(r.Header, m.Header, re.MatchString)
			})
		default:
			out = append(out, func(r *http.Request) bool {
				return anyValue(r.Header, m.Header, func(v string) bool { return v == m.Value })
			})
		}
	}
	return out, nil
}

// anyValue reports whether any value of header name satisfies ok. A header
// sent twice is matched value by value.
func anyValue(h http.Header, name string, ok func(string) bool) bool {
	for _, v := range h.Values(name) {
		if ok(v) {
			return true
		}
	}
	return false
}

// hasCookie reports whether r carries the cookie name=value (among others,
// in any of its Cookie headers).
func hasCookie(r *http.Request, name, value string) bool {
	for _, c := range r.CookiesNamed(name) {
		if c.Value == value {
			return true
		}
	}
	return false
}

// setCookieKey is the context key under which ServeHTTP asks the canary's
// reverse proxy to add an affinity Set-Cookie header to the response.
type setCookieKey struct{}
