package traffic_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		s     traffic.Split
		field string // "" for valid
	}{
		{traffic.AllStable(), ""},
		{traffic.Weighted(100), ""},
		{traffic.Weighted(37), ""},
		{traffic.Split{Stable: 100, Mirror: 100}, ""},
		{traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "smoke test"}}, ""},
		{traffic.Split{}, "Split.Canary"},
		{traffic.Split{Stable: 101, Canary: -1}, "Split.Canary"},
		{traffic.Split{Stable: 101, Canary: 0}, "Split.Stable"},
		{traffic.Split{Stable: 50, Canary: 51}, "Split.Canary"},
		{traffic.Split{Stable: -5, Canary: 105}, "Split.Canary"},
		{traffic.Split{Stable: 0, Canary: 101}, "Split.Canary"},
		{traffic.Split{Stable: 100, Mirror: -1}, "Split.Mirror"},
		{traffic.Split{Stable: 100, Mirror: 101}, "Split.Mirror"},
		{traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "", Value: "a"}}, "Split.TestRoute.Name"},
		{traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x canary", Value: "a"}}, "Split.TestRoute.Name"},
		{traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x:y", Value: "a"}}, "Split.TestRoute.Name"},
		{traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: ""}}, "Split.TestRoute.Value"},
		{traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "a\r\nSet-Cookie: x"}}, "Split.TestRoute.Value"},
		{traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "caf\xe9"}}, "Split.TestRoute.Value"},
		{traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "\xff\xfe"}}, "Split.TestRoute.Value"},
		{traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "café ✓"}}, ""},
		{traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Value: "a"}}, "Split.TestRoute.Name"},
	} {
		err := tc.s.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", tc.s, err)
			}
			continue
		}
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, canary.ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, want a FieldError naming %s", tc.s, err, tc.field)
		}
	}
}

func TestSplitIsAComparableValue(t *testing.T) {
	a := traffic.Split{Stable: 90, Canary: 10, TestRoute: traffic.HeaderRoute{Name: "x", Value: "1"}}
	b := a
	b.TestRoute.Value = "2"
	if a.TestRoute.Value != "1" {
		t.Error("changing a copy changed the original")
	}
	if a == b || a.Equal(b) {
		t.Error("splits with different test routes compare equal")
	}
	b.TestRoute.Value = "1"
	if a != b || !a.Equal(b) {
		t.Error("equal splits compare different")
	}
	if a == traffic.Weighted(10) || traffic.Weighted(10) == (traffic.Split{Stable: 90, Canary: 10, Mirror: 1}) {
		t.Error("different splits compare equal")
	}
	if traffic.Weighted(10).HasTestRoute() || !a.HasTestRoute() {
		t.Error("HasTestRoute wrong")
	}
}

// The JSON shape is the one snapshots and events hold: no testRoute key
// without a test route, and a UTF-8 test value survives a round trip.
func TestSplitJSON(t *testing.T) {
	for _, tc := range []struct {
		s    traffic.Split
		want string
	}{
		{traffic.Weighted(10), `{"stable":90,"canary":10}`},
		{traffic.Split{Stable: 100, Mirror: 5, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "café"}},
			`{"stable":100,"canary":0,"mirror":5,"testRoute":{"name":"x-canary","value":"café"}}`},
	} {
		b, err := json.Marshal(tc.s)
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.s, b, err, tc.want)
		}
		var back traffic.Split
		if err := json.Unmarshal(b, &back); err != nil || back != tc.s {
			t.Errorf("round trip of %v = %v, %v", tc.s, back, err)
		}
	}
}

func ExampleSplit_Validate() {
	err := traffic.Split{Stable: 80, Canary: 30}.Validate()
	fmt.Println(err)
	var fe *canary.FieldError
	fmt.Println(errors.As(err, &fe), fe.Field)
	fmt.Println(traffic.Weighted(30).Validate())
	// Output:
	// invalid Split.Canary (30): stable 80 + canary 30 must sum to 100
	// true Split.Canary
	// <nil>
}
