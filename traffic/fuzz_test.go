package traffic_test

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
)

// FuzzSplit: Validate never panics and refuses with a *canary.FieldError;
// a split it accepts survives JSON unchanged (so a snapshot holding it
// restores it), has weights summing to 100 and a test route that is valid
// UTF-8, and prints.
func FuzzSplit(f *testing.F) {
	f.Add(90, 10, 0, "", "")
	f.Add(100, 0, 5, "x-canary", "always")
	f.Add(50, 50, 100, "X-Test", "\xff\xfe")
	f.Add(-1, 101, 0, "bad name", "v")
	f.Add(0, 100, 0, "x", "line\nbreak")
	f.Fuzz(func(t *testing.T, stable, canaryWeight, mirror int, name, value string) {
		s := traffic.Split{Stable: stable, Canary: canaryWeight, Mirror: mirror,
			TestRoute: traffic.HeaderRoute{Name: name, Value: value}}
		_ = s.String()
		err := s.Validate()
		if err != nil {
			var fe *canary.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, canary.ErrInvalid) {
				t.Fatalf("Validate(%+v) = %v, want a *canary.FieldError", s, err)
			}
			return
		}
		if s.Stable+s.Canary != 100 {
			t.Fatalf("accepted %+v whose weights do not sum to 100", s)
		}
		if !utf8.ValidString(s.TestRoute.Name) || !utf8.ValidString(s.TestRoute.Value) {
			t.Fatalf("accepted a test route that is not valid UTF-8: %q=%q", s.TestRoute.Name, s.TestRoute.Value)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back traffic.Split
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back != s {
			t.Fatalf("JSON round trip: %+v became %+v (%s)", s, back, b)
		}
	})
}
