package traffic_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
)

func mustCohort(t *testing.T, ms ...traffic.Match) traffic.Cohort {
	t.Helper()
	c, err := traffic.NewCohort(ms...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCohortValidation(t *testing.T) {
	for _, tc := range []struct {
		m     traffic.Match
		field string // "" means valid
	}{
		{traffic.Match{Header: "x-canary", Value: "insider"}, ""},
		{traffic.Match{Header: "x-canary", Kind: traffic.Prefix, Value: "ins"}, ""},
		{traffic.Match{Header: "user-agent", Kind: traffic.Regex, Value: ".*Firefox.*"}, ""},
		{traffic.Match{Cookie: "canary", Value: "always"}, ""},
		{traffic.Match{Header: "x", Cookie: "c", Value: "v"}, "Split.Cohort[0].Cookie"},
		{traffic.Match{Value: "v"}, "Split.Cohort[0].Header"},
		{traffic.Match{Header: "bad header", Value: "v"}, "Split.Cohort[0].Header"},
		{traffic.Match{Cookie: "bad;cookie", Value: "v"}, "Split.Cohort[0].Cookie"},
		{traffic.Match{Header: "x", Kind: "glob", Value: "v"}, "Split.Cohort[0].Kind"},
		{traffic.Match{Cookie: "c", Kind: traffic.Regex, Value: "v"}, "Split.Cohort[0].Kind"},
		{traffic.Match{Header: "x", Kind: traffic.Regex, Value: "(unclosed"}, "Split.Cohort[0].Value"},
		{traffic.Match{Header: "x", Value: "line\nbreak"}, "Split.Cohort[0].Value"},
		{traffic.Match{Header: "x", Value: strings.Repeat("v", 257)}, "Split.Cohort[0].Value"},
		{traffic.Match{Cookie: "c", Value: "a;b"}, "Split.Cohort[0].Value"},
	} {
		s := traffic.AllStable()
		s.Cohort = mustCohort(t, tc.m)
		err := s.Validate()
		var fe *canary.FieldError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v", tc.m, err)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("%+v: got %v, want a FieldError on %s", tc.m, err, tc.field)
		}
	}
	if _, err := traffic.NewCohort(make([]traffic.Match, traffic.MaxMatches+1)...); err == nil {
		t.Error("NewCohort took more than MaxMatches matches")
	}
	if _, err := traffic.NewCohort(traffic.Match{}); err == nil {
		t.Error("NewCohort took a zero match")
	}
}

func TestAffinityValidation(t *testing.T) {
	ok := traffic.Affinity{Cookie: "canary-session", Value: "r1", MaxAge: 21600}
	s := traffic.Weighted(10)
	s.Affinity = ok
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := ok.SetCookie(); got != "canary-session=r1; Max-Age=21600; Path=/" {
		t.Errorf("SetCookie = %q", got)
	}
	for field, a := range map[string]traffic.Affinity{
		"Split.Affinity.Cookie": {Cookie: "a b", Value: "v", MaxAge: 1},
		"Split.Affinity.Value":  {Cookie: "c", Value: "a,b", MaxAge: 1},
		"Split.Affinity.MaxAge": {Cookie: "c", Value: "v", MaxAge: traffic.MaxAffinityAge + 1},
	} {
		s.Affinity = a
		var fe *canary.FieldError
		if err := s.Validate(); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%+v: got %v, want a FieldError on %s", a, err, field)
		}
	}
}

func TestSplitWithCohortRoundTripsThroughJSON(t *testing.T) {
	s := traffic.AllStable()
	s.Cohort = mustCohort(t, traffic.Match{Header: "x-canary", Kind: traffic.Regex, Value: ".*insider.*"}, traffic.Match{Cookie: "canary", Value: "always"})
	s.Affinity = traffic.Affinity{Cookie: "c", Value: "v", MaxAge: 60}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"stable":100,"canary":0,"cohort":[{"header":"x-canary","kind":"regex","value":".*insider.*"},{"cookie":"canary","value":"always"}],"affinity":{"cookie":"c","value":"v","maxAge":60}}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	var back traffic.Split
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != s {
		t.Errorf("round trip: got %v, want %v", back, s)
	}
	// A split without them keeps its old JSON (saved states stay readable
	// both ways).
	if b, _ := json.Marshal(traffic.Weighted(10)); string(b) != `{"stable":90,"canary":10}` {
		t.Errorf("plain split JSON = %s", b)
	}
	if err := json.Unmarshal([]byte(`{"stable":100,"canary":0,"cohort":[{},{}]}`), &back); err == nil {
		t.Error("a cohort of zero matches was read")
	}
}

