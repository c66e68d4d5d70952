package prometheus

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// Queries is a set of built-in PromQL templates for one source of mesh
// metrics. Each selects one workload's version with {{namespace}},
// {{workload}} and {{version}} and uses {{window}} as the rate window, so
// render it with [metrics.Vars]{Namespace, Workload, Version, Window}.
// A workload with series but no requests in the window gives NaN for the
// ratios and latencies ([metrics.ErrNoData]), and one with no series gives an
// empty result ([metrics.ErrNoData] too); RequestRate is then 0 or no data.
type Queries struct {
	// RequestRate is requests per second over the window.
	RequestRate metrics.Template
	// RequestCount is the number of requests in the window (Prometheus's
	// increase(), which extrapolates to the window's edges, so it is
	// approximate); use it with Provider.WithCount.
	RequestCount metrics.Template
	// SuccessRate is the fraction (0 to 1) of requests that did not answer
	// 5xx.
	SuccessRate metrics.Template
	// ErrorRate is the fraction (0 to 1) of requests that answered 5xx.
	ErrorRate metrics.Template
	// LatencyP50, LatencyP95 and LatencyP99 are latency quantiles in
	// seconds, the module's unit for every duration (as
	// analysis.PresetMetrics and providers/httpsplit), from
	// histogram_quantile over the rate of the buckets (linear
	// interpolation inside a bucket). A histogram in milliseconds (Istio's
	// and Envoy's standard ones) is divided by 1000 in the query.
	LatencyP50 metrics.Template
	LatencyP95 metrics.Template
	LatencyP99 metrics.Template

	latency func(phi float64) (metrics.Template, error)
}

// Latency returns a template for the latency quantile phi (0 < phi < 1) in
// seconds.
func (q Queries) Latency(phi float64) (metrics.Template, error) {
	if !(phi > 0 && phi < 1) {
		return metrics.Template{}, canary.Invalid("phi", phi, "must be between 0 and 1, exclusive")
	}
	if q.latency == nil {
		return metrics.Template{}, canary.Invalid("Queries", nil, "is the zero Queries; build it with IstioQueries or EnvoyQueries")
	}
	return q.latency(phi)
}

// IstioLabels names what the Istio templates select on. Empty fields take
// Istio's standard names (shown in brackets).
type IstioLabels struct {
	Requests string // request counter [istio_requests_total]
	// Duration is the latency histogram [istio_request_duration_milliseconds].
	// A name ending in "_seconds" is read as seconds; any other as
	// milliseconds (Istio's unit), converted to seconds in the query.
	Duration     string
	Reporter     string // reporter label [reporter]
	ReporterIs   string // reporter value [destination]
	Namespace    string // [destination_workload_namespace]
	Workload     string // [destination_workload]
	Version      string // [destination_version]
	ResponseCode string // [response_code]
}

func (l IstioLabels) withDefaults() IstioLabels {
	def(&l.Requests, "istio_requests_total")
	def(&l.Duration, "istio_request_duration_milliseconds")
	def(&l.Reporter, "reporter")
	def(&l.ReporterIs, "destination")
	def(&l.Namespace, "destination_workload_namespace")
	def(&l.Workload, "destination_workload")
	def(&l.Version, "destination_version")
	def(&l.ResponseCode, "response_code")
	return l
}

// IstioQueries returns the Istio templates. The zero IstioLabels gives
// Istio's standard metrics, as reported by the destination's sidecar.
func IstioQueries(l IstioLabels) (Queries, error) {
	l = l.withDefaults()
	if err := checkNames("IstioLabels", map[string]string{
		"Requests": l.Requests, "Duration": l.Duration, "Reporter": l.Reporter, "Namespace": l.Namespace,
		"Workload": l.Workload, "Version": l.Version, "ResponseCode": l.ResponseCode,
	}); err != nil {
		return Queries{}, err
	}
	if !metrics.ValidValue(l.ReporterIs) {
		return Queries{}, canary.Invalid("IstioLabels.ReporterIs", strconv.Quote(l.ReporterIs), "must be letters, digits, '-', '_' or '.'")
	}
	sel := fmt.Sprintf(`%s="%s",%s="{{namespace}}",%s="{{workload}}",%s="{{version}}"`,
		l.Reporter, l.ReporterIs, l.Namespace, l.Workload, l.Version)
	return build("istio", l.Requests, l.Duration, sel, l.ResponseCode)
}

