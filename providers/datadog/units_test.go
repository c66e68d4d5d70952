package datadog_test

import (
	"context"
	"math"
	"net/http"
	"testing"

	"github.com/meshcanary/canary/providers/datadog"
)

// withUnit rewrites an answer body's unit metadata to unit.
func withUnit(body map[string]any, unit []any) map[string]any {
	attrs := body["data"].(map[string]any)["attributes"].(map[string]any)
	if cols, ok := attrs["columns"].([]any); ok {
		for _, c := range cols {
			if m := c.(map[string]any); m["type"] == "number" {
				m["meta"] = map[string]any{"unit": unit}
			}
		}
	}
	if series, ok := attrs["series"].([]any); ok {
		for _, sr := range series {
			sr.(map[string]any)["unit"] = unit
		}
	}
	return body
}

// TestTimeUnitsReadAsSeconds is issue 19 item 4: a value Datadog reports
// in a time unit is converted to seconds, the module's unit, in the
// scalar value and in the timeseries points; other units are left alone.
func TestTimeUnitsReadAsSeconds(t *testing.T) {
	ms := []any{map[string]any{"family": "time", "name": "millisecond", "scale_factor": 0.001, "short_name": "ms", "plural": "milliseconds"}, nil}
	us := []any{map[string]any{"family": "time", "name": "microsecond"}, nil}
	bytes := []any{map[string]any{"family": "bytes", "name": "byte"}, nil}
	perReq := []any{map[string]any{"family": "time", "name": "millisecond"}, map[string]any{"family": "network", "name": "request"}}
	for _, tc := range []struct {
		name string
		unit []any
		want float64
	}{
		{"millisecond", ms, 0.25},
		{"microsecond", us, 0.00025},
		{"byte", bytes, 250},
		{"millisecond per request", perReq, 250},
		{"no unit", []any{nil}, 250},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			s.handle("p99:trace.http.request{service:web}", func(t *testing.T, w http.ResponseWriter, _ *http.Request, kind string, req request, _ int) {
				if kind == "scalar" {
					writeJSON(w, http.StatusOK, withUnit(scalarBody(nil, f(250)), tc.unit))
					return
				}
				a := req.Data.Attributes
				ts := buckets(a.From, a.To, *a.Interval)
				vals := make([]*float64, len(ts))
				for i := range vals {
					vals[i] = f(250)
				}
				writeJSON(w, http.StatusOK, withUnit(timeseriesBody(ts, vals), tc.unit))
			})
			for _, cfg := range []func(*datadog.Config){
				func(c *datadog.Config) { c.Samples = true },
				func(c *datadog.Config) { c.Value = datadog.LatestPoint },
			} {
				r, err := newProvider(t, s, cfg).Query(context.Background(), q("p99:trace.http.request{service:web}"))
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(r.Value-tc.want) > 1e-12 {
					t.Errorf("Value = %v, want %v", r.Value, tc.want)
				}
				for _, v := range r.Samples {
					if math.Abs(v-tc.want) > 1e-12 {
						t.Errorf("sample %v, want %v", v, tc.want)
					}
				}
			}
		})
	}
}
