package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/gatewayapi"
	mckube "github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/rollback"
)

// GVR is the Rollout custom resource (deploy/crd.yaml).
var GVR = schema.GroupVersionResource{Group: "meshcanary.dev", Version: "v1alpha1", Resource: "rollouts"}

// Kind and APIVersion of the custom resource.
const (
	Kind       = "Rollout"
	APIVersion = "meshcanary.dev/v1alpha1"
)

// Rollout is the custom resource: one canary rollout of a Deployment pair
// through a mesh route.
type Rollout struct {
	Name, Namespace string
	UID             string
	Generation      int64
	Spec            Spec   `json:"spec"`
	Status          Status `json:"status"`
}

// Spec is what the platform team's users write.
type Spec struct {
	// Stable and Canary name the two Deployments of the namespace.
	Stable DeploymentRef `json:"stable"`
	Canary DeploymentRef `json:"canary"`
	// Service is the service name the metric templates see as {{service}}.
	Service string `json:"service,omitempty"`
	Router  Router `json:"router"`
	// Metrics are PromQL templates; their names feed the preset.
	Metrics []MetricSpec `json:"metrics,omitempty"`
	Plan    PlanSpec     `json:"plan"`
	// Preset is default, strict, lenient or fixed-threshold; empty means
	// default.
	Preset string `json:"preset,omitempty"`
	// Signals are the webhooks the rollout calls and the notifications
	// it sends (signals.go).
	Signals *Signals `json:"signals,omitempty"`
}

// DeploymentRef names a Deployment of the rollout's namespace.
type DeploymentRef struct {
	Deployment string `json:"deployment"`
}

// Router names what splits the traffic.
type Router struct {
	// Kind is VirtualService (Istio), HTTPRoute (Gateway API),
	// TrafficSplit (SMI: Open Service
	// Mesh, Linkerd's SMI extension), Ingress (the AWS Load Balancer
	// Controller's weighted action) or ReplicaRatio (no router: the
	// share of ready canary pods behind one Service).
	Kind string `json:"kind"`
	// Name is the object the router writes (the VirtualService,
	// HTTPRoute, TrafficSplit or Ingress); for ReplicaRatio, the Service
	// in front of both Deployments.
	Name string `json:"name"`
	// Route is the VirtualService's http route name or the HTTPRoute's
	// rule name; empty means the only one.
	Route string `json:"route,omitempty"`
	// StableService and CanaryService are the hosts (VirtualService),
	// backendRefs (HTTPRoute), backends (TrafficSplit) or target groups'
	// Services (Ingress) of the two versions; not used by ReplicaRatio.
	StableService string `json:"stableService,omitempty"`
	CanaryService string `json:"canaryService,omitempty"`
	// APIVersion (TrafficSplit only) is the split.smi-spec.io version:
	// v1alpha2 (empty), v1alpha3 or v1alpha4.
	APIVersion string `json:"apiVersion,omitempty"`
	// RootService (TrafficSplit only, required) is the Service the
	// clients call, the split's spec.service.
	RootService string `json:"rootService,omitempty"`
	// ActionName (Ingress only, required) names the action annotation
	// alb.ingress.kubernetes.io/actions.<ActionName>.
	ActionName string `json:"actionName,omitempty"`
	// ServicePort (Ingress only, required) is the two Services' port.
	ServicePort int32 `json:"servicePort,omitempty"`
	// Replicas (ReplicaRatio only) is the number of pods the two
	// Deployments share; zero means the sum of their replicas as read.
	Replicas int32 `json:"replicas,omitempty"`
	// Implementation (HTTPRoute only) names the Gateway API
	// implementation that reads the route, whose limits the router
	// checks before it writes (gatewayapi.Config.Implementation): empty
	// (generic Gateway API), "linkerd" (Linkerd 2.14+, an HTTPRoute whose
	// parents are Services) or "vpc-lattice" (the AWS Gateway API
	// Controller for Amazon VPC Lattice).
	Implementation string `json:"implementation,omitempty"`
}

