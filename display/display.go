package display

import (
	"time"

	"github.com/meshcanary/canary/internal/textfmt"
)

// DefaultZone is the name of the default location.
const DefaultZone = "Europe/London"

// ErrNoZoneData is wrapped by the error DefaultLocation returns when the
// time-zone database is missing and times are shown in UTC instead.
var ErrNoZoneData = textfmt.ErrNoZoneData

// DefaultLocation returns Europe/London and nil, or, when the time-zone
// database is missing, time.UTC and an error wrapping ErrNoZoneData.
func DefaultLocation() (*time.Location, error) { return textfmt.DefaultLocation() }

// Layout is how FormatTime writes an instant: day/month/year, 24-hour
// clock, zone abbreviation ("24/11/2026 14:03:05 GMT").
const Layout = "02/01/2006 15:04:05 MST"

// FormatTime writes t in the default location (see DefaultLocation); it
// is FormatTimeIn(t, nil).
func FormatTime(t time.Time) string { return textfmt.Time(t, nil) }

// FormatTimeIn writes t in loc in the Layout format; a nil loc means the
// default location.
func FormatTimeIn(t time.Time, loc *time.Location) string { return textfmt.Time(t, loc) }

// FormatNumber writes v in UK format with up to prec decimals, trailing
// zeros dropped: 1234567.891 → "1,234,567.891"; a negative prec means as
// many as needed to read v back exactly. NaN is "NaN", the infinities "∞"
// and "-∞", and a value that rounds to zero is "0", never "-0".
func FormatNumber(v float64, prec int) string { return textfmt.Number(v, prec) }

// FormatPercent writes a fraction as a UK-format percentage with up to two
// decimals: 0.0523 → "5.23 %", +Inf → "∞ %", NaN → "NaN %".
func FormatPercent(fraction float64) string { return textfmt.Percent(fraction) }

// OneLine returns s with every character that could break the line or be
// read by a terminal escaped (see the package doc): "a\nb\x1b[2J" becomes
// `a\nb\x1b[2J`. Printable text, including non-ASCII letters, is kept.
func OneLine(s string) string { return textfmt.OneLine(s) }
