package datadriven

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

const separator = "----"

// file is a parsed transcript: its lines and its cases.
type file struct {
	lines []string
	cases []testCase
	// trailingNewline reports whether the source ended in a newline.
	trailingNewline bool
}

// testCase is a case and where its output section lies in file.lines:
// [sep, end) holds the separator(s), the expected output and, in the
// double-separator form, the closing separators.
type testCase struct {
	data      TestData
	directive string
	line      int // 1-based line of the directive
	sep, end  int
}

func parse(path, src string) (*file, error) {
	f := &file{trailingNewline: strings.HasSuffix(src, "\n")}
	f.lines = strings.Split(strings.TrimSuffix(src, "\n"), "\n")
	if src == "" {
		f.lines = nil
	}
	for i := 0; i < len(f.lines); {
		line := strings.TrimRight(f.lines[i], "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			i++
			continue
		}
		c := testCase{line: i + 1}
		pos := fmt.Sprintf("%s:%d", path, i+1)
		// The directive, with its continuation lines.
		directive := line
		for strings.HasSuffix(directive, `\`) && i+1 < len(f.lines) {
			i++
			directive = strings.TrimSuffix(directive, `\`) + " " + strings.TrimSpace(f.lines[i])
		}
		i++
		cmd, args, err := parseDirective(directive)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", pos, err)
		}
		c.directive = directive
		c.data = TestData{Pos: pos, Directive: directive, Cmd: cmd, CmdArgs: args}
		// The input.
		var input []string
		for i < len(f.lines) && f.lines[i] != separator {
			input = append(input, f.lines[i])
			i++
		}
		if i == len(f.lines) {
			return nil, fmt.Errorf("%s: %s: no %q line after the directive", pos, cmd, separator)
		}
		c.data.Input = strings.Join(input, "\n")
		c.sep = i
		i++
		var out []string
		if i < len(f.lines) && f.lines[i] == separator {
			// The double-separator form: up to "----" "----".
			i++
			for {
				if i+1 >= len(f.lines) {
					return nil, fmt.Errorf("%s: %s: output opened with two %q lines is not closed by two", pos, cmd, separator)
				}
				if f.lines[i] == separator && f.lines[i+1] == separator {
					break
				}
				out = append(out, f.lines[i])
				i++
			}
			i += 2
		} else {
			for i < len(f.lines) && strings.TrimSpace(f.lines[i]) != "" {
				out = append(out, f.lines[i])
				i++
			}
		}
		c.end = i
		if len(out) > 0 {
			c.data.Expected = strings.Join(out, "\n") + "\n"
		}
		f.cases = append(f.cases, c)
	}
	return f, nil
}

// parseDirective splits "cmd a b=c d=(e, f) g=\"h i\"".
func parseDirective(s string) (string, []CmdArg, error) {
	s = strings.TrimSpace(s)
	end := strings.IndexFunc(s, unicode.IsSpace)
	if end < 0 {
		end = len(s)
	}
	cmd, rest := s[:end], strings.TrimSpace(s[end:])
	var args []CmdArg
	for rest != "" {
		k := strings.IndexFunc(rest, func(r rune) bool { return r == '=' || unicode.IsSpace(r) })
		if k < 0 {
			args = append(args, CmdArg{Key: rest})
			break
		}
		a := CmdArg{Key: rest[:k]}
		if a.Key == "" {
			return "", nil, fmt.Errorf("argument with no key in %q", s)
		}
		rest = rest[k:]
		if rest[0] != '=' {
			args = append(args, a)
			rest = strings.TrimSpace(rest)
			continue
		}
		rest = rest[1:]
		switch {
		case strings.HasPrefix(rest, "("):
			close := strings.IndexByte(rest, ')')
			if close < 0 {
				return "", nil, fmt.Errorf("argument %s: ( is not closed", a.Key)
			}
			for _, v := range strings.Split(rest[1:close], ",") {
				if v = strings.TrimSpace(v); v != "" {
					a.Vals = append(a.Vals, v)
				}
			}
			rest = rest[close+1:]
		case strings.HasPrefix(rest, `"`):
			j := 1
			for j < len(rest) && rest[j] != '"' {
				if rest[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(rest) {
				return "", nil, fmt.Errorf("argument %s: quote is not closed", a.Key)
			}
			v, err := strconv.Unquote(rest[:j+1])
			if err != nil {
				return "", nil, fmt.Errorf("argument %s: %v", a.Key, err)
			}
			a.Vals = []string{v}
			rest = rest[j+1:]
		default:
			e := strings.IndexFunc(rest, unicode.IsSpace)
			if e < 0 {
				e = len(rest)
			}
			a.Vals = []string{rest[:e]}
			rest = rest[e:]
		}
		if rest != "" && !unicode.IsSpace(rune(rest[0])) {
			return "", nil, fmt.Errorf("argument %s: unexpected %q after the value", a.Key, rest)
		}
		args = append(args, a)
		rest = strings.TrimSpace(rest)
	}
	return cmd, args, nil
}

// rewrite returns the file's text with each case's output section replaced
// by outputs[i].
func (f *file) rewrite(outputs []string) string {
	var b strings.Builder
	at := 0
	write := func(l string) { b.WriteString(l); b.WriteByte('\n') }
	for i, c := range f.cases {
		for ; at < c.sep; at++ {
			write(f.lines[at])
		}
		out := strings.TrimSuffix(outputs[i], "\n")
		if hasBlankLine(out) {
			write(separator)
			write(separator)
			write(out)
			write(separator)
			write(separator)
		} else {
			write(separator)
			if out != "" {
				write(out)
			}
		}
		at = c.end
		// Keep a blank line between this case and what follows.
		if at < len(f.lines) && strings.TrimSpace(f.lines[at]) != "" {
			write("")
		}
	}
	for ; at < len(f.lines); at++ {
		write(f.lines[at])
	}
	s := b.String()
	if !f.trailingNewline {
		s = strings.TrimSuffix(s, "\n")
	}
	return s
}

func hasBlankLine(s string) bool {
	if s == "" {
		return false
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == "" {
			return true
		}
	}
	return false
}
