package spec

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
)

// APIVersion and Kind identify a rollout file. Both are optional in a file;
// when given they must be these.
const (
	APIVersion = "meshcanary.dev/v1"
	Kind       = "Rollout"
)

// Duration is a time.Duration written as Go writes durations: "90s",
// "2m", "1h30m". Its JSON form is that string.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes the duration as "2m0s"-style text, trimmed ("2m").
func (d Duration) MarshalText() ([]byte, error) { return []byte(FormatDuration(time.Duration(d))), nil }

// UnmarshalText reads "2m", "90s", "1h30m".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// FormatDuration writes d the short way: 2m rather than 2m0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Rollout is one rollout file.
type Rollout struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	// Name identifies the rollout (and keys it in a store): lower-case
	// letters, digits, '-' and '.'. Required.
	Name   string  `json:"name"`
	Target Target  `json:"target"`
	Router Routing `json:"router"`
	// Provider answers the metrics' queries. Required when Metrics is not
	// empty.
	Provider *Provider `json:"provider,omitempty"`
	Metrics  []Metric  `json:"metrics,omitempty"`
	Plan     Plan      `json:"plan"`
	// Policy overrides the analysis preset's policy field by field (or the
	// rollback defaults when no preset is used).
	Policy   *Policy   `json:"policy,omitempty"`
	Analysis *Analysis `json:"analysis,omitempty"`
	// Signals: notifications and webhooks (signals.go).
	Signals *Signals `json:"signals,omitempty"`
	// TimeZone is the zone of the times the rollout's notifications and
	// webhook messages show (and the one a tool running the rollout shows,
	// unless its user picks another): an IANA name such as
	// "America/New_York", "UTC", or "Local" (the zone of the machine
	// that runs the rollout); empty means Europe/London. See
	// [Rollout.Location].
	TimeZone string `json:"timeZone,omitempty"`

	warnings []string // what Decode read under a deprecated name
}

// Warnings returns what Decode or DecodeValue read under a deprecated key,
// one sentence each ("plan.steps is deprecated; write stages (read as
// plan.stages)"), for the caller to show; nil when nothing was.
func (ro *Rollout) Warnings() []string { return slices.Clone(ro.warnings) }

// Location returns the location TimeZone names, or nil (Europe/London,
// the default of package display) when it is empty; a name the time-zone
// database does not know is a *[canary.FieldError] naming timeZone.
func (ro *Rollout) Location() (*time.Location, error) {
	if ro.TimeZone == "" {
		return nil, nil
	}
	loc, err := time.LoadLocation(ro.TimeZone)
	if err != nil {
		return nil, canary.Invalid("timeZone", ro.TimeZone, `must be an IANA time-zone name such as "Europe/London" or "UTC" (%v)`, err)
	}
	return loc, nil
}

// Target names what is rolled out; its values fill query templates.
type Target struct {
	Namespace string   `json:"namespace,omitempty"`
	Service   string   `json:"service,omitempty"`
	Stable    Workload `json:"stable"`
	Canary    Workload `json:"canary"`
}

// Workload names one version.
type Workload struct {
	Workload string `json:"workload,omitempty"`
	Version  string `json:"version,omitempty"`
}

// Routing is the rollout file's router section: which router splits the
// traffic, and its settings. Exactly one field is set. (The Go type is
// not called Router: [github.com/meshcanary/canary/traffic.Router] is the
// portable type these settings build, and
// [github.com/meshcanary/canary/rollback.Splitter] what a Rollout needs of
// it.)
type Routing struct {
	HTTPSplit  *HTTPSplit  `json:"httpsplit,omitempty"`
	Istio      *Istio      `json:"istio,omitempty"`
	GatewayAPI *GatewayAPI `json:"gatewayapi,omitempty"`
	AppMesh    *AppMesh    `json:"appmesh,omitempty"`
	// ReplicaRatio is the canary without a traffic router: the weight is
	// the share of ready canary pods behind one Service.
	ReplicaRatio *ReplicaRatio `json:"replicaRatio,omitempty"`
	// SMI is an SMI TrafficSplit (Open Service Mesh, Linkerd's SMI
	// extension).
	SMI *SMI `json:"smi,omitempty"`
	// ALB is the AWS Load Balancer Controller's weighted forward action on
	// an Ingress.
	ALB *ALB `json:"alb,omitempty"`
}

