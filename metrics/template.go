package metrics

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/meshcanary/canary"
)

// Dialect is the query language a Template renders. It decides how the
// window is written and where a label variable may stand.
type Dialect int

const (
	// PromQL: the window is written as a duration in seconds ("120s");
	// label variables must stand inside a quoted string.
	PromQL Dialect = iota + 1
	// NRQL: the window is written as "120 seconds"; label variables must
	// stand inside a single-quoted string.
	NRQL
	// Datadog: the window is written as a number of seconds ("120", for
	// rollup); label variables must stand inside a {…} tag scope.
	Datadog
)

func (d Dialect) String() string {
	switch d {
	case PromQL:
		return "PromQL"
	case NRQL:
		return "NRQL"
	case Datadog:
		return "Datadog"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// Vars are the values a Template is rendered with. Every value must be a
// valid value (ValidValue, pattern ValuePattern): letters, digits, '-', '_'
// and '.', starting and ending with a letter or digit, at most 253
// characters. Anything else (quotes, braces, spaces, newlines, operators,
// backslashes) is refused rather than escaped, so a value can never change
// the structure of a query.
type Vars struct {
	Namespace string
	Workload  string
	Version   string
	Service   string
	// Window is rendered by {{window}} in the template's dialect. It must be
	// a positive whole number of seconds when the template uses it.
	Window time.Duration
	// Extra holds further variables, used as {{name}}; names are lower-case
	// letters, digits and '_'.
	Extra map[string]string
}

// ValuePattern is the regular expression (RE2 syntax) every variable value
// must match. It is a constant, so no other package can weaken it; test a
// value with ValidValue.
const ValuePattern = `^[A-Za-z0-9]([-A-Za-z0-9_.]{0,251}[A-Za-z0-9])?$`

// ValidValue reports whether v may be substituted into a Template: whether
// it matches ValuePattern.
func ValidValue(v string) bool {
	n := len(v)
	if n == 0 || n > 253 || !alnum(v[0]) || !alnum(v[n-1]) {
		return false
	}
	for i := 1; i < n-1; i++ {
		if c := v[i]; !alnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

var placeholder = regexp.MustCompile(`^\{\{\s*([a-z][a-z0-9_]*)\s*\}\}`)

// Template is a parsed query template with placeholders {{namespace}},
// {{workload}}, {{version}}, {{service}}, {{window}} and {{name}} for an
// Extra variable. The zero Template renders nothing and is refused by
// Render; build one with Parse.
type Template struct {
	dialect Dialect
	name    string
	text    string
	vars    []string  // the placeholders used, in order of first use
	segs    []segment // the text cut at the placeholders
}

// segment is a piece of a template: literal text, or a placeholder.
type segment struct {
	lit  string
	name string // the placeholder's name; "" for literal text
}

// Parse checks text and returns a Template. It refuses an unknown dialect,
// an empty text, a placeholder that is not closed, a string, identifier or
// comment that is not closed, and a label placeholder (anything but
// window) outside the dialect's safe context: a quoted string for PromQL,
// a single-quoted string for NRQL, a {…} tag filter for Datadog. The text
// is read by a lexer for the dialect (see template_lex.go for the rules and where
// they come from), so a quote inside a comment, a raw string or an
// identifier does not open a string, and a backslash does not escape the
// end of a PromQL raw string.
func Parse(d Dialect, name, text string) (Template, error) {
	if d < PromQL || d > Datadog {
		return Template{}, canary.Invalid("Template.Dialect", int(d), "must be PromQL, NRQL or Datadog")
	}
	if strings.TrimSpace(text) == "" {
		return Template{}, canary.Invalid("Template.Text", text, "must not be empty")
	}
	t := Template{dialect: d, name: name, text: text}
	seen := map[string]bool{}
	var lits strings.Builder
	segs, err := lex(d, text, func(v string, c lexContext) error {
		if c.comment {
			return fmt.Errorf("{{%s}} stands inside a comment", v)
		}
		if c.escaped {
			return fmt.Errorf("{{%s}} follows a backslash, which would escape its first character", v)
		}
		if v != "window" && !c.safe {
			return fmt.Errorf("{{%s}} must stand inside %s so that its value cannot change the query", v, safeContextName(d))
		}
		if !seen[v] {
			seen[v] = true
			t.vars = append(t.vars, v)
		}
		return nil
	})
	if err != nil {
		return Template{}, canary.Invalid("Template.Text", name, "%v", err)
	}
	for _, s := range segs {
		lits.WriteString(s.lit)
	}
	if rest := lits.String(); strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
		return Template{}, canary.Invalid("Template.Text", name, "has a malformed placeholder; use {{name}} with a lower-case name")
	}
	t.segs = segs
	return t, nil
}

// MustParse is Parse for templates written in the program's source; it
// panics on an error. Use Parse for templates that come from configuration.
func MustParse(d Dialect, name, text string) Template {
	t, err := Parse(d, name, text)
	if err != nil {
		panic(err)
	}
	return t
}

func safeContextName(d Dialect) string {
	switch d {
	case NRQL:
		return "a single-quoted string"
	case Datadog:
		return "a {…} tag filter after a metric name"
	}
	return "a quoted string"
}

// Name is the name given to Parse.
func (t Template) Name() string { return t.name }

// Dialect is the template's dialect.
func (t Template) Dialect() Dialect { return t.dialect }

// Text is the template's source text.
func (t Template) Text() string { return t.text }

// Uses reports whether the template has the placeholder {{name}}.
func (t Template) Uses(name string) bool {
	for _, v := range t.vars {
		if v == name {
			return true
		}
	}
	return false
}

// Render substitutes v into the template. It refuses a value that is not
// ValidValue, a placeholder with no value, and a window that is not
// a positive whole number of seconds.
func (t Template) Render(v Vars) (string, error) {
	if t.dialect == 0 {
		return "", canary.Invalid("Template", nil, "is the zero Template; build it with Parse")
	}
	values := make(map[string]string, len(t.vars))
	for _, name := range t.vars {
		field := "Vars." + fieldName(name)
		var val string
		switch name {
		case "window":
			if v.Window <= 0 || v.Window%time.Second != 0 {
				return "", canary.Invalid("Vars.Window", v.Window, "must be a positive whole number of seconds")
			}
			values[name] = formatWindow(t.dialect, v.Window)
			continue
		case "namespace":
			val = v.Namespace
		case "workload":
			val = v.Workload
		case "version":
			val = v.Version
		case "service":
			val = v.Service
		default:
			var ok bool
			val, ok = v.Extra[name]
			if !ok {
				return "", canary.Invalid(field, nil, "template %q uses {{%s}} but no value was given", t.name, name)
			}
		}
		if !ValidValue(val) {
			return "", canary.Invalid(field, strconv.Quote(val),
				"must be letters, digits, '-', '_' or '.', start and end with a letter or digit, and be 1 to 253 characters")
		}
		values[name] = val
	}
	var b strings.Builder
	for _, s := range t.segs {
		if s.name == "" {
			b.WriteString(s.lit)
		} else {
			b.WriteString(values[s.name])
		}
	}
	return b.String(), nil
}

func fieldName(v string) string {
	switch v {
	case "namespace", "workload", "version", "service", "window":
		return strings.ToUpper(v[:1]) + v[1:]
	}
	return fmt.Sprintf("Extra[%q]", v)
}

func formatWindow(d Dialect, w time.Duration) string {
	s := strconv.FormatInt(int64(w/time.Second), 10)
	switch d {
	case PromQL:
		return s + "s"
	case NRQL:
		return s + " seconds"
	}
	return s
}
