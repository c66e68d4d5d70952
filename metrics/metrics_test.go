package metrics_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

func TestResultCheck(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := (metrics.Result{Value: v}).Check(); !errors.Is(err, metrics.ErrNoData) {
			t.Errorf("Check(%v) = %v, want ErrNoData", v, err)
		}
	}
	r, err := metrics.Result{Value: 0, Samples: []float64{1, math.NaN(), 2, math.Inf(1)}}.Check()
	if err != nil || r.Value != 0 || len(r.Samples) != 2 || r.Samples[1] != 2 {
		t.Errorf("Check kept %+v, %v; want zero kept as a value and NaN/Inf samples dropped", r, err)
	}
	if _, err := (metrics.Result{Value: 1, Count: -1}).Check(); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("negative count: %v", err)
	}
	// The caller's samples are never changed; all-finite ones are kept,
	// none left is nil.
	in := []float64{math.NaN(), 3, math.Inf(-1), 4}
	r, err = metrics.Result{Samples: in}.Check()
	if err != nil || fmt.Sprint(r.Samples) != "[3 4]" || !math.IsNaN(in[0]) || in[1] != 3 || !math.IsInf(in[2], -1) || in[3] != 4 {
		t.Errorf("Check(%v) = %v, %v; the caller's slice must stay as it was", in, r.Samples, err)
	}
	fine := []float64{1, 2}
	if r, _ := (metrics.Result{Samples: fine}).Check(); fmt.Sprint(r.Samples) != "[1 2]" {
		t.Errorf("Check of finite samples = %v", r.Samples)
	}
	for _, s := range [][]float64{{}, {math.NaN()}} {
		if r, _ := (metrics.Result{Samples: s}).Check(); r.Samples != nil {
			t.Errorf("Check(%v) = %#v, want nil samples", s, r.Samples)
		}
	}
}

func TestQueryValidate(t *testing.T) {
	end := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		q     metrics.Query
		field string
	}{
		{metrics.Query{Text: "up", Window: time.Minute, End: end}, ""},
		{metrics.Query{Window: time.Minute, End: end}, "Query.Text"},
		{metrics.Query{Text: "up", End: end}, "Query.Window"},
		{metrics.Query{Text: "up", Window: -time.Second, End: end}, "Query.Window"},
		{metrics.Query{Text: "up", Window: time.Minute}, "Query.End"},
	} {
		err := tc.q.Validate()
		var fe *canary.FieldError
		if (tc.field == "" && err != nil) || (tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field)) {
			t.Errorf("Validate(%+v) = %v, want field %q", tc.q, err, tc.field)
		}
	}
}

