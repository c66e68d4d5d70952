package textfmt

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests, not the library, embed the zone database
)

// The behaviour of each function is tested through package display's
// API (display_test.go); these tests reach the unexported parts.

func TestDefaultLocationFallsBackVisibly(t *testing.T) {
	l, err := DefaultLocation()
	if err != nil || l.String() != DefaultZone {
		t.Fatalf("DefaultLocation() = %v, %v", l, err)
	}
	missing := func(string) (*time.Location, error) { return nil, errors.New("unknown time zone Europe/London") }
	l, err = loadDefault(missing)
	if !errors.Is(err, ErrNoZoneData) || l != time.UTC {
		t.Fatalf("without a zone database: %v, %v; want UTC and ErrNoZoneData", l, err)
	}
	if got := Time(time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC), l); got != "01/07/2026 12:00:00 UTC" {
		t.Errorf("fallback shows %q; want the zone written as UTC", got)
	}
}

func FuzzOneLine(f *testing.F) {
	for _, s := range []string{"a\nb", "\x1b[31m", "\xff", `\`, "\u202e", "ok"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := OneLine(s)
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' || r == '\u202e' {
				t.Fatalf("OneLine(%q) = %q keeps %U", s, got, r)
			}
		}
		if !strings.ContainsAny(s, "\\") && !needsEscape(s) && got != s {
			t.Fatalf("OneLine changed safe text %q to %q", s, got)
		}
		// The escaping is unambiguous: Go's unquoting reads it back.
		if back, err := strconv.Unquote(`"` + strings.ReplaceAll(got, `"`, `\"`) + `"`); err != nil || back != s {
			t.Fatalf("OneLine(%q) = %q reads back as %q, %v", s, got, back, err)
		}
	})
}
