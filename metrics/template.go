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

// Vars are the values a Template is rendered with. Every value must match
// ValuePattern: letters, digits, '-', '_' and '.', starting and ending with a
// letter or digit, at most 253 characters. Anything else (quotes, braces,
// spaces, newlines, operators) is refused rather than escaped, so a value
// can never change the structure of a query.
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

// ValuePattern is the pattern every variable value must match.
var ValuePattern = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,251}[A-Za-z0-9])?$`)

var placeholder = regexp.MustCompile(`\{\{\s*([a-z][a-z0-9_]*)\s*\}\}`)

// Template is a parsed query template with placeholders {{namespace}},
// {{workload}}, {{version}}, {{service}}, {{window}} and {{name}} for an
// Extra variable. The zero Template renders nothing and is refused by
// Render; build one with Parse.
type Template struct {
	dialect Dialect
	name    string
	text    string
	vars    []string // the placeholders used, in order of first use
}

// Parse checks text and returns a Template. It refuses an unknown dialect,
// an empty text, a placeholder that is not closed, and a label placeholder
// (anything but window) outside the dialect's safe context: a quoted string
// for PromQL and NRQL, a {…} tag scope for Datadog.
func Parse(d Dialect, name, text string) (Template, error) {
	if d < PromQL || d > Datadog {
		return Template{}, canary.Invalid("Template.Dialect", int(d), "must be PromQL, NRQL or Datadog")
	}
	if strings.TrimSpace(text) == "" {
		return Template{}, canary.Invalid("Template.Text", text, "must not be empty")
	}
	t := Template{dialect: d, name: name, text: text}
	seen := map[string]bool{}
	for _, loc := range placeholder.FindAllStringSubmatchIndex(text, -1) {
		v := text[loc[2]:loc[3]]
		if v != "window" && !safeContext(d, text[:loc[0]]) {
			return Template{}, canary.Invalid("Template.Text", name,
				"{{%s}} must stand inside %s so that its value cannot change the query", v, safeContextName(d))
		}
		if !seen[v] {
			seen[v] = true
			t.vars = append(t.vars, v)
		}
	}
	rest := placeholder.ReplaceAllString(text, "")
	if strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
		return Template{}, canary.Invalid("Template.Text", name, "has a malformed placeholder; use {{name}} with a lower-case name")
	}
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
		return "a {…} tag scope"
	}
	return "a quoted string"
}

// safeContext reports whether the end of prefix is inside the dialect's
// safe context.
func safeContext(d Dialect, prefix string) bool {
	switch d {
	case Datadog:
		depth := 0
		for _, c := range prefix {
			switch c {
			case '{':
				depth++
			case '}':
				depth--
			}
		}
		return depth > 0
	default:
		var quote rune
		escaped := false
		for _, c := range prefix {
			switch {
			case escaped:
				escaped = false
			case quote != 0 && c == '\\':
				escaped = true
			case quote != 0 && c == quote:
				quote = 0
			case quote == 0 && (c == '"' || c == '\'' || (c == '`' && d == PromQL)):
				quote = c
			}
		}
		if d == NRQL {
			return quote == '\''
		}
		return quote != 0
	}
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

// Render substitutes v into the template. It refuses a value that does not
// match ValuePattern, a placeholder with no value, and a window that is not
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
		if !ValuePattern.MatchString(val) {
			return "", canary.Invalid(field, strconv.Quote(val),
				"must be letters, digits, '-', '_' or '.', start and end with a letter or digit, and be 1 to 253 characters")
		}
		values[name] = val
	}
	return placeholder.ReplaceAllStringFunc(t.text, func(m string) string {
		return values[placeholder.FindStringSubmatch(m)[1]]
	}), nil
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