func TestTemplateRefusesHostileValues(t *testing.T) {
	promql := metrics.MustParse(metrics.PromQL, "errors", `sum(rate(reqs{ns="{{namespace}}",version="{{version}}",code=~"5.."}[{{window}}]))`)
	nrql := metrics.MustParse(metrics.NRQL, "errors", `SELECT percentage(count(*), WHERE error IS true) FROM Transaction WHERE appName = '{{workload}}' AND version = '{{version}}'`)
	dd := metrics.MustParse(metrics.Datadog, "errors", `sum:trace.http.request.errors{service:{{service}},version:{{version}}}.as_count().rollup(sum, {{window}})`)
	good := metrics.Vars{Namespace: "shop", Workload: "checkout", Service: "checkout", Version: "v2.1_rc-3", Window: 2 * time.Minute}
	for _, tc := range []struct {
		tmpl metrics.Template
		want string
	}{
		{promql, `sum(rate(reqs{ns="shop",version="v2.1_rc-3",code=~"5.."}[120s]))`},
		{nrql, `SELECT percentage(count(*), WHERE error IS true) FROM Transaction WHERE appName = 'checkout' AND version = 'v2.1_rc-3'`},
		{dd, `sum:trace.http.request.errors{service:checkout,version:v2.1_rc-3}.as_count().rollup(sum, 120)`},
	} {
		got, err := tc.tmpl.Render(good)
		if err != nil || got != tc.want {
			t.Errorf("%v Render = %q, %v; want %q", tc.tmpl.Dialect(), got, err, tc.want)
		}
	}
	hostile := []string{
		`v2"} or vector(1) #`, `v2'} OR 1=1 --`, "v2\nor", `v2"`, `v2'`, `{v2}`, `v2,env:prod`, "", " v2", "v2 ", "-v2",
		"v2)", `v2\`, "v2/../x", strings.Repeat("a", 254), "v2|x", "v2\x00",
	}
	for _, tmpl := range []metrics.Template{promql, nrql, dd} {
		for _, h := range hostile {
			v := good
			v.Version = h
			out, err := tmpl.Render(v)
			var fe *canary.FieldError
			if !errors.As(err, &fe) || fe.Field != "Vars.Version" {
				t.Errorf("%v: Render with version %q = %q, %v; want a FieldError naming Vars.Version", tmpl.Dialect(), h, out, err)
			}
		}
	}
	for _, w := range []time.Duration{0, -time.Minute, 1500 * time.Millisecond} {
		v := good
		v.Window = w
		if _, err := promql.Render(v); !errors.Is(err, canary.ErrInvalid) {
			t.Errorf("window %v: %v, want ErrInvalid", w, err)
		}
	}
}

func TestParseRefusesUnsafeTemplates(t *testing.T) {
	for _, tc := range []struct {
		d    metrics.Dialect
		text string
	}{
		{metrics.PromQL, `sum(rate(reqs{version={{version}}}[1m]))`},     // unquoted label value
		{metrics.PromQL, `reqs{version="v1"} or {{version}}`},            // outside any string
		{metrics.NRQL, `SELECT count(*) FROM T WHERE v = "{{version}}"`}, // NRQL strings are single-quoted
		{metrics.Datadog, `sum:reqs{*} by {{version}}`},                  // outside a tag scope
		{metrics.PromQL, `reqs{version="{{Version}}"}`},                  // malformed placeholder
		{metrics.PromQL, `reqs{version="{{version"}`},                    // unclosed
		{metrics.PromQL, "   "},
		{metrics.Dialect(9), `up`},
	} {
		if _, err := metrics.Parse(tc.d, "t", tc.text); !errors.Is(err, canary.ErrInvalid) {
			t.Errorf("Parse(%v, %q) = %v, want ErrInvalid", tc.d, tc.text, err)
		}
	}
	// Escaped quotes inside a PromQL string do not end it.
	if _, err := metrics.Parse(metrics.PromQL, "t", `reqs{path="a\"b",version="{{version}}"}`); err != nil {
		t.Errorf("escaped quote: %v", err)
	}
	extra := metrics.MustParse(metrics.PromQL, "t", `reqs{cluster="{{cluster}}"}`)
	if _, err := extra.Render(metrics.Vars{}); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("missing extra variable: %v", err)
	}
	if got, err := extra.Render(metrics.Vars{Extra: map[string]string{"cluster": "eu-west-2"}}); err != nil || got != `reqs{cluster="eu-west-2"}` {
		t.Errorf("extra variable: %q %v", got, err)
	}
	if _, err := (metrics.Template{}).Render(metrics.Vars{}); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("zero Template rendered: %v", err)
	}
}

func FuzzTemplateRender(f *testing.F) {
	tmpl := metrics.MustParse(metrics.PromQL, "t", `sum(rate(reqs{version="{{version}}"}[{{window}}]))`)
	for _, s := range []string{"v1", `v2"} or vector(1)`, "a\nb", "ü", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		out, err := tmpl.Render(metrics.Vars{Version: v, Window: time.Minute})
		if err != nil {
			return
		}
		// Whatever was accepted stands inside the quotes and nowhere else.
		want := `sum(rate(reqs{version="` + v + `"}[60s]))`
		if out != want || strings.ContainsAny(v, "\"'`{}\\ \n\r\t") {
			t.Fatalf("accepted %q and rendered %q", v, out)
		}
	})
}

func ExampleTemplate_Render() {
	tmpl, err := metrics.Parse(metrics.PromQL, "error-rate",
		`sum(rate(istio_requests_total{destination_version="{{version}}",response_code=~"5.."}[{{window}}]))`)
	if err != nil {
		fmt.Println(err)
		return
	}
	q, _ := tmpl.Render(metrics.Vars{Version: "v2", Window: 2 * time.Minute})
	fmt.Println(q)
	_, err = tmpl.Render(metrics.Vars{Version: `v2"} or vector(1) #`, Window: 2 * time.Minute})
	fmt.Println(err)
	// Output:
	// sum(rate(istio_requests_total{destination_version="v2",response_code=~"5.."}[120s]))
	// invalid Vars.Version ("v2\"} or vector(1) #"): must be letters, digits, '-', '_' or '.', start and end with a letter or digit, and be 1 to 253 characters
}
