package display

import (
	"go/parser"
	"go/token"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests, not the library, embed the zone database

	"github.com/meshcanary/canary/internal/textfmt"
)

func TestFormatTimeAcrossClockChanges(t *testing.T) {
	// 2026: BST from 29 March 01:00 UTC to 25 October 01:00 UTC.
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC), "15/01/2026 09:30:00 GMT"},
		{time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC), "29/03/2026 00:59:59 GMT"},
		{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), "29/03/2026 02:00:00 BST"},
		{time.Date(2026, 7, 1, 23, 30, 0, 0, time.UTC), "02/07/2026 00:30:00 BST"},
		{time.Date(2026, 10, 25, 0, 59, 59, 0, time.UTC), "25/10/2026 01:59:59 BST"},
		{time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC), "25/10/2026 01:00:00 GMT"},
		{time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC), "31/12/2026 23:59:59 GMT"},
		// The zone of t does not matter, only the instant.
		{time.Date(2026, 6, 1, 12, 0, 0, 0, time.FixedZone("EST", -5*3600)), "01/06/2026 18:00:00 BST"},
	} {
		if got := FormatTime(tc.t); got != tc.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatTimeIn(time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), tokyo); got != "29/03/2026 10:00:00 JST" {
		t.Errorf("FormatTimeIn(Tokyo) = %q", got)
	}
	if got := FormatTimeIn(time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), nil); got != "29/03/2026 02:00:00 BST" {
		t.Errorf("FormatTimeIn(nil) = %q, want the default location", got)
	}
}

func TestDefaultLocation(t *testing.T) {
	l, err := DefaultLocation()
	if err != nil || l.String() != DefaultZone {
		t.Fatalf("DefaultLocation() = %v, %v", l, err)
	}
	// The constants are written out for go doc; the code is textfmt's.
	if DefaultZone != textfmt.DefaultZone || Layout != textfmt.Layout || ErrNoZoneData != textfmt.ErrNoZoneData {
		t.Error("display's constants differ from internal/textfmt's")
	}
}

func TestFormatNumberUK(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		prec int
		want string
	}{
		{1234567.891, 3, "1,234,567.891"},
		{1234567.891, 0, "1,234,568"},
		{-1234.5, 2, "-1,234.5"},
		{999.999, 2, "1,000"},
		{0.0001, 2, "0"},
		{-0.0001, 2, "0"},
		{math.Copysign(0, -1), 2, "0"},
		{100, 2, "100"},
		{123456, -1, "123,456"},
		{0.1, -1, "0.1"},
		{math.NaN(), 2, "NaN"},
		{math.Inf(1), 2, "∞"},
		{math.Inf(-1), 2, "-∞"},
	} {
		if got := FormatNumber(tc.v, tc.prec); got != tc.want {
			t.Errorf("FormatNumber(%v, %d) = %q, want %q", tc.v, tc.prec, got, tc.want)
		}
	}
}

func TestFormatPercent(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0.0523, "5.23 %"},
		{1, "100 %"},
		{12.345678, "1,234.57 %"},
		{math.Inf(1), "∞ %"}, // was "+,Inf %"
		{math.Inf(-1), "-∞ %"},
		{math.NaN(), "NaN %"},
	} {
		if got := FormatPercent(tc.f); got != tc.want {
			t.Errorf("FormatPercent(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestOneLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, £5 and café", "plain text, £5 and café"},
		{"a\nb", `a\nb`},
		{"a\r\n2026-01-01 fake line", `a\r\n2026-01-01 fake line`},
		{"\x1b[2J\x1b]0;title\x07", `\x1b[2J\x1b]0;title\x07`},
		{"csi \u009b31m", `csi \u009b31m`},
		{"tab\there", `tab\there`},
		{"del\x7f", `del\x7f`},
		{"nul\x00", `nul\x00`},
		{"bad \xff utf8", `bad \xff utf8`},
		{`back\slash`, `back\\slash`},
		{"rtl \u202eevil\u202c", `rtl \u202eevil\u202c`},
		{"sep\u2028line", `sep\u2028line`},
		{"tag \U000E0041", `tag \U000e0041`},
		{"", ""},
	} {
		got := OneLine(tc.in)
		if got != tc.want {
			t.Errorf("OneLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestNoEmbeddedZoneDatabase: the library leaves embedding time/tzdata to
// the program's main package.
func TestNoEmbeddedZoneDatabase(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if imp.Path.Value == `"time/tzdata"` {
				t.Errorf("%s imports time/tzdata", name)
			}
		}
	}
}