// routerKinds are the values of spec.router.kind.
var routerKinds = []string{"VirtualService", "HTTPRoute", "TrafficSplit", "Ingress", "ReplicaRatio"}

// MetricSpec is one metric.
type MetricSpec struct {
	Name string `json:"name"`
	// Role says what the preset reads it as: errorRate or latency.
	Role  string `json:"role"`
	Query string `json:"query"`
	// Window is a Go duration ("1m"); empty means the plan's interval.
	Window string `json:"window,omitempty"`
}

// PlanSpec is the traffic plan.
type PlanSpec struct {
	// Stages are the canary weights, rising.
	Stages []int `json:"stages,omitempty"`
	// Steps is the deprecated name of Stages, still accepted (not both).
	Steps            []int  `json:"steps,omitempty"`
	Interval         string `json:"interval"`
	Hold             string `json:"hold,omitempty"`
	ProgressDeadline string `json:"progressDeadline,omitempty"`
}

// Status is written back by the controller.
type Status struct {
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
	Phase              string `json:"phase,omitempty"`
	CanaryWeight       int    `json:"canaryWeight"`
	// Stage is the plan's stage in force, counted from 1; Stages how many.
	Stage       int           `json:"stage,omitempty"`
	Stages      int           `json:"stages,omitempty"`
	LastVerdict *VerdictState `json:"lastVerdict,omitempty"`
	Evidence    []Evidence    `json:"evidence,omitempty"`
	Reason      string        `json:"reason,omitempty"`
	Conditions  []Condition   `json:"conditions,omitempty"`
}

// VerdictState is the last analysis.
type VerdictState struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
}

// Evidence is one metric's progress towards each decision, from "0.000"
// (no evidence) to "1.000" (decided); strings, as Kubernetes API
// conventions avoid floats.
type Evidence struct {
	Metric   string `json:"metric"`
	Pass     string `json:"pass"`
	Fail     string `json:"fail"`
	Requests int64  `json:"requests,omitempty"`
	More     int64  `json:"more,omitempty"`
}

// Condition is a status condition (metav1.Condition's fields that matter
// here).
type Condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason"`
	Message            string `json:"message"`
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
	LastTransitionTime string `json:"lastTransitionTime"`
}

// decode reads a Rollout from the informer's object. Nonsense that the
// CRD's schema let through comes back as a *[canary.FieldError].
func decode(u *unstructured.Unstructured) (*Rollout, error) {
	r := &Rollout{Name: u.GetName(), Namespace: u.GetNamespace(), UID: string(u.GetUID()), Generation: u.GetGeneration()}
	var body struct {
		Spec   Spec   `json:"spec"`
		Status Status `json:"status"`
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &body); err != nil {
		return r, canary.Invalid("spec", nil, "does not decode: %v", err)
	}
	r.Spec, r.Status = body.Spec, body.Status
	return r, nil
}

// maxMetrics bounds a rollout's metrics, and with them the size of its
// state in the store (see kubernetes.MaxRecordSize).
const maxMetrics = 10

// parsed is a Rollout's spec turned into the library's types.
type parsed struct {
	plan    rollback.Plan
	policy  rollback.Policy
	target  rollback.Target
	metrics []MetricSpec
	windows []time.Duration
	queries []metrics.Template
	preset  analysis.Preset
}

func duration(field, s string, required bool) (time.Duration, error) {
	if s == "" {
		if required {
			return 0, canary.Invalid(field, s, "is required (a duration such as \"1m\")")
		}
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, canary.Invalid(field, s, "must be a positive duration such as \"30s\" or \"1m\"")
	}
	return d, nil
}

func dnsLabel(field, v string) error {
	if msgs := validation.IsDNS1123Subdomain(v); len(msgs) > 0 {
		return canary.Invalid(field, v, "%s", msgs[0])
	}
	return nil
}

