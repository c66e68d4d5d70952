package metrics

import (
	"errors"
	"strings"
)

// This file holds the lexers Parse reads templates with: one for each
// dialect, each following the dialect's own rules for strings, quoted
// identifiers and comments, so that it agrees with the back end about
// where every string begins and ends. They do not parse the query (the
// back end does); they only track, byte by byte, which context each
// placeholder stands in. Every delimiter is ASCII, so scanning bytes is
// exact for UTF-8 text.
//
// PromQL, after the lexer of Prometheus (promql/parser/lex.go: lexString,
// lexEscape, lexRawString, lexLineComment, lexInsideBraces):
//   - "…" and '…' are strings; a backslash escapes the next character; a
//     newline or the end of the text inside one is an error
//     ("unterminated quoted string");
//   - `…` is a raw string: no escapes at all, so `a\` ends at its backtick
//     (the old scanner read the backslash as an escape and kept going);
//   - # starts a comment to the end of the line, outside strings, both in
//     statements and inside braces.
//
// NRQL (New Relic's query language):
//   - '…' is a string; a backslash escapes the next character, and '' is
//     a quote inside a string (read here as closing and reopening, which
//     puts every later character on the same side);
//   - `…` quotes an identifier (an attribute or event name): a value there
//     would choose what is queried, so it is not a safe context, and a
//     quote inside it opens nothing;
//   - -- and // start a comment to the end of the line, /* … */ a block
//     comment;
//   - NRQL has no double-quoted strings, so a " outside a string or
//     comment is refused rather than guessed at.
//
// Datadog metric queries:
//   - {…} after a metric name is the tag filter, the one safe context;
//     {…} after "by" lists group-by tags, which is structure; braces do not
//     nest;
//   - '…' and "…" are strings in function arguments (anomalies(…,
//     'basic', 2)); a brace inside one is not a scope;
//   - backslashes and quotes inside a tag filter are refused: Datadog does
//     not document how they are read.
//
// In every dialect a comment that holds a quote or backtick is refused:
// were the back end to read the comment marker otherwise, that quote would
// open a string there and not here. A placeholder straight after a
// backslash, or inside a comment, is refused too.

// lexContext is where a placeholder stands.
type lexContext struct {
	safe    bool // inside the dialect's safe context
	escaped bool // straight after a backslash that escapes it
	comment bool // inside a comment
}

type lexState int

const (
	inCode lexState = iota
	inDouble
	inSingle
	inRaw   // PromQL `…`
	inIdent // NRQL `…`
	inLineComment
	inBlockComment
	inScope      // Datadog tag filter {…}
	inGroupScope // Datadog by {…}
)

// lex cuts text at its placeholders, calling at for each with the context
// it stands in (at's error stops the lexing), and checks that every
// string, identifier, comment and scope is closed. With no placeholder in
// text it checks a rendered query the same way.
func lex(d Dialect, text string, at func(name string, c lexContext) error) ([]segment, error) {
	var (
		segs    []segment
		litFrom int
		st      = inCode
		escaped bool
	)
	for i := 0; i < len(text); {
		if strings.HasPrefix(text[i:], "{{") {
			if m := placeholder.FindStringSubmatch(text[i:]); m != nil {
				c := lexContext{escaped: escaped, comment: st == inLineComment || st == inBlockComment}
				switch d {
				case PromQL:
					c.safe = st == inDouble || st == inSingle || st == inRaw
				case NRQL:
					c.safe = st == inSingle
				case Datadog:
					c.safe = st == inScope
				}
				if err := at(m[1], c); err != nil {
					return nil, err
				}
				if i > litFrom {
					segs = append(segs, segment{lit: text[litFrom:i]})
				}
				segs = append(segs, segment{name: m[1]})
				i += len(m[0])
				litFrom = i
				escaped = false
				continue
			}
		}
		c := text[i]
		next := byte(0)
		if i+1 < len(text) {
			next = text[i+1]
		}
		if escaped {
			escaped = false
			i++
			continue
		}
		var err error
		switch d {
		case PromQL:
			st, escaped, err = lexPromQL(st, c)
		case NRQL:
			var skip bool
			st, escaped, skip, err = lexNRQL(st, c, next)
			if skip {
				i++
			}
		case Datadog:
			st, err = lexDatadog(st, c, text[:i])
		}
		if err != nil {
			return nil, err
		}
		i++
	}
	if escaped {
		return nil, errors.New("ends with a backslash")
	}
	switch st {
	case inDouble, inSingle, inRaw:
		return nil, errors.New("has a string that is not closed")
	case inIdent:
		return nil, errors.New("has a `quoted identifier` that is not closed")
	case inBlockComment:
		return nil, errors.New("has a /* comment that is not closed")
	case inScope, inGroupScope:
		return nil, errors.New("has a { that is not closed")
	}
	if litFrom < len(text) {
		segs = append(segs, segment{lit: text[litFrom:]})
	}
	return segs, nil
}

var errQuoteInComment = errors.New("has a quote or backtick inside a comment; back ends disagree on where such a comment ends, so remove it")

