package traffic

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/meshcanary/canary"
)

// MatchKind says how a [Match] compares a request's value. The zero value
// is [Exact].
type MatchKind string

const (
	// Exact matches a value equal to Match.Value.
	Exact MatchKind = "exact"
	// Prefix matches a value that starts with Match.Value.
	Prefix MatchKind = "prefix"
	// Regex matches a value that Match.Value, an RE2 regular expression
	// (the syntax of Go's regexp, Envoy's safe_regex and Istio), matches
	// in full.
	Regex MatchKind = "regex"
)

// Match selects requests by one header or one cookie: exactly one of
// Header and Cookie is set. A cookie match is carried by routers as a
// regular expression on the Cookie header, so it is always an exact
// match of the cookie's value.
type Match struct {
	// Header is the name of an HTTP header (a token, RFC 9110 §5.6.2).
	Header string `json:"header,omitempty"`
	// Cookie is the name of a cookie (a token, RFC 6265 §4.1.1).
	Cookie string `json:"cookie,omitempty"`
	// Kind is how Value is compared; the zero value is [Exact]. A cookie
	// takes only Exact.
	Kind MatchKind `json:"kind,omitempty"`
	// Value is the value to compare with: 1 to 256 characters of valid
	// UTF-8 without control characters.
	Value string `json:"value"`
}

// MaxMatches is how many matches a [Cohort] holds at most.
const MaxMatches = 4

// Cohort is the set of requests an A/B test sends to the canary whatever
// the weights say: those that satisfy any of its matches. It is a
// comparable value (so [Split] stays one), built with [NewCohort]; the
// zero Cohort matches nothing. In JSON it is the list of its matches.
type Cohort struct {
	m [MaxMatches]Match
}

// NewCohort returns the cohort of requests that satisfy any of ms, in
// order. More than [MaxMatches] matches, or a zero Match, is an error
// naming the field; each match is otherwise checked by [Split.Validate].
func NewCohort(ms ...Match) (Cohort, error) {
	var c Cohort
	if len(ms) > MaxMatches {
		return c, canary.Invalid("Split.Cohort", len(ms), "at most %d matches", MaxMatches)
	}
	for i, m := range ms {
		if m == (Match{}) {
			return c, canary.Invalid(fmt.Sprintf("Split.Cohort[%d]", i), nil, "must set a header or a cookie and a value")
		}
		c.m[i] = m
	}
	return c, nil
}

// Matches returns the cohort's matches in order (nil for the zero Cohort).
func (c Cohort) Matches() []Match {
	var out []Match
	for _, m := range c.m {
		if m != (Match{}) {
			out = append(out, m)
		}
	}
	return out
}

// IsZero reports whether c matches nothing.
func (c Cohort) IsZero() bool { return c == Cohort{} }

// MarshalJSON writes the cohort as the list of its matches.
func (c Cohort) MarshalJSON() ([]byte, error) {
	ms := c.Matches()
	if ms == nil {
		ms = []Match{}
	}
	return json.Marshal(ms)
}

// UnmarshalJSON reads a list of matches, as [NewCohort] takes them.
func (c *Cohort) UnmarshalJSON(b []byte) error {
	var ms []Match
	if err := json.Unmarshal(b, &ms); err != nil {
		return err
	}
	n, err := NewCohort(ms...)
	if err != nil {
		return err
	}
	*c = n
	return nil
}

// String describes the cohort in one line: header x-user~=^beta (regex) | cookie canary=always.
func (c Cohort) String() string {
	var parts []string
	for _, m := range c.Matches() {
		parts = append(parts, m.String())
	}
	return strings.Join(parts, " | ")
}

func (m Match) String() string {
	if m.Cookie != "" {
		return fmt.Sprintf("cookie %s=%s", m.Cookie, m.Value)
	}
	switch m.Kind {
	case Prefix:
		return fmt.Sprintf("header %s^=%s", m.Header, m.Value)
	case Regex:
		return fmt.Sprintf("header %s~=%s", m.Header, m.Value)
	}
	return fmt.Sprintf("header %s=%s", m.Header, m.Value)
}

// EffectiveKind returns m.Kind, or [Exact] when it is empty.
func (m Match) EffectiveKind() MatchKind {
	if m.Kind == "" {
		return Exact
	}
	return m.Kind
}

// CookieRegex returns the RE2 expression a router puts on the Cookie
// header to carry a cookie match (or an affinity cookie): it matches a
// Cookie header that holds the pair name=value among others, the form
// Flagger writes for Istio.
func CookieRegex(name, value string) string {
	return "^(.*?;\\s*)?(" + regexp.QuoteMeta(name) + "=" + regexp.QuoteMeta(value) + ")(;.*)?$"
}

// CookieFromRegex is the inverse of [CookieRegex]: it recovers the cookie
// name and value of a regular expression CookieRegex wrote, and reports
// whether re is one. A router reading its own objects back uses it to
// tell a cookie match from a header regex on the Cookie header.
func CookieFromRegex(re string) (name, value string, ok bool) {
	sample := CookieRegex("n", "v")
	at := strings.Index(sample, "n=v")
	pre, suf := sample[:at], sample[at+len("n=v"):]
	if !strings.HasPrefix(re, pre) || !strings.HasSuffix(re, suf) || len(re) < len(pre)+len(suf) {
		return "", "", false
	}
	inner := re[len(pre) : len(re)-len(suf)]
	var b strings.Builder
	for k := 0; k < len(inner); k++ {
		if inner[k] == '\\' && k+1 < len(inner) {
			k++
		}
		b.WriteByte(inner[k])
	}
	name, value, found := strings.Cut(b.String(), "=")
	if !found || CookieRegex(name, value) != re {
		return "", "", false
	}
	return name, value, true
}