// parse checks the spec and turns it into the library's types. Every
// refusal is a *[canary.FieldError] naming the field as written in the
// custom resource ("spec.plan.stages[1]").
func parse(r *Rollout) (*parsed, error) {
	s := r.Spec
	p := &parsed{}
	for _, f := range []struct{ field, v string }{
		{"spec.stable.deployment", s.Stable.Deployment}, {"spec.canary.deployment", s.Canary.Deployment},
		{"spec.router.name", s.Router.Name},
	} {
		if err := dnsLabel(f.field, f.v); err != nil {
			return nil, err
		}
	}
	if s.Stable.Deployment == s.Canary.Deployment {
		return nil, canary.Invalid("spec.canary.deployment", s.Canary.Deployment, "must differ from spec.stable.deployment")
	}
	if err := checkRouter(s.Router); err != nil {
		return nil, err
	}
	// spec.plan.steps is the deprecated name of spec.plan.stages.
	weights, field := s.Plan.Stages, "spec.plan.stages"
	switch {
	case s.Plan.Stages != nil && s.Plan.Steps != nil:
		return nil, canary.Invalid("spec.plan.steps", s.Plan.Steps, "give stages or the deprecated steps, not both")
	case s.Plan.Stages == nil && s.Plan.Steps != nil:
		weights, field = s.Plan.Steps, "spec.plan.steps"
	}
	if len(weights) == 0 {
		return nil, canary.Invalid(field, weights, "must list at least one weight")
	}
	for i, w := range weights {
		if w < 1 || w > 100 || i > 0 && w <= weights[i-1] {
			return nil, canary.Invalid(fmt.Sprintf("%s[%d]", field, i), w, "must be 1 to 100 and rise stage by stage")
		}
	}
	var err error
	p.plan.Stages = rollback.Weights(weights...)
	if p.plan.Interval, err = duration("spec.plan.interval", s.Plan.Interval, true); err != nil {
		return nil, err
	}
	if p.plan.Hold, err = duration("spec.plan.hold", s.Plan.Hold, false); err != nil {
		return nil, err
	}
	if p.plan.ProgressDeadline, err = duration("spec.plan.progressDeadline", s.Plan.ProgressDeadline, false); err != nil {
		return nil, err
	}
	if len(s.Metrics) > maxMetrics {
		return nil, canary.Invalid("spec.metrics", len(s.Metrics), "must list at most %d metrics", maxMetrics)
	}
	var pm analysis.PresetMetrics
	for i, m := range s.Metrics {
		field := fmt.Sprintf("spec.metrics[%d]", i)
		if m.Name == "" {
			return nil, canary.Invalid(field+".name", m.Name, "must not be empty")
		}
		switch m.Role {
		case "errorRate":
			pm.ErrorRate = m.Name
		case "latency":
			pm.Latency = m.Name
		default:
			return nil, canary.Invalid(field+".role", m.Role, "must be errorRate or latency")
		}
		t, err := metrics.Parse(metrics.PromQL, m.Name, m.Query)
		if err != nil {
			return nil, canary.Invalid(field+".query", m.Query, "does not parse: %v", err)
		}
		w, err := duration(field+".window", m.Window, false)
		if err != nil {
			return nil, err
		}
		p.queries, p.windows = append(p.queries, t), append(p.windows, w)
	}
	p.metrics = s.Metrics
	if len(s.Metrics) > 0 && pm.ErrorRate == "" {
		return nil, canary.Invalid("spec.metrics", nil, "must have a metric with role errorRate for the preset")
	}
	switch s.Preset {
	case "", "default":
		p.preset = analysis.DefaultPreset(pm)
	case "strict":
		p.preset = analysis.StrictPreset(pm)
	case "lenient":
		p.preset = analysis.LenientPreset(pm)
	case "fixed-threshold":
		p.preset = analysis.FixedThresholdPreset(pm)
	default:
		return nil, canary.Invalid("spec.preset", s.Preset, "must be default, strict, lenient or fixed-threshold")
	}
	if err := checkSignals(s.Signals, &p.plan); err != nil {
		return nil, err
	}
	p.policy = rollback.PresetPolicy(p.preset)
	svc := s.Service
	if svc == "" {
		svc = s.Router.StableService
		if s.Router.Kind == "ReplicaRatio" {
			svc = s.Router.Name
		}
	}
	p.target = rollback.Target{Namespace: r.Namespace, Service: svc,
		Stable: rollback.Workload{Name: s.Stable.Deployment, Version: "stable"},
		Canary: rollback.Workload{Name: s.Canary.Deployment, Version: "canary"}}
	// The plan and policy are checked by the library itself.
	if err := p.plan.Validate(); err != nil {
		return nil, specField(err)
	}
	if err := p.policy.Validate(); err != nil {
		return nil, specField(err)
	}
	return p, nil
}

