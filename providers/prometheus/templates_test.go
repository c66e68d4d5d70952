package prometheus_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/prometheus"
)

func allTemplates(t *testing.T) map[string]metrics.Template {
	t.Helper()
	out := map[string]metrics.Template{}
	istio, err := prometheus.IstioQueries(prometheus.IstioLabels{})
	if err != nil {
		t.Fatal(err)
	}
	envoy, err := prometheus.EnvoyQueries(prometheus.EnvoyLabels{})
	if err != nil {
		t.Fatal(err)
	}
	for _, qs := range []prometheus.Queries{istio, envoy} {
		for _, tmpl := range []metrics.Template{qs.RequestRate, qs.RequestCount, qs.SuccessRate, qs.ErrorRate, qs.LatencyP50, qs.LatencyP95, qs.LatencyP99} {
			out[tmpl.Name()] = tmpl
		}
	}
	return out
}

func TestTemplatesRender(t *testing.T) {
	tmpls := allTemplates(t)
	if len(tmpls) != 14 {
		t.Fatalf("%d distinct templates, want 14", len(tmpls))
	}
	vars := metrics.Vars{Namespace: "shop", Workload: "cart", Version: "v2", Window: 2 * time.Minute}
	for name, tmpl := range tmpls {
		if tmpl.Dialect() != metrics.PromQL {
			t.Errorf("%s: dialect %v", name, tmpl.Dialect())
		}
		text, err := tmpl.Render(vars)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, want := range []string{`"shop"`, `"cart"`, `"v2"`, `[120s]`} {
			if !strings.Contains(text, want) {
				t.Errorf("%s = %s; lacks %s", name, text, want)
			}
		}
		if strings.Contains(text, "{{") {
			t.Errorf("%s left a placeholder: %s", name, text)
		}
	}
	want := map[string]string{
		"istio_error_rate": `(sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="shop",destination_workload="cart",destination_version="v2",response_code=~"5.."}[120s])) or vector(0)) / sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="shop",destination_workload="cart",destination_version="v2"}[120s]))`,
		// Envoy's histogram is in milliseconds; the template answers in
		// seconds, the module's unit (issue 19 item 4).
		"envoy_latency_p99": `histogram_quantile(0.99, sum by (le) (rate(envoy_cluster_upstream_rq_time_bucket{kubernetes_namespace="shop",app="cart",version="v2"}[120s]))) / 1000`,
		"istio_latency_p50": `histogram_quantile(0.5, sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="shop",destination_workload="cart",destination_version="v2"}[120s]))) / 1000`,
	}
	for name, w := range want {
		if got, _ := tmpls[name].Render(vars); got != w {
			t.Errorf("%s =\n%s\nwant\n%s", name, got, w)
		}
	}
}

