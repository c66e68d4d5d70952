package metrics

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
)

// The safe-context bypasses of issue 9: each was accepted by the old
// scanner, and each puts a placeholder outside any string (or tag filter)
// as the back end reads the query.
var bypasses = []struct {
	d    Dialect
	text string
	why  string
}{
	{PromQL, "reqs{path=`C:\\`} or on() vector({{version}})", "a raw string ends at its backtick even after a backslash"},
	{PromQL, "sum(reqs{a=`x\\`}) + {{version}} # `", "raw string ending in a backslash, comment reopening"},
	{PromQL, "sum(reqs) # it's a comment\nor vector({{version}})", "a quote inside a # comment opens nothing"},
	{PromQL, "sum(reqs{a=\"b\"}) # \"\n or {{version}}", "a double quote inside a # comment"},
	{PromQL, "reqs{a=\"x\\{{version}}\"}", "a placeholder escaped by a backslash"},
	{NRQL, "SELECT count(*) FROM T WHERE `it's` = {{version}}", "a quote inside a backtick identifier opens nothing"},
	{NRQL, "SELECT count(*) FROM T WHERE `{{version}}` = 'x'", "a backtick identifier is structure"},
	{NRQL, "SELECT average(`'{{version}}'`) FROM T", "quotes inside an identifier"},
	{NRQL, "SELECT count(*) FROM T -- don't\nWHERE version = {{version}}", "a quote inside a -- comment"},
	{NRQL, "SELECT count(*) FROM T // don't\nWHERE version = {{version}}", "a quote inside a // comment"},
	{NRQL, "SELECT count(*) FROM T /* ' */ WHERE version = {{version}}", "a quote inside a block comment"},
	{NRQL, "SELECT count(*) FROM T WHERE a = 'x\\' AND version = {{version}} --'", `\' read as an escape by one reader and not the other`},
	{NRQL, "SELECT count(*) FROM T WHERE a = \"it's\" AND v = '{{version}}'", "NRQL has no double-quoted strings"},
	{Datadog, "avg:x{*}.fill('{') + {{version}}", "a brace inside a string is no scope"},
	{Datadog, "anomalies(avg:x{*}, \"{\", 2) by {{{version}}}", "a brace inside a double-quoted string"},
	{Datadog, "sum:reqs{*} by {{{version}}}", "a group-by list is structure, not a filter"},
	{Datadog, "sum:reqs{*} BY {host,{{version}}}", "group-by in upper case"},
	{Datadog, "sum:reqs{*}} + {{{version}}}", "an unbalanced brace"},
	{Datadog, "sum:reqs{a:\"{{version}}\"}", "a quote inside a tag filter"},
}

func TestParseRefusesSafeContextBypasses(t *testing.T) {
	for _, b := range bypasses {
		_, err := Parse(b.d, "t", b.text)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != "Template.Text" {
			t.Errorf("%v %q (%s): Parse = %v, want a FieldError naming Template.Text", b.d, b.text, b.why, err)
		}
	}
}

func TestParseAcceptsWhatTheLexersRead(t *testing.T) {
	for _, tc := range []struct {
		d          Dialect
		text, want string
	}{
		{PromQL, "reqs{a=`C:\\`, version=\"{{version}}\"}", "reqs{a=`C:\\`, version=\"v2\"}"},
		{PromQL, "reqs{version=`{{version}}`} # total\n/ on() reqs{version='{{version}}'}", "reqs{version=`v2`} # total\n/ on() reqs{version='v2'}"},
		{PromQL, "reqs{path=\"a\\\"#b\", version=\"{{version}}\"}[{{window}}]", "reqs{path=\"a\\\"#b\", version=\"v2\"}[60s]"},
		{NRQL, "SELECT count(*) FROM T -- per version\nWHERE `app.version` = '{{version}}' SINCE {{window}} ago", "SELECT count(*) FROM T -- per version\nWHERE `app.version` = 'v2' SINCE 60 seconds ago"},
		{NRQL, "SELECT count(*) FROM T WHERE a = 'it''s' AND v = '{{version}}' /* block */", "SELECT count(*) FROM T WHERE a = 'it''s' AND v = 'v2' /* block */"},
		{NRQL, "SELECT count(*) FROM T WHERE a LIKE '%\\%%' AND v = '{{version}}'", "SELECT count(*) FROM T WHERE a LIKE '%\\%%' AND v = 'v2'"},
		{Datadog, "anomalies(sum:reqs{service:web,version:{{version}}} by {host}, 'basic', 2).rollup(sum, {{window}})", "anomalies(sum:reqs{service:web,version:v2} by {host}, 'basic', 2).rollup(sum, 60)"},
		{Datadog, "sum:reqs{{{version}}}", "sum:reqs{v2}"},
		{Datadog, "sum:bytes{version:{{version}}}.rollup(sum, 60)", "sum:bytes{version:v2}.rollup(sum, 60)"},
	} {
		tmpl, err := Parse(tc.d, "t", tc.text)
		if err != nil {
			t.Errorf("%v Parse(%q) = %v", tc.d, tc.text, err)
			continue
		}
		got, err := tmpl.Render(Vars{Version: "v2", Window: time.Minute})
		if err != nil || got != tc.want {
			t.Errorf("%v Render(%q) = %q, %v; want %q", tc.d, tc.text, got, err, tc.want)
		}
	}
}