// checkRouter checks spec.router: the kind, and the fields that kind uses
// (and no field of another kind).
func checkRouter(r Router) error {
	if !slices.Contains(routerKinds, r.Kind) {
		return canary.Invalid("spec.router.kind", r.Kind, "must be one of %s", strings.Join(routerKinds, ", "))
	}
	if r.Kind != "ReplicaRatio" {
		for _, f := range []struct{ field, v string }{
			{"spec.router.stableService", r.StableService}, {"spec.router.canaryService", r.CanaryService},
		} {
			if err := dnsLabel(f.field, f.v); err != nil {
				return err
			}
		}
		if r.StableService == r.CanaryService {
			return canary.Invalid("spec.router.canaryService", r.CanaryService, "must differ from spec.router.stableService")
		}
	}
	only := func(field string, set bool, kinds ...string) error {
		if set && !slices.Contains(kinds, r.Kind) {
			return canary.Invalid("spec.router."+field, nil, "is only for kind %s", strings.Join(kinds, " or "))
		}
		return nil
	}
	for _, c := range []error{
		only("route", r.Route != "", "VirtualService", "HTTPRoute"),
		only("stableService", r.StableService != "" && r.Kind == "ReplicaRatio", "VirtualService", "HTTPRoute", "TrafficSplit", "Ingress"),
		only("apiVersion", r.APIVersion != "", "TrafficSplit"),
		only("rootService", r.RootService != "", "TrafficSplit"),
		only("actionName", r.ActionName != "", "Ingress"),
		only("servicePort", r.ServicePort != 0, "Ingress"),
		only("replicas", r.Replicas != 0, "ReplicaRatio"),
		only("implementation", r.Implementation != "", "HTTPRoute"),
	} {
		if c != nil {
			return c
		}
	}
	switch r.Kind {
	case "HTTPRoute":
		if !slices.Contains(gatewayapi.Implementations, r.Implementation) {
			return canary.Invalid("spec.router.implementation", r.Implementation, "must be empty (generic Gateway API), %q or %q", gatewayapi.Linkerd, gatewayapi.VPCLattice)
		}
	case "TrafficSplit":
		if err := dnsLabel("spec.router.rootService", r.RootService); err != nil {
			return err
		}
		if r.APIVersion != "" && !slices.Contains(mckube.SMIAPIVersions, r.APIVersion) {
			return canary.Invalid("spec.router.apiVersion", r.APIVersion, "must be one of %s", strings.Join(mckube.SMIAPIVersions, ", "))
		}
	case "Ingress":
		if err := dnsLabel("spec.router.actionName", r.ActionName); err != nil {
			return err
		}
		if r.ServicePort < 1 || r.ServicePort > 65535 {
			return canary.Invalid("spec.router.servicePort", r.ServicePort, "must be a port number, 1 to 65535")
		}
	case "ReplicaRatio":
		if r.Replicas < 0 {
			return canary.Invalid("spec.router.replicas", r.Replicas, "must be at least 1 (or zero: the Deployments' replicas as read)")
		}
	}
	return nil
}

// specField prefixes a library FieldError's field ("Plan.Interval") with
// "spec." so that it names the custom resource's field as near as can be.
func specField(err error) error {
	var fe *canary.FieldError
	if errors.As(err, &fe) {
		return canary.Invalid("spec."+lowerFirst(fe.Field), fe.Value, "%s", fe.Reason)
	}
	return err
}

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}
