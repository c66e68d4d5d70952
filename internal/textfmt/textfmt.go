package textfmt

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// DefaultZone is the name of the default location.
const DefaultZone = "Europe/London"

// ErrNoZoneData is wrapped by the error DefaultLocation returns when the
// time-zone database is missing and times are shown in UTC instead.
var ErrNoZoneData = errors.New("display: time-zone database missing; showing times in UTC (import _ \"time/tzdata\" in package main)")

var defaultLoc = sync.OnceValues(func() (*time.Location, error) { return loadDefault(time.LoadLocation) })

func loadDefault(load func(string) (*time.Location, error)) (*time.Location, error) {
	l, err := load(DefaultZone)
	if err != nil {
		return time.UTC, fmt.Errorf("%w: %v", ErrNoZoneData, err)
	}
	return l, nil
}

// DefaultLocation returns Europe/London and nil, or, when the time-zone
// database is missing, time.UTC and an error wrapping ErrNoZoneData.
func DefaultLocation() (*time.Location, error) { return defaultLoc() }

// Layout is how Time writes an instant: day/month/year, 24-hour
// clock, zone abbreviation ("24/11/2026 14:03:05 GMT").
const Layout = "02/01/2006 15:04:05 MST"

// Time writes t in loc in the Layout format; a nil loc means the
// default location.
func Time(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc, _ = defaultLoc()
	}
	return t.In(loc).Format(Layout)
}

// Number writes v in UK format with up to prec decimals, trailing
// zeros dropped: 1234567.891 → "1,234,567.891"; a negative prec means as
// many as needed to read v back exactly. NaN is "NaN", the infinities "∞"
// and "-∞", and a value that rounds to zero is "0", never "-0".
func Number(v float64, prec int) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "∞"
	case math.IsInf(v, -1):
		return "-∞"
	}
	if prec < 0 {
		prec = -1
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if s == "0" {
		neg = false
	}
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// Percent writes a fraction as a UK-format percentage with up to two
// decimals: 0.0523 → "5.23 %", +Inf → "∞ %", NaN → "NaN %".
func Percent(fraction float64) string { return Number(fraction*100, 2) + " %" }

// OneLine returns s with every character that could break the line or be
// read by a terminal escaped: "a\nb\x1b[2J" becomes
// `a\nb\x1b[2J`. Printable text, including non-ASCII letters, is kept.
func OneLine(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r) && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == '\\' || unsafeRune(r) {
			return true
		}
		i += size
	}
	return false
}

// unsafeRune reports whether r is a control character (C0, DEL, C1), a
// line or paragraph separator, a bidirectional control, or another
// format character that changes how text is shown (zero-width and
// invisible ones).
func unsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == '\u2028', r == '\u2029':
		return true
	case unicode.Is(unicode.Cf, r): // bidi overrides and isolates, zero-width characters, BOM
		return true
	}
	return false
}
