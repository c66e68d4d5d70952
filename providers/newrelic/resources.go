package newrelic

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// ResourceQueries are the resource templates, in the [metrics.NRQL]
// dialect: see ResourceTemplates.
type ResourceQueries = metrics.ResourceQueries

// ResourceAttributes names what the resource templates select on. Empty
// fields take the names shown in brackets: the Kubernetes integration's
// K8sContainerSample, whose pod labels appear as label.<name> attributes.
// The defaults assume pods labelled app=<workload> and version=<version>;
// for app.kubernetes.io/name set Workload to "label.app.kubernetes.io/name".
type ResourceAttributes struct {
	Event     string // [K8sContainerSample]
	Namespace string // [namespaceName]
	Workload  string // [label.app]
	Version   string // [label.version]
	Pod       string // [podName]
	Container string // [containerName]
	CPU       string // [cpuUsedCores]
	Memory    string // [memoryWorkingSetBytes]
	Restarts  string // [restartCount]
	Reason    string // [reason]
}

var nrName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_./-]{0,254}$`)

// ResourceTemplates returns built-in NRQL templates for the resource use of
// one workload's version, for a. Each is the version's total over its
// containers within the window, from the Kubernetes integration's
// K8sContainerSample events: render them with Render and
// [metrics.Vars]{Namespace, Workload, Version}, and judge them with
// analysis.Resources. Each is a nested aggregation — one figure per
// container (FACET podName, containerName), then their sum — and the
// provider's SINCE/UNTIL, appended to the outer query, bounds the inner one
// too.
//
//   - CPU is the cores the version's containers use: the sum over
//     containers of their average cpuUsedCores in the window.
//   - Memory is the version's working set in bytes: the sum over
//     containers of their highest memoryWorkingSetBytes in the window.
//   - Restarts is the containers' restarts within the window: the sum of
//     each container's max(restartCount) - min(restartCount).
//   - OOMKills is the number of the version's containers seen with
//     reason 'OOMKilled' in the window (0 when none, while the version has
//     samples).
//   - Replicas is the number of the version's pods that reported in the
//     window.
func ResourceTemplates(a ResourceAttributes) (ResourceQueries, error) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&a.Event, "K8sContainerSample")
	def(&a.Namespace, "namespaceName")
	def(&a.Workload, "label.app")
	def(&a.Version, "label.version")
	def(&a.Pod, "podName")
	def(&a.Container, "containerName")
	def(&a.CPU, "cpuUsedCores")
	def(&a.Memory, "memoryWorkingSetBytes")
	def(&a.Restarts, "restartCount")
	def(&a.Reason, "reason")
	for _, f := range []struct{ name, v string }{
		{"Event", a.Event}, {"Namespace", a.Namespace}, {"Workload", a.Workload}, {"Version", a.Version},
		{"Pod", a.Pod}, {"Container", a.Container}, {"CPU", a.CPU}, {"Memory", a.Memory},
		{"Restarts", a.Restarts}, {"Reason", a.Reason},
	} {
		if !nrName.MatchString(f.v) {
			return ResourceQueries{}, canary.Invalid("ResourceAttributes."+f.name, strconv.Quote(f.v),
				"must be an NRQL name: letters, digits, '_', '.', '/' and '-', starting with a letter or '_'")
		}
	}
	// Attribute names are quoted with backticks (they may hold '.', '/'
	// or '-'); the variables stand in single-quoted strings.
	where := fmt.Sprintf("FROM %s WHERE `%s` = '{{namespace}}' AND `%s` = '{{workload}}' AND `%s` = '{{version}}'",
		a.Event, a.Namespace, a.Workload, a.Version)
	facet := fmt.Sprintf("FACET `%s`, `%s` LIMIT MAX", a.Pod, a.Container)
	nested := func(inner string) string {
		return fmt.Sprintf("SELECT sum(x) AS 'value' FROM (SELECT %s AS 'x' %s %s)", inner, where, facet)
	}
	var q ResourceQueries
	var err error
	for _, x := range []struct {
		dst        *metrics.Template
		name, text string
	}{
		{&q.CPU, "cpu", nested(fmt.Sprintf("average(`%s`)", a.CPU))},
		{&q.Memory, "memory", nested(fmt.Sprintf("max(`%s`)", a.Memory))},
		{&q.Restarts, "restarts", nested(fmt.Sprintf("max(`%s`) - min(`%s`)", a.Restarts, a.Restarts))},
		{&q.OOMKills, "oom_kills", fmt.Sprintf("SELECT filter(uniqueCount(`%s`, `%s`), WHERE `%s` = 'OOMKilled') AS 'value' %s",
			a.Pod, a.Container, a.Reason, where)},
		{&q.Replicas, "replicas", fmt.Sprintf("SELECT uniqueCount(`%s`) AS 'value' %s", a.Pod, where)},
	} {
		if *x.dst, err = metrics.Parse(metrics.NRQL, "resources_"+x.name, x.text); err != nil {
			return ResourceQueries{}, err
		}
	}
	return q, nil
}