// Kind returns the name of the router that is set ("httpsplit", "istio",
// "gatewayapi", "appmesh", "replicaRatio", "smi", "alb"), or "" when none
// is.
func (r Routing) Kind() string {
	switch {
	case r.HTTPSplit != nil:
		return "httpsplit"
	case r.Istio != nil:
		return "istio"
	case r.GatewayAPI != nil:
		return "gatewayapi"
	case r.AppMesh != nil:
		return "appmesh"
	case r.ReplicaRatio != nil:
		return "replicaRatio"
	case r.SMI != nil:
		return "smi"
	case r.ALB != nil:
		return "alb"
	}
	return ""
}

// HTTPSplit is the in-process mesh (providers/httpsplit): the tool that
// runs the rollout listens on Listen and splits requests between the two
// back ends.
type HTTPSplit struct {
	// Listen is the address the proxy listens on, e.g. "127.0.0.1:8080".
	Listen string `json:"listen"`
	// Stable and Canary are the back ends' base URLs.
	Stable string `json:"stable"`
	Canary string `json:"canary"`
	// Retention is how far back the proxy's metrics reach; zero is 10m.
	Retention Duration `json:"retention,omitempty"`
}

// Istio is a VirtualService router (providers/istio).
type Istio struct {
	Kubeconfig      string      `json:"kubeconfig,omitempty"`
	Namespace       string      `json:"namespace"`
	VirtualService  string      `json:"virtualService"`
	Route           string      `json:"route,omitempty"`
	Stable          Destination `json:"stable"`
	Canary          Destination `json:"canary"`
	TestRoute       string      `json:"testRoute,omitempty"`
	DestinationRule string      `json:"destinationRule,omitempty"`
	CreateSubsets   bool        `json:"createSubsets,omitempty"`
}

// Destination is one version's Istio destination.
type Destination struct {
	Host   string `json:"host"`
	Subset string `json:"subset,omitempty"`
	// LabelValue is the value of the pod label that selects this
	// version's pods for its subset (istio.Destination.LabelValue). The
	// key was version before, which is still read with a warning.
	LabelValue string `json:"labelValue,omitempty"`
}

// GatewayAPI is an HTTPRoute router (providers/gatewayapi).
type GatewayAPI struct {
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Namespace  string `json:"namespace"`
	Route      string `json:"route"`
	Rule       string `json:"rule,omitempty"`
	// Stable and Canary are the backendRefs' Service names.
	Stable   string `json:"stable"`
	Canary   string `json:"canary"`
	TestRule string `json:"testRule,omitempty"`
	// Implementation is the Gateway API implementation that reads the
	// route: "" (generic), "linkerd" (an HTTPRoute whose parent is a
	// Service, Linkerd 2.14+) or "vpc-lattice" (the AWS Gateway API
	// Controller). The router refuses up front what the implementation
	// does not support.
	Implementation string `json:"implementation,omitempty"`
}

// AppMesh is a VirtualRouter router (providers/appmesh; AWS ended App Mesh
// support on 30 September 2026 — prefer gatewayapi with VPC Lattice).
type AppMesh struct {
	Kubeconfig    string `json:"kubeconfig,omitempty"`
	Namespace     string `json:"namespace"`
	VirtualRouter string `json:"virtualRouter"`
	Route         string `json:"route,omitempty"`
	// Stable and Canary are the VirtualNode names.
	Stable    string `json:"stable"`
	Canary    string `json:"canary"`
	TestRoute string `json:"testRoute,omitempty"`
}

// ReplicaRatio is the canary without a traffic router: a Deployment per
// version behind one Service, the weight realised as the share of ready
// canary pods among all ready pods (as Argo Rollouts' basic canary does).
// The plan's weights are rounded to what Replicas allows.
type ReplicaRatio struct {
	Kubeconfig       string `json:"kubeconfig,omitempty"`
	Namespace        string `json:"namespace"`
	Service          string `json:"service"`
	StableDeployment string `json:"stableDeployment"`
	CanaryDeployment string `json:"canaryDeployment"`
	// Replicas is the total number of pods shared by the two versions
	// (at least 1).
	Replicas int `json:"replicas"`
}