// TestHostileValuesRefused renders every built-in template with values that
// would change the query if pasted in; each must be refused with a
// FieldError naming the variable.
func TestHostileValuesRefused(t *testing.T) {
	hostile := []string{
		`cart"} or vector(1) or {x="`,
		`cart"`,
		`cart}`,
		`cart{`,
		"cart\nor vector(1)",
		`cart or vector(1)`,
		`cart\`,
		`.*`,
		``,
	}
	for name, tmpl := range allTemplates(t) {
		for _, h := range hostile {
			for field, vars := range map[string]metrics.Vars{
				"Vars.Namespace": {Namespace: h, Workload: "cart", Version: "v1", Window: time.Minute},
				"Vars.Workload":  {Namespace: "shop", Workload: h, Version: "v1", Window: time.Minute},
				"Vars.Version":   {Namespace: "shop", Workload: "cart", Version: h, Window: time.Minute},
			} {
				text, err := tmpl.Render(vars)
				var fe *canary.FieldError
				if !errors.As(err, &fe) || fe.Field != field {
					t.Errorf("%s with %s=%q = (%q, %v), want a FieldError on %s", name, field, h, text, err, field)
				}
			}
		}
		for _, w := range []time.Duration{0, -time.Second, 1500 * time.Millisecond} {
			_, err := tmpl.Render(metrics.Vars{Namespace: "shop", Workload: "cart", Version: "v1", Window: w})
			var fe *canary.FieldError
			if !errors.As(err, &fe) || fe.Field != "Vars.Window" {
				t.Errorf("%s with window %v = %v, want a FieldError on Vars.Window", name, w, err)
			}
		}
	}
}

func TestCustomLabels(t *testing.T) {
	qs, err := prometheus.IstioQueries(prometheus.IstioLabels{Version: "version", Reporter: "source_or_dest", ReporterIs: "source"})
	if err != nil {
		t.Fatal(err)
	}
	text, err := qs.SuccessRate.Render(metrics.Vars{Namespace: "n", Workload: "w", Version: "v", Window: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`version="v"`, `source_or_dest="source"`, `destination_workload="w"`} {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %s", text, want)
		}
	}
	if strings.Contains(text, "destination_version") {
		t.Errorf("%s still uses destination_version", text)
	}

	for _, c := range []struct {
		err   error
		field string
	}{
		{func() error {
			_, err := prometheus.IstioQueries(prometheus.IstioLabels{Version: `v"} or {`})
			return err
		}(), "IstioLabels.Version"},
		{func() error { _, err := prometheus.IstioQueries(prometheus.IstioLabels{ReporterIs: `a"b`}); return err }(), "IstioLabels.ReporterIs"},
		{func() error { _, err := prometheus.EnvoyQueries(prometheus.EnvoyLabels{Requests: "1abc"}); return err }(), "EnvoyLabels.Requests"},
		{func() error {
			_, err := prometheus.EnvoyQueries(prometheus.EnvoyLabels{Workload: "pod name"})
			return err
		}(), "EnvoyLabels.Workload"},
		{func() error { _, err := (prometheus.Queries{}).Latency(0.9); return err }(), "Queries"},
		{func() error { _, err := qs.Latency(1); return err }(), "phi"},
		{func() error { _, err := qs.Latency(0); return err }(), "phi"},
	} {
		var fe *canary.FieldError
		if !errors.As(c.err, &fe) || fe.Field != c.field {
			t.Errorf("err = %v, want a FieldError on %s", c.err, c.field)
		}
	}
	p90, err := qs.Latency(0.9)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p90.Text(), "histogram_quantile(0.9, ") || p90.Name() != "istio_latency_p90" {
		t.Errorf("Latency(0.9) = %s %s", p90.Name(), p90.Text())
	}
}

// TestLatencyInSeconds is issue 19 item 4: the latency templates answer in
// seconds, the module's unit, dividing Istio's and Envoy's millisecond
// histograms by 1000 and leaving a histogram named in seconds alone.
func TestLatencyInSeconds(t *testing.T) {
	vars := metrics.Vars{Namespace: "shop", Workload: "cart", Version: "v2", Window: time.Minute}
	for _, tc := range []struct {
		labels  prometheus.IstioLabels
		seconds bool
	}{
		{prometheus.IstioLabels{}, false},
		{prometheus.IstioLabels{Duration: "istio_request_duration_seconds"}, true},
	} {
		qs, err := prometheus.IstioQueries(tc.labels)
		if err != nil {
			t.Fatal(err)
		}
		for _, tmpl := range []metrics.Template{qs.LatencyP50, qs.LatencyP95, qs.LatencyP99} {
			text, err := tmpl.Render(vars)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.HasSuffix(text, ") / 1000"); got == tc.seconds {
				t.Errorf("%s: %s; divided by 1000: %v, want %v", tc.labels.Duration, text, got, !tc.seconds)
			}
		}
	}
	envoy, _ := prometheus.EnvoyQueries(prometheus.EnvoyLabels{})
	p90, err := envoy.Latency(0.9)
	if err != nil {
		t.Fatal(err)
	}
	if text, _ := p90.Render(vars); !strings.HasSuffix(text, ") / 1000") {
		t.Errorf("Envoy p90 %s is not converted to seconds", text)
	}
}