// EnvoyLabels names what the Envoy (App Mesh, Envoy Gateway, Consul…)
// templates select on. Envoy's own metrics carry no workload labels; they
// come from the scrape's relabelling (Kubernetes pod labels), so the
// defaults are the usual ones (shown in brackets).
type EnvoyLabels struct {
	Requests string // request counter [envoy_cluster_upstream_rq]
	// Duration is the latency histogram [envoy_cluster_upstream_rq_time],
	// in milliseconds (Envoy's unit) unless its name ends in "_seconds";
	// the templates convert it to seconds.
	Duration     string
	Namespace    string // [kubernetes_namespace]
	Workload     string // [app]
	Version      string // [version]
	ResponseCode string // [envoy_response_code]
}

func (l EnvoyLabels) withDefaults() EnvoyLabels {
	def(&l.Requests, "envoy_cluster_upstream_rq")
	def(&l.Duration, "envoy_cluster_upstream_rq_time")
	def(&l.Namespace, "kubernetes_namespace")
	def(&l.Workload, "app")
	def(&l.Version, "version")
	def(&l.ResponseCode, "envoy_response_code")
	return l
}

// EnvoyQueries returns the Envoy/App Mesh templates. The 5xx class is
// selected with a regular expression on the response code label.
func EnvoyQueries(l EnvoyLabels) (Queries, error) {
	l = l.withDefaults()
	if err := checkNames("EnvoyLabels", map[string]string{
		"Requests": l.Requests, "Duration": l.Duration, "Namespace": l.Namespace,
		"Workload": l.Workload, "Version": l.Version, "ResponseCode": l.ResponseCode,
	}); err != nil {
		return Queries{}, err
	}
	sel := fmt.Sprintf(`%s="{{namespace}}",%s="{{workload}}",%s="{{version}}"`, l.Namespace, l.Workload, l.Version)
	return build("envoy", l.Requests, l.Duration, sel, l.ResponseCode)
}

// build makes the templates; duration is the latency histogram's name.
func build(prefix, requests, duration, sel, code string) (Queries, error) {
	buckets := duration + "_bucket"
	toSeconds := " / 1000" // Istio and Envoy histograms are in milliseconds
	if strings.HasSuffix(duration, "_seconds") {
		toSeconds = ""
	}
	parse := func(name, text string) (metrics.Template, error) {
		return metrics.Parse(metrics.PromQL, prefix+"_"+name, text)
	}
	all := fmt.Sprintf(`sum(rate(%s{%s}[{{window}}]))`, requests, sel)
	fivexx := fmt.Sprintf(`sum(rate(%s{%s,%s=~"5.."}[{{window}}]))`, requests, sel, code)
	notFivexx := fmt.Sprintf(`sum(rate(%s{%s,%s!~"5.."}[{{window}}]))`, requests, sel, code)
	latency := func(phi float64) (metrics.Template, error) {
		p := strconv.FormatFloat(phi, 'f', -1, 64)
		return parse("latency_p"+percentile(p),
			fmt.Sprintf(`histogram_quantile(%s, sum by (le) (rate(%s{%s}[{{window}}])))%s`, p, buckets, sel, toSeconds))
	}
	q := Queries{latency: latency}
	var err error
	for _, t := range []struct {
		dst        *metrics.Template
		name, text string
	}{
		{&q.RequestRate, "request_rate", all},
		{&q.RequestCount, "request_count", fmt.Sprintf(`sum(increase(%s{%s}[{{window}}]))`, requests, sel)},
		// A class with no series at all (no 5xx ever answered) counts as 0
		// rather than making the ratio empty; no requests at all still give
		// 0/0, which is no data.
		{&q.SuccessRate, "success_rate", "(" + notFivexx + " or vector(0)) / " + all},
		{&q.ErrorRate, "error_rate", "(" + fivexx + " or vector(0)) / " + all},
	} {
		if *t.dst, err = parse(t.name, t.text); err != nil {
			return Queries{}, err
		}
	}
	for dst, phi := range map[*metrics.Template]float64{&q.LatencyP50: 0.5, &q.LatencyP95: 0.95, &q.LatencyP99: 0.99} {
		if *dst, err = latency(phi); err != nil {
			return Queries{}, err
		}
	}
	return q, nil
}

// percentile writes a quantile ("0.9", "0.999") as a percentile ("90",
// "99.9") for a template's name.
func percentile(phi string) string {
	d := strings.TrimPrefix(phi, "0.")
	switch {
	case len(d) == 1:
		return d + "0"
	case len(d) > 2:
		return d[:2] + "." + d[2:]
	}
	return d
}

func def(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

// nameRE is Prometheus's metric and label name syntax, less the colon
// (reserved for recording rules).
var nameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func checkNames(typ string, names map[string]string) error {
	for _, k := range sortedKeys(names) {
		if v := names[k]; !nameRE.MatchString(v) {
			return canary.Invalid(typ+"."+k, strconv.Quote(v), "must be a Prometheus name ([a-zA-Z_][a-zA-Z0-9_]*)")
		}
	}
	return nil
}