func TestParseRefusesUnclosed(t *testing.T) {
	for _, tc := range []struct {
		d    Dialect
		text string
	}{
		{PromQL, `reqs{a="b}`},
		{PromQL, "reqs{a=`b}"},
		{PromQL, "reqs{a=\"b\n\"}"},
		{PromQL, `reqs{a="b\`},
		{NRQL, "SELECT 1 FROM T WHERE a = 'b"},
		{NRQL, "SELECT `a FROM T"},
		{NRQL, "SELECT 1 FROM T /* no end"},
		{Datadog, "sum:reqs{a:b"},
		{Datadog, "sum:reqs{a:{b}}"},
		{Datadog, "sum:reqs{*}.fill('x)"},
	} {
		if _, err := Parse(tc.d, "t", tc.text); !errors.Is(err, canary.ErrInvalid) {
			t.Errorf("%v Parse(%q) = %v, want ErrInvalid", tc.d, tc.text, err)
		}
	}
}

var valuePattern = regexp.MustCompile(ValuePattern)

func TestValidValueIsValuePattern(t *testing.T) {
	for _, v := range []string{"v1", "a", "A-b_c.9", "", "-a", "a-", "a b", "ü", "a\"", strings.Repeat("a", 253), strings.Repeat("a", 254), "a\x00b", "a.b"} {
		if got, want := ValidValue(v), valuePattern.MatchString(v); got != want {
			t.Errorf("ValidValue(%q) = %v, ValuePattern says %v", v, got, want)
		}
	}
}

// fuzzDialect checks, for any template text Parse accepts, that rendering
// it with two different valid values gives queries of the same structure:
// every value stayed inside a string or tag filter, as the dialect's lexer
// reads the rendered query.
func fuzzDialect(f *testing.F, d Dialect, seeds []string) {
	for _, s := range seeds {
		f.Add(s, "v2")
	}
	for _, b := range bypasses {
		if b.d == d {
			f.Add(b.text, "x")
		}
	}
	f.Fuzz(func(t *testing.T, text, value string) {
		tmpl, err := Parse(d, "fuzz", text)
		if err != nil {
			if !errors.Is(err, canary.ErrInvalid) {
				t.Fatalf("Parse(%q) = %v, not a FieldError", text, err)
			}
			return
		}
		if !ValidValue(value) {
			value = "v1"
		}
		extra := map[string]string{}
		for _, v := range tmpl.vars {
			extra[v] = value
		}
		v1 := Vars{Namespace: value, Workload: value, Version: value, Service: value, Window: time.Minute, Extra: extra}
		for k := range extra {
			extra[k] = value
		}
		q1, err := tmpl.Render(v1)
		if err != nil {
			t.Fatalf("Render(%q) = %v", text, err)
		}
		other := map[string]string{}
		for k := range extra {
			other[k] = "Zz-9.q_0"
		}
		q2, err := tmpl.Render(Vars{Namespace: "Zz-9.q_0", Workload: "Zz-9.q_0", Version: "Zz-9.q_0", Service: "Zz-9.q_0", Window: 3 * time.Hour, Extra: other})
		if err != nil {
			t.Fatalf("Render(%q) = %v", text, err)
		}
		s1, err1 := structure(d, q1)
		s2, err2 := structure(d, q2)
		if err1 != nil || err2 != nil {
			t.Fatalf("accepted %q, but its renderings %q / %q do not lex: %v / %v", text, q1, q2, err1, err2)
		}
		if tmpl.Uses("window") {
			return // the window's digits stand in code on purpose
		}
		if s1 != s2 {
			t.Fatalf("accepted %q, and the value changed its structure:\n%q → %q\n%q → %q", text, q1, s1, q2, s2)
		}
	})
}

func FuzzParsePromQL(f *testing.F) {
	fuzzDialect(f, PromQL, []string{
		`sum(rate(reqs{version="{{version}}",code=~"5.."}[{{window}}]))`,
		"reqs{a=`{{version}}`} # c\n",
		`reqs{a='{{namespace}}'} / reqs{b="{{workload}}"}`,
		`histogram_quantile(0.99, sum by (le) (rate(d_bucket{v="{{version}}"}[1m])))`,
	})
}

func FuzzParseNRQL(f *testing.F) {
	fuzzDialect(f, NRQL, []string{
		"SELECT percentage(count(*), WHERE error IS true) FROM Transaction WHERE appName = '{{workload}}' AND version = '{{version}}' SINCE {{window}} ago",
		"SELECT count(*) FROM T -- c\nWHERE `a.b` = '{{version}}' /* x */",
		"SELECT count(*) FROM T WHERE a = 'it''s {{version}}'",
	})
}

func FuzzParseDatadog(f *testing.F) {
	fuzzDialect(f, Datadog, []string{
		"sum:trace.http.request.errors{service:{{service}},version:{{version}}}.as_count().rollup(sum, {{window}})",
		"anomalies(avg:x{version:{{version}}} by {host}, 'basic', 2)",
		"sum:a{version:{{version}}} / sum:b{version:{{version}}}",
	})
}
