package spec_test

import (
	"errors"
	"testing"
	"time"

	"github.com/meshcanary/canary"
)

func TestAlarmsInRolloutFile(t *testing.T) {
	ro, err := signalsRollout(t, map[string]any{"alarms": map[string]any{
		"names": []any{"checkout-5xx"}, "tags": []any{map[string]any{"key": "service", "value": "checkout"}}, "region": "eu-west-2"}})
	if err != nil {
		t.Fatal(err)
	}
	a := ro.Signals.Alarms
	if len(a.Names) != 1 || a.Names[0] != "checkout-5xx" || a.TagMap()["service"] != "checkout" || a.For != 0 || a.Region != "eu-west-2" {
		t.Errorf("alarms decoded as %+v", a)
	}
	ro, err = signalsRollout(t, map[string]any{"alarms": map[string]any{"tags": []any{map[string]any{"key": "team", "value": "shop"}}, "for": "2m"}})
	if err != nil || ro.Signals.Alarms.For.D() != 2*time.Minute {
		t.Fatalf("%v %+v", err, ro)
	}
}

func TestAlarmsRefused(t *testing.T) {
	long := make([]byte, 256)
	for i := range long {
		long[i] = 'a'
	}
	for _, c := range []struct {
		alarms map[string]any
		field  string
	}{
		{map[string]any{}, "signals.alarms.names"},
		{map[string]any{"names": []any{"x"}, "for": "-1m"}, "signals.alarms.for"},
		{map[string]any{"names": []any{"x", ""}}, "signals.alarms.names[1]"},
		{map[string]any{"names": []any{string(long)}}, "signals.alarms.names[0]"},
		{map[string]any{"tags": []any{map[string]any{"key": "", "value": "x"}}}, "signals.alarms.tags[0].key"},
		{map[string]any{"tags": []any{map[string]any{"key": "a", "value": "x"}, map[string]any{"key": "a", "value": "y"}}}, "signals.alarms.tags[1].key"},
		{map[string]any{"names": []any{"x"}, "region": "London"}, "signals.alarms.region"},
		{map[string]any{"names": []any{"x"}, "period": "1m"}, "signals.alarms.period"},
	} {
		_, err := signalsRollout(t, map[string]any{"alarms": c.alarms})
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%v: %v, want a FieldError naming %s", c.alarms, err, c.field)
		}
	}
}