func lexPromQL(st lexState, c byte) (lexState, bool, error) {
	switch st {
	case inCode:
		switch c {
		case '"':
			return inDouble, false, nil
		case '\'':
			return inSingle, false, nil
		case '`':
			return inRaw, false, nil
		case '#':
			return inLineComment, false, nil
		}
	case inDouble, inSingle:
		switch {
		case c == '\\':
			return st, true, nil
		case c == '\n':
			return st, false, errors.New("has a quoted string broken by a newline (PromQL: unterminated quoted string)")
		case c == '"' && st == inDouble, c == '\'' && st == inSingle:
			return inCode, false, nil
		}
	case inRaw:
		if c == '`' {
			return inCode, false, nil
		}
	case inLineComment:
		switch c {
		case '\n', '\r':
			return inCode, false, nil
		case '"', '\'', '`':
			return st, false, errQuoteInComment
		}
	}
	return st, false, nil
}

// lexNRQL also reports whether next was consumed with c.
func lexNRQL(st lexState, c, next byte) (lexState, bool, bool, error) {
	switch st {
	case inCode:
		switch {
		case c == '\'':
			return inSingle, false, false, nil
		case c == '`':
			return inIdent, false, false, nil
		case c == '"':
			return st, false, false, errors.New(`has a " outside a string; NRQL strings are single-quoted`)
		case c == '-' && next == '-', c == '/' && next == '/':
			return inLineComment, false, true, nil
		case c == '/' && next == '*':
			return inBlockComment, false, true, nil
		}
	case inSingle:
		switch c {
		case '\\':
			if next == '\'' {
				// Whether NRQL reads \' as a quote or as the end of the
				// string decides where the string ends; '' is the same
				// on either reading.
				return st, false, false, errors.New(`has \' in a string; write a quote inside a string as ''`)
			}
			return st, true, false, nil
		case '\'':
			return inCode, false, false, nil
		}
	case inIdent:
		if c == '`' {
			return inCode, false, false, nil
		}
	case inLineComment:
		switch c {
		case '\n', '\r':
			return inCode, false, false, nil
		case '"', '\'', '`':
			return st, false, false, errQuoteInComment
		}
	case inBlockComment:
		switch {
		case c == '*' && next == '/':
			return inCode, false, true, nil
		case c == '"', c == '\'', c == '`':
			return st, false, false, errQuoteInComment
		}
	}
	return st, false, false, nil
}

// lexDatadog reads c, with before the text that precedes it.
func lexDatadog(st lexState, c byte, before string) (lexState, error) {
	switch st {
	case inCode:
		switch c {
		case '\'':
			return inSingle, nil
		case '"':
			return inDouble, nil
		case '{':
			if precededByBy(before) {
				return inGroupScope, nil
			}
			return inScope, nil
		case '}':
			return st, errors.New("has a } with no { before it")
		case '\\':
			return st, errors.New("has a backslash, which Datadog queries do not use")
		}
	case inSingle, inDouble:
		switch {
		case c == '\\':
			return st, errors.New("has a backslash in a string; Datadog does not document escapes")
		case c == '\'' && st == inSingle, c == '"' && st == inDouble:
			return inCode, nil
		}
	case inScope, inGroupScope:
		switch c {
		case '}':
			return inCode, nil
		case '{':
			return st, errors.New("has a { inside a {…} scope")
		case '"', '\'', '`', '\\':
			return st, errors.New("has a quote or backslash inside a {…} scope")
		}
	}
	return st, nil
}

// precededByBy reports whether the last word of s, before trailing spaces,
// is "by" (any case): the { that follows opens a group-by list.
func precededByBy(s string) bool {
	s = strings.TrimRight(s, " \t\r\n")
	j := len(s)
	for j > 0 && (alnum(s[j-1]) || s[j-1] == '_') {
		j--
	}
	return strings.EqualFold(s[j:], "by") && (j == 0 || !(alnum(s[j-1]) || s[j-1] == '.' || s[j-1] == ':'))
}

// structure lexes a rendered query and returns its shape: the text with
// the inside of every string replaced by one marker character, so two
// renderings whose values stayed inside strings have the same structure.
// The fuzz tests use it.
func structure(d Dialect, q string) (string, error) {
	if _, err := lex(d, q, func(string, lexContext) error { return nil }); err != nil {
		return "", err
	}
	var b strings.Builder
	st := inCode
	escaped := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		next := byte(0)
		if i+1 < len(q) {
			next = q[i+1]
		}
		before := st
		if escaped {
			escaped = false
		} else {
			var skip bool
			switch d {
			case PromQL:
				st, escaped, _ = lexPromQL(st, c)
			case NRQL:
				st, escaped, skip, _ = lexNRQL(st, c, next)
			case Datadog:
				st, _ = lexDatadog(st, c, q[:i])
			}
			if skip {
				b.WriteByte(c)
				i++
				c = next
			}
		}
		inValue := before == st && (st == inDouble || st == inSingle || st == inRaw || st == inScope)
		if inValue {
			if s := b.String(); len(s) == 0 || s[len(s)-1] != 0 {
				b.WriteByte(0)
			}
			continue
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}