// Cookie values are cookie-octets (RFC 6265 §4.1.1): visible ASCII but
// for '"', ',', ';' and '\'.
var cookieValue = regexp.MustCompile(`^[!#-+\--:<-\[\]-~]+$`)

func (m Match) validate(field string) error {
	switch {
	case m.Header != "" && m.Cookie != "":
		return canary.Invalid(field+".Cookie", m.Cookie, "set a header or a cookie, not both")
	case m.Header == "" && m.Cookie == "":
		return canary.Invalid(field+".Header", "", "set a header or a cookie")
	case m.Header != "" && !headerName.MatchString(m.Header):
		return canary.Invalid(field+".Header", m.Header, "must be an HTTP header name (a token)")
	case m.Cookie != "" && !headerName.MatchString(m.Cookie):
		return canary.Invalid(field+".Cookie", m.Cookie, "must be a cookie name (a token)")
	}
	switch m.EffectiveKind() {
	case Exact, Prefix, Regex:
	default:
		return canary.Invalid(field+".Kind", string(m.Kind), `must be "exact", "prefix" or "regex"`)
	}
	if m.Cookie != "" && m.EffectiveKind() != Exact {
		return canary.Invalid(field+".Kind", string(m.Kind), "a cookie match is exact")
	}
	if err := checkValue(field+".Value", m.Value); err != nil {
		return err
	}
	if m.Cookie != "" && !cookieValue.MatchString(m.Value) {
		return canary.Invalid(field+".Value", m.Value, "must be a cookie value (visible ASCII without '\"', ',', ';' or '\\')")
	}
	if m.EffectiveKind() == Regex {
		if _, err := regexp.Compile(m.Value); err != nil {
			return canary.Invalid(field+".Value", m.Value, "must be an RE2 regular expression: %v", err)
		}
	}
	return nil
}

// checkValue is the rule every matched value follows.
func checkValue(field, v string) error {
	if v == "" || len(v) > 256 {
		return canary.Invalid(field, v, "must be 1 to 256 characters")
	}
	if !utf8.ValidString(v) {
		// Not valid UTF-8: it would not survive JSON (a snapshot, an
		// event, a Kubernetes object) unchanged.
		return canary.Invalid(field, fmt.Sprintf("%q", v), "must be valid UTF-8")
	}
	for _, c := range v {
		if c < 0x20 || c == 0x7f {
			return canary.Invalid(field, v, "must not contain control characters")
		}
	}
	return nil
}

func (c Cohort) validate() error {
	seenZero := false
	for i, m := range c.m {
		if m == (Match{}) {
			seenZero = true
			continue
		}
		if seenZero {
			// Only NewCohort and UnmarshalJSON build a Cohort, and they
			// fill it in order; say so rather than drop a match.
			return canary.Invalid(fmt.Sprintf("Split.Cohort[%d]", i), nil, "matches must be contiguous")
		}
		if err := m.validate(fmt.Sprintf("Split.Cohort[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

// Affinity keeps a user on the canary for the rest of the rollout once a
// request of theirs has been sent to it: the router adds a Set-Cookie
// header (Cookie=Value, Max-Age MaxAge seconds) to the canary's
// responses, and sends every request that carries the cookie to the
// canary whatever the weights say. The weights apply to new sessions
// only. This is Flagger's session affinity (spec.analysis.sessionAffinity:
// cookieName, maxAge). The zero Affinity means none.
type Affinity struct {
	// Cookie is the cookie's name (a token).
	Cookie string `json:"cookie"`
	// Value is the cookie's value: a cookie-octet string, normally chosen
	// once per rollout so that a later rollout's canary does not inherit
	// this one's sessions.
	Value string `json:"value"`
	// MaxAge is the cookie's lifetime in seconds, 1 to 604800 (a week).
	MaxAge int `json:"maxAge"`
}

// MaxAffinityAge is the longest [Affinity.MaxAge], in seconds: a week.
const MaxAffinityAge = 7 * 24 * 3600

// IsZero reports whether a means no session affinity.
func (a Affinity) IsZero() bool { return a == Affinity{} }

// SetCookie returns the Set-Cookie header value a router adds to the
// canary's responses.
func (a Affinity) SetCookie() string {
	return fmt.Sprintf("%s=%s; Max-Age=%d; Path=/", a.Cookie, a.Value, a.MaxAge)
}

func (a Affinity) validate() error {
	switch {
	case !headerName.MatchString(a.Cookie):
		return canary.Invalid("Split.Affinity.Cookie", a.Cookie, "must be a cookie name (a token)")
	case a.Value == "" || len(a.Value) > 256 || !cookieValue.MatchString(a.Value):
		return canary.Invalid("Split.Affinity.Value", a.Value, "must be 1 to 256 cookie-octets (visible ASCII without '\"', ',', ';' or '\\')")
	case a.MaxAge < 1 || a.MaxAge > MaxAffinityAge:
		return canary.Invalid("Split.Affinity.MaxAge", a.MaxAge, "must be 1 to %d seconds", MaxAffinityAge)
	}
	return nil
}