func TestCookieRegexMatchesThePairAmongOthers(t *testing.T) {
	re := regexp.MustCompile(traffic.CookieRegex("canary", "always"))
	for h, want := range map[string]bool{
		"canary=always":                  true,
		"a=1; canary=always":             true,
		"a=1;canary=always; b=2":         true,
		"canary=alwaysnot":               false,
		"xcanary=always":                 false,
		"a=1; canary=never; b=canary=al": false,
	} {
		if got := re.MatchString(h); got != want {
			t.Errorf("Cookie %q: match %v, want %v", h, got, want)
		}
	}
}

// featDriver is memDriver with declared features.
type featDriver struct {
	memDriver
	f traffic.Features
}

func (d *featDriver) Features() traffic.Features { return d.f }

func TestRouterRefusesMatchesItsDriverCannotCarry(t *testing.T) {
	ab := traffic.AllStable()
	ab.Cohort = mustCohort(t, traffic.Match{Header: "x-canary", Kind: traffic.Prefix, Value: "in"})
	sticky := traffic.Weighted(10)
	sticky.Affinity = traffic.Affinity{Cookie: "c", Value: "v", MaxAge: 60}

	// A driver that declares nothing carries neither, and nothing is sent.
	d := &memDriver{split: traffic.AllStable()}
	r := newRouter(d, new(pauses), 0)
	for _, s := range []traffic.Split{ab, sticky} {
		var fe *canary.FieldError
		err := r.SetSplit(context.Background(), s)
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "Mem test/route") {
			t.Errorf("SetSplit(%v) = %v, want a FieldError naming the route", s, err)
		}
		if err := r.Check(s); err == nil {
			t.Errorf("Check(%v) = nil", s)
		}
	}
	if len(d.calls) != 0 {
		t.Errorf("calls %v, want none", d.calls)
	}

	// Header matches but not prefixes: the kind is named.
	fd := &featDriver{memDriver: memDriver{split: traffic.AllStable()}, f: traffic.Features{HeaderMatch: true}}
	fr := traffic.NewRouter(fd, traffic.Config{Name: "Feat route"})
	var fe *canary.FieldError
	if err := fr.Check(ab); !errors.As(err, &fe) || fe.Field != "Split.Cohort[0].Kind" {
		t.Errorf("Check = %v, want a FieldError on Split.Cohort[0].Kind", err)
	}
	fd.f.PrefixMatch, fd.f.Affinity = true, true
	fr = traffic.NewRouter(fd, traffic.Config{Name: "Feat route"})
	for _, s := range []traffic.Split{ab, sticky} {
		if err := fr.SetSplit(context.Background(), s); err != nil {
			t.Errorf("SetSplit(%v) = %v", s, err)
		}
	}
}

func TestCookieFromRegexInvertsCookieRegex(t *testing.T) {
	for _, c := range [][2]string{{"canary", "always"}, {"a.b", "x+y*z"}, {"s", "v=1"}} {
		n, v, ok := traffic.CookieFromRegex(traffic.CookieRegex(c[0], c[1]))
		if !ok || n != c[0] || v != c[1] {
			t.Errorf("CookieFromRegex(CookieRegex(%q, %q)) = %q, %q, %v", c[0], c[1], n, v, ok)
		}
	}
	for _, re := range []string{".*Firefox.*", "^(.*?;)?(canary=always)(;.*)?$", traffic.CookieRegex("a", "b") + "x", ""} {
		if n, v, ok := traffic.CookieFromRegex(re); ok {
			t.Errorf("CookieFromRegex(%q) = %q, %q, true; want not a cookie regex", re, n, v)
		}
	}
}