// SMI is an SMI TrafficSplit router (split.smi-spec.io).
type SMI struct {
	Kubeconfig   string `json:"kubeconfig,omitempty"`
	Namespace    string `json:"namespace"`
	TrafficSplit string `json:"trafficSplit"`
	// Service is the root service the clients call.
	Service string `json:"service"`
	// StableBackend and CanaryBackend are the backends' Service names.
	StableBackend string `json:"stableBackend"`
	CanaryBackend string `json:"canaryBackend"`
	// APIVersion is the TrafficSplit version: "v1alpha2" (the default),
	// "v1alpha3" or "v1alpha4".
	APIVersion string `json:"apiVersion,omitempty"`
}

// ALB is the AWS Load Balancer Controller's weighted forward action on an
// Ingress (the actions.<ActionName> annotation).
type ALB struct {
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Namespace  string `json:"namespace"`
	Ingress    string `json:"ingress"`
	// ActionName names the action annotation and the Ingress backend that
	// uses it (service name ActionName, port "use-annotation").
	ActionName    string `json:"actionName"`
	StableService string `json:"stableService"`
	CanaryService string `json:"canaryService"`
	// ServicePort is the port of both Services the target groups forward
	// to (1 to 65535).
	ServicePort int `json:"servicePort"`
}

// Provider says where metrics come from. Exactly one field is set.
type Provider struct {
	// HTTPSplit: the httpsplit router measures its own responses.
	HTTPSplit  *struct{}   `json:"httpsplit,omitempty"`
	Prometheus *Prometheus `json:"prometheus,omitempty"`
}

// Kind returns "httpsplit" or "prometheus", or "" when none is set.
func (p Provider) Kind() string {
	switch {
	case p.HTTPSplit != nil:
		return "httpsplit"
	case p.Prometheus != nil:
		return "prometheus"
	}
	return ""
}

// Prometheus is a Prometheus server's HTTP API.
type Prometheus struct {
	Address string `json:"address"`
}

// Metric is one measurement taken at every analysis: a query template
// (Query, in Dialect) or a built-in template by name (Builtin).
type Metric struct {
	Name string `json:"name"`
	// Query is a metrics template: {{namespace}}, {{service}},
	// {{workload}}, {{version}} inside quoted strings, {{window}} anywhere.
	Query string `json:"query,omitempty"`
	// Dialect is "promql" (the default), "nrql" or "datadog".
	Dialect string `json:"dialect,omitempty"`
	// Builtin names a built-in template instead of Query, e.g.
	// "httpsplit/error-rate" or "istio/error-rate" (see Builtins and
	// Factories.Builtin).
	Builtin string `json:"builtin,omitempty"`
	// Count is an optional template giving the number of requests behind
	// the value over the same window (used by backtests over Prometheus
	// range queries; built-in templates bring their own).
	Count string `json:"count,omitempty"`
	// Window is the short window; zero is plan.interval.
	Window Duration `json:"window,omitempty"`
	// Baseline, when set, also measures stable over this long window.
	Baseline   Duration `json:"baseline,omitempty"`
	SkipStable bool     `json:"skipStable,omitempty"`
}

// Plan is how traffic moves.
type Plan struct {
	// Stages are written "stages" in a file ("steps" is still
	// read, with a warning).
	Stages []Stage `json:"stages,omitempty"`
	// StageWeight is written "stageWeight" ("stepWeight" is still read).
	StageWeight int `json:"stageWeight,omitempty"`
	MaxWeight   int `json:"maxWeight,omitempty"`
	// Hold is each stage's default hold; zero is Interval.
	Hold Duration `json:"hold,omitempty"`
	// Interval is the analysis interval. Required.
	Interval Duration `json:"interval"`
	// Deadline is the progress deadline; zero is 10m.
	Deadline    Duration     `json:"deadline,omitempty"`
	ZeroTraffic *ZeroTraffic `json:"zeroTraffic,omitempty"`
	Gates       Gates        `json:"gates,omitzero"`
	// Strategy is the plan's shape: "canary" (the default: stages),
	// "abtest" (abTest) or "bluegreen" (blueGreen).
	Strategy        string           `json:"strategy,omitempty"`
	ABTest          *ABTest          `json:"abTest,omitempty"`
	BlueGreen       *BlueGreen       `json:"blueGreen,omitempty"`
	SessionAffinity *SessionAffinity `json:"sessionAffinity,omitempty"`
}

