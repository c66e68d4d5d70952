// Package display formats what the module shows to people: instants in a
// time zone the caller chooses (Europe/London by default: GMT in winter,
// BST in summer), numbers and percentages in UK format (1,234,567.89 and
// 5.23 %), untrusted text (a back end's error message, a label value)
// escaped so that it stays on one line and cannot drive a terminal, and
// the events of a rollout's audit trail, one a line (Event).
//
// # Events
//
// A [rollback.Event] holds data: its time (UTC on the wire), phases,
// weights, split, verdict and counts. Event renders it for people, with
// the location a parameter: a nil *time.Location means the default
// location, so Event(e, nil) is the line a person in the UK reads, and a
// command that shows times can offer its users another zone (canaryctl's
// -tz flag). The core packages do not import display; rendering happens
// at the edge, in the program that shows the text.
//
// The few instants a rollout's status and errors refer to are fields too,
// written by Shape (a blue/green rollout's Status.WarmUntil), Reason (a
// paused rollout's Status.EvidenceAt: when the evidence arrived) and
// Error (a rollback.FinishedError's At), each in the location it is
// given; with nil each writes the text the core used to hold.
//
// # Time zones
//
// The default location is loaded with time.LoadLocation("Europe/London"),
// which needs a time-zone database: the system's (/usr/share/zoneinfo on
// Linux), $ZONEINFO, or one embedded in the program. This library does not
// embed one, because importing time/tzdata adds about 450 KB to every
// program that imports the library, used or not. A program that shows
// times and may run without a zone database (a distroless or scratch
// container image) should embed it in its main package:
//
//	import _ "time/tzdata"
//
// When the database is missing, the default location falls back to UTC,
// and the fall-back is visible: times are then written with the zone "UTC"
// instead of GMT or BST, and DefaultLocation returns the load error, which
// wraps ErrNoZoneData. The fall-back is never silent summer-time drift.
//
// # Numbers
//
// FormatNumber groups thousands with commas and uses a point for decimals,
// as in the UK. NaN is written "NaN" and the infinities "∞" and "-∞", so
// FormatPercent(math.Inf(1)) is "∞ %" rather than digits grouped around
// "Inf".
//
// # Untrusted text
//
// OneLine escapes, in the style of Go's quoted strings, every character
// that could break a line or be read by a terminal: newlines and every
// other control character (ANSI escape sequences start with ESC, U+001B,
// or the C1 control U+009B), DEL, the Unicode line and paragraph
// separators, the bidirectional overrides and isolates that reorder how
// text is shown, invalid UTF-8, and the backslash itself, so that an
// escaped text reads back unambiguously.
package display
