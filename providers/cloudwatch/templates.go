package cloudwatch

import (
	"encoding/json"
	"regexp"
	"strconv"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// Queries is a set of built-in CloudWatch query templates for one source
// of mesh metrics. Each selects one version with a dimension whose value
// is a template variable (by default {{version}}), so render it with
// [metrics.Vars]{Version: …} (and Namespace/Workload where the source's
// dimensions use them). Every rate is metric math over the same period
// (errors / requests), and each template also asks for the request count
// (query id "count"), so Result.Count is the number of requests the value
// rests on.
//
// The templates are JSON parsed with [metrics.PromQL]'s safety rule (a
// variable may stand only inside a double-quoted string, and values are
// restricted to [metrics.ValuePattern]), which holds for JSON strings just as
// for PromQL's; the metrics package has no CloudWatch dialect of its own.
// {{window}} is not used: the provider sets the period from the query's
// window. A template of your own must likewise not close two JSON objects
// with adjacent braces ("}}"), which [metrics.Parse] reads as a malformed
// placeholder: write "} }" or one brace a line.
type Queries struct {
	// RequestCount is the number of requests in the window.
	RequestCount metrics.Template
	// ErrorRate is the fraction (0 to 1) of requests answered with a 5xx.
	ErrorRate metrics.Template
	// SuccessRate is 1 - ErrorRate.
	SuccessRate metrics.Template
	// ClientErrorRate is the fraction (0 to 1) answered with a 4xx.
	ClientErrorRate metrics.Template
	// Latency is the mean request time over the window, in seconds (the
	// module's unit for every duration): the source's milliseconds divided
	// by 1000 in metric math. Where the source publishes a unit (VPC
	// Lattice's RequestTime is in Milliseconds), the query names it, so a
	// metric published in another unit reads as no data rather than as a
	// number off by a factor of 1000.
	Latency metrics.Template
}

// LatticeNames names what the Amazon VPC Lattice templates read. Empty
// fields take the names VPC Lattice publishes in the AWS/VpcLattice
// namespace, shown in brackets (VPC Lattice User Guide, "CloudWatch
// metrics for Amazon VPC Lattice",
// https://docs.aws.amazon.com/vpc-lattice/latest/ug/monitoring-cloudwatch.html:
// TotalRequestCount, HTTPCode_4XX_Count and HTTPCode_5XX_Count with the
// Sum statistic, RequestTime in milliseconds; service metrics carry the
// Service dimension, target group metrics the TargetGroup dimension).
// The names could not be checked against a live account here: list what
// your account publishes with
//
//	aws cloudwatch list-metrics --namespace AWS/VpcLattice --dimensions Name=TargetGroup
//
// and override a field if it differs.
type LatticeNames struct {
	Namespace     string // [AWS/VpcLattice]
	Requests      string // [TotalRequestCount]
	ServerErrors  string // [HTTPCode_5XX_Count]
	ClientErrors  string // [HTTPCode_4XX_Count]
	RequestTime   string // request time, published in Milliseconds [RequestTime]
	TargetGroup   string // the dimension that selects a version [TargetGroup]
	TargetGroupIs string // its value, as template text [{{version}}]
}

// LatticeQueries returns templates for VPC Lattice target groups, the
// successor AWS points App Mesh users to. A canary in VPC Lattice is a
// weighted listener rule between two target groups, one per version, so by
// default each version is selected by TargetGroup = {{version}}: render
// with each version's Workload.Version set to its target group's id
// (tg-…), or set TargetGroupIs to another variable ("{{workload}}") or a
// fixed id.
func LatticeQueries(n LatticeNames) (Queries, error) {
	def(&n.Namespace, "AWS/VpcLattice")
	def(&n.Requests, "TotalRequestCount")
	def(&n.ServerErrors, "HTTPCode_5XX_Count")
	def(&n.ClientErrors, "HTTPCode_4XX_Count")
	def(&n.RequestTime, "RequestTime")
	def(&n.TargetGroup, "TargetGroup")
	def(&n.TargetGroupIs, "{{version}}")
	if err := checkNames("LatticeNames", map[string]string{
		"Namespace": n.Namespace, "Requests": n.Requests, "ServerErrors": n.ServerErrors,
		"ClientErrors": n.ClientErrors, "RequestTime": n.RequestTime, "TargetGroup": n.TargetGroup,
	}); err != nil {
		return Queries{}, err
	}
	if err := checkValue("LatticeNames.TargetGroupIs", n.TargetGroupIs); err != nil {
		return Queries{}, err
	}
	dims := []dim{{n.TargetGroup, n.TargetGroupIs}}
	return build("lattice", n.Namespace, dims, n.Requests, n.ServerErrors, n.ClientErrors, n.RequestTime, "Milliseconds")
}

// AppMeshNames names what the App Mesh templates read: Envoy's statistics
// as the CloudWatch agent publishes them from the proxies' Prometheus
// endpoint (Container Insights Prometheus monitoring). Empty fields take
// the names shown in brackets. Envoy's request counters carry no version,
// so the agent's metric_declaration must keep one as a dimension — by
// default the pod label "version", relabelled as a dimension of that name
// — next to the Kubernetes namespace ("Namespace").
//
// CloudWatch matches a metric by its exact set of dimensions, so the
// dimensions here (KubeNS, Version, ExtraDimName, and ClassDim for the
// per-class counter) must be exactly those the agent's metric_declaration
// keeps. AWS's App Mesh sample for Container Insights declares dimension
// sets such as [ClusterName, Namespace, envoy_http_conn_manager_prefix,
// envoy_response_code_class] for envoy_http_downstream_rq_xx (Amazon
// CloudWatch User Guide, "Set up AWS App Mesh sample workload for Amazon
// EKS"); on ECS the agent keys by TaskDefinitionFamily and ClusterName
// instead. Add a version dimension to your declaration and set ExtraDimName
// for ClusterName; a declaration that also keeps
// envoy_http_conn_manager_prefix ("ingress") needs a query written out
// (a JSON array, see the package doc) until a second extra dimension is
// supported.
type AppMeshNames struct {
	Namespace    string // CloudWatch namespace [ContainerInsights/Prometheus]
	Requests     string // downstream request counter [envoy_http_downstream_rq_total]
	ByClass      string // requests by response class [envoy_http_downstream_rq_xx]
	ClassDim     string // the class dimension, valued "4" or "5" [envoy_response_code_class]
	RequestTime  string // downstream request time in ms [envoy_http_downstream_rq_time]
	KubeNS       string // dimension for the Kubernetes namespace [Namespace]
	Version      string // dimension for the version [version]
	KubeNSIs     string // its value as template text [{{namespace}}]
	VersionIs    string // its value as template text [{{version}}]
	ExtraDimName string // an optional further dimension (for example ClusterName) []
	ExtraDimIs   string // its value (template text or fixed) []
}

// AppMeshQueries returns templates for App Mesh's Envoy metrics in
// CloudWatch. App Mesh reached its end of support on 30 September 2026;
// these serve meshes still being migrated.
func AppMeshQueries(n AppMeshNames) (Queries, error) {
	def(&n.Namespace, "ContainerInsights/Prometheus")
	def(&n.Requests, "envoy_http_downstream_rq_total")
	def(&n.ByClass, "envoy_http_downstream_rq_xx")
	def(&n.ClassDim, "envoy_response_code_class")
	def(&n.RequestTime, "envoy_http_downstream_rq_time")
	def(&n.KubeNS, "Namespace")
	def(&n.Version, "version")
	def(&n.KubeNSIs, "{{namespace}}")
	def(&n.VersionIs, "{{version}}")
	names := map[string]string{
		"Namespace": n.Namespace, "Requests": n.Requests, "ByClass": n.ByClass, "ClassDim": n.ClassDim,
		"RequestTime": n.RequestTime, "KubeNS": n.KubeNS, "Version": n.Version,
	}
	if n.ExtraDimName != "" {
		names["ExtraDimName"] = n.ExtraDimName
	}
	if err := checkNames("AppMeshNames", names); err != nil {
		return Queries{}, err
	}
	dims := []dim{{n.KubeNS, n.KubeNSIs}, {n.Version, n.VersionIs}}
	values := map[string]string{"KubeNSIs": n.KubeNSIs, "VersionIs": n.VersionIs}
	if n.ExtraDimName != "" {
		dims = append(dims, dim{n.ExtraDimName, n.ExtraDimIs})
		values["ExtraDimIs"] = n.ExtraDimIs
	}
	for _, k := range sortedKeys(values) {
		if err := checkValue("AppMeshNames."+k, values[k]); err != nil {
			return Queries{}, err
		}
	}
	// The agent publishes Envoy's milliseconds with no CloudWatch unit
	// (unless its declaration sets one), so the query names none.
	q, err := build("appmesh", n.Namespace, dims, n.Requests, "", "", n.RequestTime, "")
	if err != nil {
		return Queries{}, err
	}
	class := func(c string) []dim { return append(append([]dim(nil), dims...), dim{n.ClassDim, c}) }
	if q.ErrorRate, err = rate("appmesh_error_rate", n.Namespace, dims, n.Requests, n.ByClass, class("5"), false); err != nil {
		return Queries{}, err
	}
	if q.SuccessRate, err = rate("appmesh_success_rate", n.Namespace, dims, n.Requests, n.ByClass, class("5"), true); err != nil {
		return Queries{}, err
	}
	if q.ClientErrorRate, err = rate("appmesh_client_error_rate", n.Namespace, dims, n.Requests, n.ByClass, class("4"), false); err != nil {
		return Queries{}, err
	}
	return q, nil
}

type dim struct{ Name, Value string }

type jsonMetric struct {
	Namespace  string
	MetricName string
	Dimensions []dim
}

type jsonStat struct {
	Metric jsonMetric
	Stat   string
	Unit   string `json:",omitempty"`
}

type jsonQuery struct {
	Id         string
	MetricStat *jsonStat `json:",omitempty"`
	Expression string    `json:",omitempty"`
	ReturnData *bool     `json:",omitempty"`
}

func stat(id, ns, name string, dims []dim, s string) jsonQuery {
	return jsonQuery{Id: id, MetricStat: &jsonStat{Metric: jsonMetric{ns, name, dims}, Stat: s}}
}

func parseJSON(name string, qs ...jsonQuery) (metrics.Template, error) {
	// One element a line: [metrics.Parse] reads "}}" as a malformed
	// placeholder, so nested objects must not close on the same line.
	b, err := json.MarshalIndent(qs, "", "")
	if err != nil {
		return metrics.Template{}, err
	}
	return metrics.Parse(metrics.PromQL, name, string(b))
}

// rate is errors / requests, or 1 - errors/requests when inverse. A class
// with no datapoints (no error ever counted) is filled with 0 by
// FILL(errors, 0), so a clean canary reads 0 rather than no data.
func rate(name, ns string, dims []dim, requests, errName string, errDims []dim, inverse bool) (metrics.Template, error) {
	expr := "FILL(errors, 0) / count"
	if inverse {
		expr = "1 - " + expr
	}
	return parseJSON(name,
		stat("errors", ns, errName, errDims, "Sum"),
		stat(CountID, ns, requests, dims, "Sum"),
		jsonQuery{Id: ValueID, Expression: expr})
}

// build makes the templates; requestTime is in milliseconds, published
// with CloudWatch unit timeUnit ("" when the source sets none).
func build(prefix, ns string, dims []dim, requests, serverErrors, clientErrors, requestTime, timeUnit string) (Queries, error) {
	var q Queries
	var err error
	if q.RequestCount, err = parseJSON(prefix+"_request_count", jsonQuery{
		Id: ValueID, MetricStat: &jsonStat{Metric: jsonMetric{ns, requests, dims}, Stat: "Sum"}}); err != nil {
		return Queries{}, err
	}
	ms := stat("ms", ns, requestTime, dims, "Average")
	ms.MetricStat.Unit = timeUnit
	if q.Latency, err = parseJSON(prefix+"_latency",
		ms,
		stat(CountID, ns, requests, dims, "Sum"),
		jsonQuery{Id: ValueID, Expression: "ms / 1000"}); err != nil {
		return Queries{}, err
	}
	if serverErrors != "" {
		if q.ErrorRate, err = rate(prefix+"_error_rate", ns, dims, requests, serverErrors, dims, false); err != nil {
			return Queries{}, err
		}
		if q.SuccessRate, err = rate(prefix+"_success_rate", ns, dims, requests, serverErrors, dims, true); err != nil {
			return Queries{}, err
		}
	}
	if clientErrors != "" {
		if q.ClientErrorRate, err = rate(prefix+"_client_error_rate", ns, dims, requests, clientErrors, dims, false); err != nil {
			return Queries{}, err
		}
	}
	return q, nil
}

func def(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

// nameRE is what the templates accept as a CloudWatch namespace, metric
// or dimension name: printable ASCII without quotes, backslashes or
// braces, so that a name cannot change the query's structure.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_./#:-][A-Za-z0-9_./#: -]{0,253}[A-Za-z0-9_./#:-]$|^[A-Za-z0-9_]$`)

// varRE is a value that is a single template variable.
var varRE = regexp.MustCompile(`^\{\{[a-z][a-z0-9_]*\}\}$`)

func checkNames(typ string, names map[string]string) error {
	for _, k := range sortedKeys(names) {
		if !nameRE.MatchString(names[k]) {
			return canary.Invalid(typ+"."+k, strconv.Quote(names[k]), "must be 1 to 255 characters: letters, digits, spaces and _ . / # : -")
		}
	}
	return nil
}

func checkValue(field, v string) error {
	if varRE.MatchString(v) || metrics.ValidValue(v) {
		return nil
	}
	return canary.Invalid(field, strconv.Quote(v), "must be one template variable such as {{version}} or a fixed value matching metrics.ValuePattern")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