// ABTest is an A/B test: the requests that satisfy any of Match go to the
// canary, every other request to stable.
type ABTest struct {
	// Match lists 1 to 4 matches, each a header or a cookie and one of
	// exact, prefix or regex (a cookie takes exact only):
	// {header: x-canary, regex: ".*insider.*"}, {cookie: canary, exact: always}.
	Match []Match `json:"match"`
	// Iterations is how many analyses the test runs at least before a
	// pass promotes it; zero promotes on the first pass.
	Iterations int `json:"iterations,omitempty"`
}

// Match is one match of an A/B test's cohort.
type Match struct {
	Header string `json:"header,omitempty"`
	Cookie string `json:"cookie,omitempty"`
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

// BlueGreen is a blue/green release: analysed before the switch (preview,
// mirror), switched in one write, analysed after with the old version
// warm, then the old version scaled down. gates.beforePromotion holds the
// switch for an approval.
type BlueGreen struct {
	// Preview routes requests carrying a header to the new version before
	// the switch.
	Preview *Preview `json:"preview,omitempty"`
	// Mirror copies this percentage of production requests to the new
	// version before the switch.
	Mirror         int      `json:"mirror,omitempty"`
	PrePromotion   Duration `json:"prePromotion,omitempty"`
	PostPromotion  Duration `json:"postPromotion,omitempty"`
	ScaleDownDelay Duration `json:"scaleDownDelay,omitempty"`
}

// Preview is blue/green's preview route: a header and its value.
type Preview struct {
	Header string `json:"header"`
	Value  string `json:"value"`
}

// SessionAffinity keeps a user sent to the canary on it for the rollout
// (a cookie); maxAge is the cookie's lifetime, zero a day.
type SessionAffinity struct {
	Cookie string   `json:"cookie"`
	MaxAge Duration `json:"maxAge,omitempty"`
}

// Stage is one stage of plan.stages: a weight and how long it holds (zero:
// plan.hold). In a file a stage is a mapping {weight: 10, hold: 2m} or,
// holding for plan.hold, just its weight: 10.
type Stage struct {
	Weight int      `json:"weight"`
	Hold   Duration `json:"hold,omitempty"`
}

// UnmarshalJSON reads a stage written as a mapping or as its weight alone.
func (s *Stage) UnmarshalJSON(b []byte) error {
	var w int
	if err := json.Unmarshal(b, &w); err == nil {
		*s = Stage{Weight: w}
		return nil
	}
	type plain Stage
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*s = Stage(p)
	return nil
}

// ZeroTraffic validates the canary before any production traffic.
type ZeroTraffic struct {
	Duration Duration `json:"duration"`
	// TestHeader routes requests carrying this header to the canary.
	TestHeader *Header `json:"testHeader,omitempty"`
	// Mirror copies this percentage of production requests to the canary.
	Mirror int `json:"mirror,omitempty"`
}

// Header is a header name and value.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Gates hold weight rises and the promotion for an approval.
type Gates struct {
	BeforeIncrease  bool `json:"beforeIncrease,omitempty"`
	BeforePromotion bool `json:"beforePromotion,omitempty"`
}

// Policy is how verdicts become decisions; every field set overrides the
// preset's (or the default) policy.
type Policy struct {
	FailureLimit *int `json:"failureLimit,omitempty"`
	// Counting is "cumulative" or "consecutive".
	Counting string `json:"counting,omitempty"`
	// NoData is "hold", "fail" or "fail-after".
	NoData      string `json:"noData,omitempty"`
	NoDataAfter *int   `json:"noDataAfter,omitempty"`
	// OnFailure is "rollback" or "pause".
	OnFailure string `json:"onFailure,omitempty"`
	// OnInconclusive is what a stage still inconclusive at the deadline
	// does: "ask" (the default: pause for a person) or "rollback".
	OnInconclusive string `json:"onInconclusive,omitempty"`
	// PassesPerStage is written "passesPerStage" ("passesPerStep" is
	// still read, with a warning).
	PassesPerStage *int `json:"passesPerStage,omitempty"`
}

// Analysis is a preset by name (with the metrics it reads) plus extra
// analyzers, or analyzers spelled out.
type Analysis struct {
	// Preset is "default", "strict", "lenient" or "fixed-threshold".
	Preset string `json:"preset,omitempty"`
	// ErrorRate and Latency name the metrics the preset reads; empty
	// ErrorRate is "error-rate", empty Latency leaves latency out unless a
	// metric "latency-p99" exists.
	ErrorRate string `json:"errorRate,omitempty"`
	Latency   string `json:"latency,omitempty"`
	// Analyzers are spelled-out analyzers: alone when Preset is empty,
	// added to the preset otherwise (all must pass).
	Analyzers []Analyzer `json:"analyzers,omitempty"`
	// Combine is "all" (the default) or "any" for spelled-out analyzers.
	Combine string `json:"combine,omitempty"`
	// PostPromotion, for plan.strategy bluegreen, are the analyzers that
	// judge the new version after the switch (all must pass), when stable
	// serves no request: the service's history (historyRate, with a
	// metric's baseline: evidence added up over the windows, so it decides
	// at low traffic too; or dualWindow, one window at a time) or fixed
	// bounds (threshold). Empty: the analyzers above.
	PostPromotion []Analyzer `json:"postPromotion,omitempty"`
}

// Analyzer is one analyzer; exactly one field is set.
type Analyzer struct {
	Threshold  *Threshold  `json:"threshold,omitempty"`
	Compare    *Compare    `json:"compare,omitempty"`
	Sequential *Sequential `json:"sequential,omitempty"`
	DualWindow *DualWindow `json:"dualWindow,omitempty"`
	Cost       *Cost       `json:"cost,omitempty"` // cost.go
	// HistoryRate is for analysis.postPromotion (blue/green after the
	// switch).
	HistoryRate *HistoryRate `json:"historyRate,omitempty"`
}

// HistoryRate judges a rate metric against the service's history on
// evidence added up over the analyses: the analyzer itself,
// [analysis.HistoryRate], under its fields' JSON names (metric, ratio,
// margin, alpha, beta), one type as [Sequential] is.
type HistoryRate = analysis.HistoryRate

// Threshold holds canary values against fixed limits.
type Threshold struct {
	MinCount int64   `json:"minCount,omitempty"`
	Limits   []Limit `json:"limits"`
}

// Limit bounds one metric: Max, Min or both.
type Limit struct {
	Metric string   `json:"metric"`
	Min    *float64 `json:"min,omitempty"`
	Max    *float64 `json:"max,omitempty"`
}

// Compare bounds canary metrics by stable's.
type Compare struct {
	MinCount int64      `json:"minCount,omitempty"`
	Metrics  []Relative `json:"metrics"`
}

// Relative is one compared metric.
type Relative struct {
	Metric string `json:"metric"`
	// Direction is "increase" (default), "decrease" or "either".
	Direction  string  `json:"direction,omitempty"`
	Tolerance  float64 `json:"tolerance,omitempty"`
	Margin     float64 `json:"margin,omitempty"`
	Cumulative bool    `json:"cumulative,omitempty"`
}

// Sequential is the anytime-valid error-rate test: the analyzer itself,
// [analysis.Sequential], written in a file under its fields' JSON names
// (metric, alpha, tolerance, margin, tau, minCount, confirmAlpha). It is
// one type, not a copy, so a field the analyzer gains is a key of the file
// at once (TestSequentialIsWrittenWhole checks that every field can be).
type Sequential = analysis.Sequential

// DualWindow judges a metric against a bound and its own history.
type DualWindow struct {
	Metric      string  `json:"metric"`
	Direction   string  `json:"direction,omitempty"`
	Bound       float64 `json:"bound"`
	Tolerance   float64 `json:"tolerance,omitempty"`
	RequireBoth bool    `json:"requireBoth,omitempty"`
	MinCount    int64   `json:"minCount,omitempty"`
}
