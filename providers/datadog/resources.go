package datadog

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// ResourceQueries are the resource templates, in the [metrics.Datadog]
// dialect: see ResourceTemplates.
type ResourceQueries = metrics.ResourceQueries

// ResourceTags names the metrics and tags the resource templates use.
// Empty fields take the names shown in brackets: the Datadog Agent's
// Kubernetes (kubelet) and kubernetes_state_core checks, with pods tagged
// by unified service tagging (the tags.datadoghq.com/service and
// tags.datadoghq.com/version pod labels become the service and version
// tags). Pods tagged otherwise — a "kube_deployment" per version, say, or
// a custom pod label mapped with DD_KUBERNETES_POD_LABELS_AS_TAGS — set
// Workload or Version to that tag's name.
type ResourceTags struct {
	CPU         string // [kubernetes.cpu.usage.total]
	Memory      string // [kubernetes.memory.working_set]
	Restarts    string // [kubernetes.containers.restarts]
	Terminated  string // [kubernetes_state.container.status_report.count.terminated]
	OOMReason   string // the reason tag's value for an OOM kill [oomkilled]
	Pods        string // [kubernetes.pods.running]
	Namespace   string // namespace tag [kube_namespace]
	Workload    string // workload tag [service]
	Version     string // version tag [version]
	ReasonTagIs string // the reason tag's name [reason]
}

var ddName = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,199}$`)

// ResourceTemplates returns built-in templates ([metrics.Datadog] dialect)
// for the resource use of one workload's version, for t. Each is the
// version's total over its containers, averaged over the window by the
// provider's aggregator (Config.Aggregator, avg by default): render them
// with Render and [metrics.Vars]{Namespace, Workload, Version}, and judge
// them with analysis.Resources.
//
//   - CPU is the CPU the version's containers use, in nanocores (Datadog's
//     unit for kubernetes.cpu.usage.total; 1e9 nanocores = 1 core).
//     analysis.Resources compares ratios, so the unit does not matter
//     there.
//   - Memory is the version's working set in bytes.
//   - Restarts is the version's container restarts as the kubelet counts
//     them: since each container started, not within the window — for the
//     canary's new pods that is every restart they have had.
//   - OOMKills is the number of the version's containers whose last
//     termination was an out-of-memory kill (kube-state-metrics' reason
//     tag, lower-cased by the Agent).
//   - Replicas is the number of the version's running pods.
func ResourceTemplates(t ResourceTags) (ResourceQueries, error) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&t.CPU, "kubernetes.cpu.usage.total")
	def(&t.Memory, "kubernetes.memory.working_set")
	def(&t.Restarts, "kubernetes.containers.restarts")
	def(&t.Terminated, "kubernetes_state.container.status_report.count.terminated")
	def(&t.OOMReason, "oomkilled")
	def(&t.Pods, "kubernetes.pods.running")
	def(&t.Namespace, "kube_namespace")
	def(&t.Workload, "service")
	def(&t.Version, "version")
	def(&t.ReasonTagIs, "reason")
	for _, f := range []struct{ name, v string }{
		{"CPU", t.CPU}, {"Memory", t.Memory}, {"Restarts", t.Restarts}, {"Terminated", t.Terminated},
		{"OOMReason", t.OOMReason}, {"Pods", t.Pods}, {"Namespace", t.Namespace}, {"Workload", t.Workload},
		{"Version", t.Version}, {"ReasonTagIs", t.ReasonTagIs},
	} {
		if !ddName.MatchString(f.v) {
			return ResourceQueries{}, canary.Invalid("ResourceTags."+f.name, strconv.Quote(f.v),
				"must be a Datadog metric or tag name: lower-case letters, digits, '_' and '.', starting with a letter")
		}
	}
	scope := fmt.Sprintf("%s:{{namespace}},%s:{{workload}},%s:{{version}}", t.Namespace, t.Workload, t.Version)
	var q ResourceQueries
	var err error
	for _, x := range []struct {
		dst        *metrics.Template
		name, text string
	}{
		{&q.CPU, "cpu", fmt.Sprintf("sum:%s{%s}", t.CPU, scope)},
		{&q.Memory, "memory", fmt.Sprintf("sum:%s{%s}", t.Memory, scope)},
		{&q.Restarts, "restarts", fmt.Sprintf("sum:%s{%s}", t.Restarts, scope)},
		{&q.OOMKills, "oom_kills", fmt.Sprintf("sum:%s{%s,%s:%s}", t.Terminated, scope, t.ReasonTagIs, t.OOMReason)},
		{&q.Replicas, "replicas", fmt.Sprintf("sum:%s{%s}", t.Pods, scope)},
	} {
		if *x.dst, err = metrics.Parse(metrics.Datadog, "resources_"+x.name, x.text); err != nil {
			return ResourceQueries{}, err
		}
	}
	return q, nil
}
