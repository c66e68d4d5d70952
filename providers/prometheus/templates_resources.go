package prometheus

import (
	"fmt"

	"github.com/meshcanary/canary/metrics"
)

// ResourceQueries are built-in PromQL templates for the resource use of
// one workload's version, each the version's total over its pods: render
// with [metrics.Vars]{Namespace, Workload, Version, Window} and judge them
// with analysis.Resources (CPU per request, memory per replica, restarts
// and OOM kills as faults). ResourceTemplates builds them:
//
//   - CPU is the cores the version's containers use, averaged over the
//     window (rate of container_cpu_usage_seconds_total).
//   - Memory is the version's working set in bytes: the sum over its pods
//     of each container's highest working set in the window, so that a
//     leak shows at its peak.
//   - Restarts is the number of container restarts in the window
//     (increase of kube_pod_container_status_restarts_total).
//   - OOMKills is the number of out-of-memory kills in the window
//     (increase of cAdvisor's container_oom_events_total).
//   - Replicas is the number of the version's pods (series of
//     kube_pod_labels).
type ResourceQueries = metrics.ResourceQueries

// ResourceLabels names what the resource templates select on. Empty
// fields take the names shown in brackets: the kubelet's cAdvisor and
// kube-state-metrics series as they are usually scraped.
//
// cAdvisor series carry no pod labels, so a version's pods are found by
// joining on (namespace, pod) with kube-state-metrics' kube_pod_labels,
// which carries the pod's labels as label_<name> — but only those allowed
// by its --metric-labels-allowlist flag. The defaults assume the pods are
// labelled app=<workload> and version=<version> and that
// kube-state-metrics runs with --metric-labels-allowlist=pods=[app,version].
// For other pod labels (app.kubernetes.io/name, say) set Workload and
// Version to their kube_pod_labels names ("label_app_kubernetes_io_name").
// The container's own series are kept and the pod-level (container="")
// and pause (container="POD") series left out.
type ResourceLabels struct {
	CPU       string // [container_cpu_usage_seconds_total]
	Memory    string // [container_memory_working_set_bytes]
	Restarts  string // [kube_pod_container_status_restarts_total]
	OOMKills  string // [container_oom_events_total]
	PodLabels string // [kube_pod_labels]
	Namespace string // namespace label on every series [namespace]
	Pod       string // pod label on every series [pod]
	Container string // container label on cAdvisor series [container]
	Workload  string // the workload's pod label in kube_pod_labels [label_app]
	Version   string // the version's pod label in kube_pod_labels [label_version]
}

func (l ResourceLabels) withDefaults() ResourceLabels {
	def(&l.CPU, "container_cpu_usage_seconds_total")
	def(&l.Memory, "container_memory_working_set_bytes")
	def(&l.Restarts, "kube_pod_container_status_restarts_total")
	def(&l.OOMKills, "container_oom_events_total")
	def(&l.PodLabels, "kube_pod_labels")
	def(&l.Namespace, "namespace")
	def(&l.Pod, "pod")
	def(&l.Container, "container")
	def(&l.Workload, "label_app")
	def(&l.Version, "label_version")
	return l
}

// ResourceTemplates returns the resource templates for l.
func ResourceTemplates(l ResourceLabels) (ResourceQueries, error) {
	l = l.withDefaults()
	if err := checkNames("ResourceLabels", map[string]string{
		"CPU": l.CPU, "Memory": l.Memory, "Restarts": l.Restarts, "OOMKills": l.OOMKills,
		"PodLabels": l.PodLabels, "Namespace": l.Namespace, "Pod": l.Pod, "Container": l.Container,
		"Workload": l.Workload, "Version": l.Version,
	}); err != nil {
		return ResourceQueries{}, err
	}
	pods := fmt.Sprintf(`max by (%s, %s) (%s{%s="{{namespace}}",%s="{{workload}}",%s="{{version}}"})`,
		l.Namespace, l.Pod, l.PodLabels, l.Namespace, l.Workload, l.Version)
	containers := fmt.Sprintf(`%s="{{namespace}}",%s!="",%s!="POD"`, l.Namespace, l.Container, l.Container)
	join := fmt.Sprintf(` * on (%s, %s) group_left() %s`, l.Namespace, l.Pod, pods)
	var q ResourceQueries
	var err error
	for _, t := range []struct {
		dst        *metrics.Template
		name, text string
	}{
		{&q.CPU, "cpu", fmt.Sprintf(`sum(rate(%s{%s}[{{window}}])%s)`, l.CPU, containers, join)},
		{&q.Memory, "memory", fmt.Sprintf(`sum(max_over_time(%s{%s}[{{window}}])%s)`, l.Memory, containers, join)},
		// A version with pods but no restart counted is 0, not no data.
		{&q.Restarts, "restarts", fmt.Sprintf(`sum(increase(%s{%s="{{namespace}}"}[{{window}}])%s)`, l.Restarts, l.Namespace, join)},
		{&q.OOMKills, "oom_kills", fmt.Sprintf(`sum(increase(%s{%s}[{{window}}])%s)`, l.OOMKills, containers, join)},
		{&q.Replicas, "replicas", fmt.Sprintf(`count(%s)`, pods)},
	} {
		if *t.dst, err = metrics.Parse(metrics.PromQL, "resources_"+t.name, t.text); err != nil {
			return ResourceQueries{}, err
		}
	}
	return q, nil
}
