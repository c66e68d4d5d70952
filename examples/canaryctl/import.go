package main

// Importers from the tools people leave. The field names and semantics
// follow the projects' own documentation:
//
//   - Flagger: docs/gitbook/usage/how-it-works.md (Canary analysis:
//     interval, threshold, maxWeight, stepWeight), usage/deployment-
//     strategies.md (stepWeights), usage/metrics.md (builtin
//     request-success-rate in % and request-duration in ms with
//     thresholdRange; MetricTemplate with {{ namespace }}, {{ target }},
//     {{ interval }}, {{ variables.* }}), usage/webhooks.md (webhook
//     types), tutorials/istio-progressive-delivery.md — fluxcd/flagger at
//     15bd6ad555e6.
//   - Argo Rollouts: docs/features/analysis.md (AnalysisTemplate metrics
//     with interval, successCondition/failureCondition on result[0],
//     failureLimit, provider.prometheus; Rollout canary steps setWeight
//     and pause), docs/features/traffic-management/istio.md
//     (trafficRouting.istio) — argoproj/argo-rollouts at 9f8d111d8f8e.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/spec"
	"gopkg.in/yaml.v3"
)

func cmdImport(e env, args []string) error {
	fs, _ := flags("import", e)
	out := fs.String("o", "", "write the rollout file here instead of standard output")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usageErr(errors.New("usage: canaryctl import flagger canary.yaml [metrictemplates.yaml…] | import argo analysistemplate.yaml rollout.yaml"))
	}
	var docs []map[string]any
	for _, p := range pos[1:] {
		d, err := readDocs(p)
		if err != nil {
			return usageErr(err)
		}
		docs = append(docs, d...)
	}
	var ro *spec.Rollout
	var notes []string
	switch pos[0] {
	case "flagger":
		ro, notes, err = importFlagger(docs)
	case "argo":
		ro, notes, err = importArgo(docs)
	default:
		return usageErr(fmt.Errorf("import from %q: give flagger or argo", pos[0]))
	}
	if err != nil {
		return usageErr(err)
	}
	y, err := rolloutYAML(ro)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Imported from %s by canaryctl on %s.\n", pos[0], fmtTime(time.Now()))
	if len(notes) == 0 {
		b.WriteString("# Everything was mapped.\n")
	} else {
		b.WriteString("# Not mapped, or mapped with a change of meaning — review before use:\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "#   - %s\n", n)
		}
	}
	b.Write(y)
	// The result must be a rollout file canaryctl reads.
	if _, err := parseRollout("imported", b.Bytes()); err != nil {
		return fmt.Errorf("the imported rollout does not read back: %w", err)
	}
	if err := ro.Validate(lookup); err != nil {
		fmt.Fprintf(e.stderr, "canaryctl import: note: the imported rollout does not validate yet: %v\n", err)
	}
	for _, n := range notes {
		fmt.Fprintln(e.stderr, "not mapped:", n)
	}
	if *out != "" {
		return os.WriteFile(*out, b.Bytes(), 0o644)
	}
	_, err = e.stdout.Write(b.Bytes())
	return err
}

// readDocs reads every YAML document of a file.
func readDocs(path string) ([]map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if m != nil {
			out = append(out, m)
		}
	}
}

// obj walks a decoded YAML tree.
type obj map[string]any

func (o obj) m(k string) obj {
	v, _ := o[k].(map[string]any)
	return obj(v)
}
func (o obj) s(k string) string {
	switch v := o[k].(type) {
	case string:
		return v
	case int, float64:
		return fmt.Sprint(v)
	}
	return ""
}
func (o obj) list(k string) []obj {
	var out []obj
	l, _ := o[k].([]any)
	for _, v := range l {
		if m, ok := v.(map[string]any); ok {
			out = append(out, obj(m))
		}
	}
	return out
}
func (o obj) num(k string) (float64, bool) {
	switch v := o[k].(type) {
	case int:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}
func (o obj) has(k string) bool { _, ok := o[k]; return ok }

func find(docs []map[string]any, kinds ...string) []obj {
	var out []obj
	for _, d := range docs {
		for _, k := range kinds {
			if obj(d).s("kind") == k {
				out = append(out, obj(d))
			}
		}
	}
	return out
}

func duration(s string) (spec.Duration, error) {
	d, err := time.ParseDuration(s)
	return spec.Duration(d), err
}

func ptrF(v float64) *float64 { return &v }
func ptrI(v int) *int         { return &v }

// unmapped lists the keys of o not in known, as "prefix.key".
func unmapped(o obj, prefix string, known ...string) []string {
	k := map[string]bool{}
	for _, n := range known {
		k[n] = true
	}
	var out []string
	for key := range o {
		if !k[key] {
			out = append(out, prefix+"."+key)
		}
	}
	sort.Strings(out)
	return out
}

func importFlagger(docs []map[string]any) (*spec.Rollout, []string, error) {
	canaries := find(docs, "Canary")
	if len(canaries) != 1 {
		return nil, nil, fmt.Errorf("give exactly one Flagger Canary (found %d)", len(canaries))
	}
	templates := map[string]obj{}
	for _, t := range find(docs, "MetricTemplate") {
		templates[t.m("metadata").s("name")] = t
	}
	c := canaries[0]
	meta, sp := c.m("metadata"), c.m("spec")
	a := sp.m("analysis")
	if len(a) == 0 {
		a = sp.m("canaryAnalysis") // the field's name before flagger.app/v1beta1
	}
	name := meta.s("name")
	target := sp.m("targetRef").s("name")
	if target == "" {
		target = name
	}
	svc := sp.m("service").s("name")
	if svc == "" {
		svc = target
	}
	ro := &spec.Rollout{APIVersion: spec.APIVersion, Kind: spec.Kind, Name: name,
		Target: spec.Target{Namespace: meta.s("namespace"), Service: svc,
			Stable: spec.Workload{Workload: target + "-primary"}, Canary: spec.Workload{Workload: target}}}
	var notes []string
	ns := meta.s("namespace")
	if ns == "" {
		ns = "default"
		notes = append(notes, "metadata.namespace was empty; default assumed")
	}
	provider := sp.s("provider")
	prefix := "istio"
	switch {
	case provider == "" || provider == "istio":
		ro.Router.Istio = &spec.Istio{Namespace: ns, VirtualService: svc,
			Stable: spec.Destination{Host: svc + "-primary"}, Canary: spec.Destination{Host: svc + "-canary"}}
		if provider == "" {
			notes = append(notes, "spec.provider was empty (Flagger's global mesh provider): the Istio router is assumed")
		}
	case strings.HasPrefix(provider, "gatewayapi"):
		ro.Router.GatewayAPI = &spec.GatewayAPI{Namespace: ns, Route: svc, Stable: svc + "-primary", Canary: svc + "-canary"}
		prefix = "envoy"
		notes = append(notes, "the built-in metrics were mapped to the Envoy templates; check that they match your gateway's metrics")
	case strings.HasPrefix(provider, "appmesh"):
		ro.Router.AppMesh = &spec.AppMesh{Namespace: ns, VirtualRouter: svc, Stable: target + "-primary", Canary: target + "-canary"}
		prefix = "envoy"
		notes = append(notes, "App Mesh: AWS ended support on 30 September 2026; consider gatewayapi with VPC Lattice")
	default:
		ro.Router.Istio = &spec.Istio{Namespace: ns, VirtualService: svc,
			Stable: spec.Destination{Host: svc + "-primary"}, Canary: spec.Destination{Host: svc + "-canary"}}
		notes = append(notes, fmt.Sprintf("spec.provider %q has no router here; the Istio router was written as a placeholder", provider))
	}
	// Plan.
	iv := a.s("interval")
	if iv == "" {
		iv = "1m" // Flagger's default schedule interval
	}
	d, err := duration(iv)
	if err != nil {
		return nil, nil, fmt.Errorf("spec.analysis.interval %q: %v", iv, err)
	}
	ro.Plan.Interval = d
	if v, ok := sp.num("progressDeadlineSeconds"); ok {
		ro.Plan.Deadline = spec.Duration(time.Duration(v) * time.Second)
	}
	if l, ok := a["stepWeights"].([]any); ok {
		for _, w := range l {
			if n, ok := w.(int); ok {
				ro.Plan.Steps = append(ro.Plan.Steps, spec.Step{Weight: n})
			}
		}
	} else {
		sw, _ := a.num("stepWeight")
		mw, _ := a.num("maxWeight")
		ro.Plan.StepWeight, ro.Plan.MaxWeight = int(sw), int(mw)
		if mw > 0 && sw > 0 && int(mw)%int(sw) != 0 {
			notes = append(notes, fmt.Sprintf("maxWeight %v is not a multiple of stepWeight %v: the last step is %d", mw, sw, int(mw)/int(sw)*int(sw)))
		}
	}
	if a.has("iterations") || a.has("mirror") {
		notes = append(notes, "spec.analysis.iterations/mirror (blue-green or mirroring): not mapped; see plan.zeroTraffic.mirror for a validation with mirrored traffic")
	}
	if v, ok := a.num("threshold"); ok {
		ro.Policy = &spec.Policy{FailureLimit: ptrI(int(v)), Counting: "cumulative"}
	}
	notes = append(notes, "Flagger counts a query with no values as a failed check; this rollout holds instead (policy.noData: hold is the default; set noData: fail to keep Flagger's behaviour)")
	// Metrics.
	var limits []spec.Limit
	for i, m := range a.list("metrics") {
		f := fmt.Sprintf("spec.analysis.metrics[%d]", i)
		mname := m.s("name")
		tr := m.m("thresholdRange")
		mn, hasMin := tr.num("min")
		mx, hasMax := tr.num("max")
		if !hasMin && !hasMax {
			if v, ok := m.num("threshold"); ok { // before thresholdRange
				if mname == "request-duration" || strings.Contains(mname, "duration") {
					mx, hasMax = v, true
				} else {
					mn, hasMin = v, true
				}
			}
		}
		met := spec.Metric{}
		if w := m.s("interval"); w != "" {
			if wd, err := duration(w); err == nil && wd != ro.Plan.Interval {
				met.Window = wd
			}
		}
		lim := spec.Limit{}
		switch {
		case mname == "request-success-rate" && m.m("templateRef").s("name") == "":
			met.Name, met.Builtin = "error-rate", prefix+"/error-rate"
			lim.Metric = met.Name
			if hasMin {
				lim.Max = ptrF(roundTo((100-mn)/100, 6))
			}
			if hasMax {
				notes = append(notes, f+".thresholdRange.max on the success rate: not mapped")
			}
		case mname == "request-duration" && m.m("templateRef").s("name") == "":
			met.Name, met.Builtin = "latency-p99", prefix+"/latency-p99"
			met.SkipStable = true
			// Flagger's request-duration is in milliseconds; the built-in
			// latency templates answer in seconds.
			lim.Metric, lim.Max = met.Name, ptrF(roundTo(mx/1000, 6))
			if !hasMax {
				lim.Max = nil
			}
		case m.m("templateRef").s("name") != "":
			tn := m.m("templateRef").s("name")
			t, ok := templates[tn]
			if !ok {
				notes = append(notes, fmt.Sprintf("%s (%s): MetricTemplate %q was not given (pass its file after the Canary's); metric left out", f, mname, tn))
				continue
			}
			q, why := flaggerQuery(t, m.m("templateVariables"))
			if why != "" {
				notes = append(notes, fmt.Sprintf("%s (%s): %s; metric left out", f, mname, why))
				continue
			}
			met.Name, met.Query, met.SkipStable = metricName(mname), q, true
			lim.Metric = met.Name
			if hasMin {
				lim.Min = ptrF(mn)
			}
			if hasMax {
				lim.Max = ptrF(mx)
			}
			if addr := t.m("spec").m("provider").s("address"); addr != "" {
				ro.Provider = &spec.Provider{Prometheus: &spec.Prometheus{Address: addr}}
			}
			notes = append(notes, fmt.Sprintf("%s (%s): the template's query judges the canary workload alone ({{ target }} → {{workload}}), against fixed limits", f, mname))
		default:
			notes = append(notes, fmt.Sprintf("%s (%s): neither a built-in metric nor a templateRef; left out", f, mname))
			continue
		}
		if lim.Min == nil && lim.Max == nil {
			notes = append(notes, fmt.Sprintf("%s (%s): no thresholdRange; measured but not judged", f, mname))
		} else {
			limits = append(limits, lim)
		}
		ro.Metrics = append(ro.Metrics, met)
	}
	if len(ro.Metrics) > 0 {
		if ro.Provider == nil {
			ro.Provider = &spec.Provider{Prometheus: &spec.Prometheus{Address: "http://prometheus.istio-system:9090"}}
			notes = append(notes, "Flagger's metrics server is set outside the Canary: provider.prometheus.address is a placeholder")
		}
		if len(limits) > 0 {
			ro.Analysis = &spec.Analysis{Analyzers: []spec.Analyzer{{Threshold: &spec.Threshold{Limits: limits}}}}
		} else {
			ro.Metrics, ro.Provider = nil, nil
		}
	}
	// Webhooks.
	for i, h := range a.list("webhooks") {
		typ := h.s("type")
		if typ == "" {
			typ = "rollout" // Flagger's default webhook type
		}
		f := fmt.Sprintf("spec.analysis.webhooks[%d] (%s, type %s)", i, h.s("name"), typ)
		switch h.s("type") {
		case "confirm-promotion":
			ro.Plan.Gates.BeforePromotion = true
			notes = append(notes, f+": mapped to plan.gates.beforePromotion; approve with canaryctl approve instead of the webhook")
		case "confirm-traffic-increase":
			ro.Plan.Gates.BeforeIncrease = true
			notes = append(notes, f+": mapped to plan.gates.beforeIncrease; approve with canaryctl approve instead of the webhook")
		case "confirm-rollout":
			ro.Plan.Gates.BeforeIncrease = true
			notes = append(notes, f+": mapped to plan.gates.beforeIncrease, which also holds every later increase")
		default:
			notes = append(notes, f+": webhooks are not called; run load tests and hooks around canaryctl run")
		}
	}
	notes = append(notes, unmapped(a, "spec.analysis", "interval", "threshold", "maxWeight", "stepWeight", "stepWeights", "metrics", "webhooks", "iterations", "mirror")...)
	notes = append(notes, unmapped(sp, "spec", "targetRef", "service", "analysis", "canaryAnalysis", "provider", "progressDeadlineSeconds")...)
	notes = append(notes, unmapped(sp.m("service"), "spec.service", "name", "port", "targetPort", "portName")...)
	return ro, notes, nil
}

var flaggerVar = regexp.MustCompile(`\{\{\s*([a-zA-Z_.]+)\s*\}\}`)

// flaggerQuery turns a MetricTemplate's query into a metrics template.
func flaggerQuery(t obj, vars obj) (string, string) {
	p := t.m("spec").m("provider")
	if typ := p.s("type"); typ != "prometheus" {
		return "", fmt.Sprintf("provider type %q is not mapped (prometheus is)", typ)
	}
	q := strings.TrimSpace(t.m("spec").s("query"))
	bad := ""
	q = flaggerVar.ReplaceAllStringFunc(q, func(s string) string {
		v := flaggerVar.FindStringSubmatch(s)[1]
		switch v {
		case "namespace":
			return "{{namespace}}"
		case "target":
			return "{{workload}}"
		case "service":
			return "{{service}}"
		case "interval":
			return "{{window}}"
		}
		if name, ok := strings.CutPrefix(v, "variables."); ok && vars.s(name) != "" && metrics.ValidValue(vars.s(name)) {
			return vars.s(name)
		}
		bad = fmt.Sprintf("template variable {{ %s }} has no value here", v)
		return s
	})
	if bad != "" {
		return "", bad
	}
	if _, err := metrics.Parse(metrics.PromQL, "imported", q); err != nil {
		return "", "the query does not parse as a safe template: " + err.Error()
	}
	return q, ""
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

func metricName(s string) string {
	n := strings.Trim(nonName.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if n == "" {
		n = "metric"
	}
	return n
}

func roundTo(v float64, prec int) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', prec, 64), 64)
	return f
}

var argoCond = regexp.MustCompile(`^\s*result(?:\[0\])?\s*(>=|>|<=|<)\s*([-+0-9.eE]+)\s*$`)

func importArgo(docs []map[string]any) (*spec.Rollout, []string, error) {
	rollouts := find(docs, "Rollout")
	if len(rollouts) != 1 {
		return nil, nil, fmt.Errorf("give exactly one Argo Rollouts Rollout (found %d)", len(rollouts))
	}
	templates := find(docs, "AnalysisTemplate", "ClusterAnalysisTemplate")
	if len(templates) == 0 {
		return nil, nil, errors.New("give at least one AnalysisTemplate")
	}
	r := rollouts[0]
	meta, can := r.m("metadata"), r.m("spec").m("strategy").m("canary")
	if len(can) == 0 {
		return nil, nil, errors.New("the Rollout has no spec.strategy.canary (blue-green is not mapped)")
	}
	ns := meta.s("namespace")
	var notes []string
	if ns == "" {
		ns = "default"
		notes = append(notes, "metadata.namespace was empty; default assumed")
	}
	ro := &spec.Rollout{APIVersion: spec.APIVersion, Kind: spec.Kind, Name: meta.s("name"),
		Target: spec.Target{Namespace: ns, Service: can.s("stableService"),
			Stable: spec.Workload{Version: "stable"}, Canary: spec.Workload{Version: "canary"}}}
	tr := can.m("trafficRouting")
	switch {
	case len(tr.m("istio")) > 0:
		is := tr.m("istio")
		vs := is.m("virtualService")
		i := &spec.Istio{Namespace: ns, VirtualService: vs.s("name"),
			Stable: spec.Destination{Host: can.s("stableService")}, Canary: spec.Destination{Host: can.s("canaryService")}}
		if routes, ok := vs["routes"].([]any); ok && len(routes) > 0 {
			i.Route = fmt.Sprint(routes[0])
			if len(routes) > 1 {
				notes = append(notes, "trafficRouting.istio.virtualService.routes: only the first route is managed")
			}
		}
		if dr := is.m("destinationRule"); len(dr) > 0 {
			i.DestinationRule = dr.s("name")
			host := can.s("stableService")
			if host == "" {
				host = ro.Name
				notes = append(notes, "destinationRule subsets: the service host was not given; the rollout's name is assumed")
			}
			i.Stable = spec.Destination{Host: host, Subset: dr.s("stableSubsetName")}
			i.Canary = spec.Destination{Host: host, Subset: dr.s("canarySubsetName")}
		}
		ro.Router.Istio = i
	default:
		ro.Router.Istio = &spec.Istio{Namespace: ns, VirtualService: ro.Name,
			Stable: spec.Destination{Host: can.s("stableService")}, Canary: spec.Destination{Host: can.s("canaryService")}}
		notes = append(notes, "spec.strategy.canary.trafficRouting is not Istio: the Istio router was written as a placeholder")
	}
	// Steps: setWeight, then its pause's duration as the step's hold.
	var holds []time.Duration
	for i, s := range can.list("steps") {
		f := fmt.Sprintf("spec.strategy.canary.steps[%d]", i)
		switch {
		case s.has("setWeight"):
			w, _ := s.num("setWeight")
			ro.Plan.Steps = append(ro.Plan.Steps, spec.Step{Weight: int(w)})
			holds = append(holds, 0)
		case s.has("pause"):
			p := s.m("pause")
			if dv := p.s("duration"); dv != "" {
				if n, err := strconv.Atoi(dv); err == nil {
					dv = strconv.Itoa(n) + "s" // a bare number is seconds
				}
				d, err := time.ParseDuration(dv)
				if err != nil {
					notes = append(notes, fmt.Sprintf("%s.pause.duration %q: not a duration; ignored", f, dv))
				} else if len(holds) > 0 {
					holds[len(holds)-1] += d
				}
			} else if len(ro.Plan.Steps) == 0 {
				ro.Plan.Gates.BeforeIncrease = true
				notes = append(notes, f+": an indefinite pause before the first weight → plan.gates.beforeIncrease (holds every increase)")
			} else if i == len(can.list("steps"))-1 {
				ro.Plan.Gates.BeforePromotion = true
				notes = append(notes, f+": an indefinite pause at the end → plan.gates.beforePromotion")
			} else {
				ro.Plan.Gates.BeforeIncrease = true
				notes = append(notes, f+": an indefinite pause → plan.gates.beforeIncrease (holds every increase, not just this one)")
			}
		case s.has("analysis"):
			notes = append(notes, f+": inline analysis → the templates are analysed at every interval of every step instead")
		default:
			for k := range s {
				notes = append(notes, fmt.Sprintf("%s.%s: not mapped", f, k))
			}
		}
	}
	for i := range ro.Plan.Steps {
		if holds[i] > 0 {
			ro.Plan.Steps[i].Hold = spec.Duration(holds[i])
		}
	}
	if n := len(ro.Plan.Steps); n > 0 && ro.Plan.Steps[n-1].Weight == 100 {
		ro.Plan.Steps = ro.Plan.Steps[:n-1] // setWeight: 100 is the promotion
	}
	// Analysis args given by the Rollout.
	args := map[string]string{}
	for _, a := range can.m("analysis").list("args") {
		args[a.s("name")] = a.s("value")
	}
	for _, s := range can.list("steps") {
		for _, a := range s.m("analysis").list("args") {
			args[a.s("name")] = a.s("value")
		}
	}
	argRe := regexp.MustCompile(`\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}`)
	var limits []spec.Limit
	failureLimit := -1
	for _, t := range templates {
		for i, m := range t.m("spec").list("metrics") {
			f := fmt.Sprintf("AnalysisTemplate %s metrics[%d] (%s)", t.m("metadata").s("name"), i, m.s("name"))
			prom := m.m("provider").m("prometheus")
			if len(prom) == 0 {
				notes = append(notes, f+": only the prometheus provider is mapped; metric left out")
				continue
			}
			q, missing := strings.TrimSpace(prom.s("query")), ""
			q = argRe.ReplaceAllStringFunc(q, func(s string) string {
				name := argRe.FindStringSubmatch(s)[1]
				if v, ok := args[name]; ok && v != "" {
					return v
				}
				missing = name
				return s
			})
			if missing != "" {
				notes = append(notes, fmt.Sprintf("%s: argument %q has no value in the Rollout (valueFrom is not mapped); metric left out", f, missing))
				continue
			}
			if _, err := metrics.Parse(metrics.PromQL, "imported", q); err != nil {
				notes = append(notes, fmt.Sprintf("%s: the query is not a safe template (%v); metric left out", f, err))
				continue
			}
			met := spec.Metric{Name: metricName(m.s("name")), Query: q, SkipStable: true}
			lim := spec.Limit{Metric: met.Name}
			ok := true
			for _, c := range []struct{ cond, inv string }{{m.s("successCondition"), ""}, {m.s("failureCondition"), "inv"}} {
				if c.cond == "" {
					continue
				}
				for _, part := range strings.Split(c.cond, "&&") {
					g := argoCond.FindStringSubmatch(part)
					if g == nil {
						notes = append(notes, fmt.Sprintf("%s: condition %q is not mapped (result[0] compared with a number is)", f, c.cond))
						ok = false
						break
					}
					v, _ := strconv.ParseFloat(g[2], 64)
					op := g[1]
					if c.inv != "" { // failure when result > v means success when result <= v
						op = map[string]string{">": "<=", ">=": "<=", "<": ">=", "<=": ">="}[op]
					}
					if strings.HasPrefix(op, ">") {
						lim.Min = ptrF(v)
					} else {
						lim.Max = ptrF(v)
					}
				}
			}
			if !ok || (lim.Min == nil && lim.Max == nil) {
				continue
			}
			if iv := m.s("interval"); iv != "" {
				if d, err := duration(iv); err == nil && (ro.Plan.Interval == 0 || d < ro.Plan.Interval) {
					ro.Plan.Interval = d
				}
			}
			if v, ok := m.num("failureLimit"); ok && (failureLimit < 0 || int(v) < failureLimit) {
				failureLimit = int(v)
			} else if !ok && failureLimit < 0 {
				failureLimit = 0 // Argo's default
			}
			if addr := prom.s("address"); addr != "" {
				ro.Provider = &spec.Provider{Prometheus: &spec.Prometheus{Address: addr}}
			}
			if !strings.Contains(q, "{{version}}") {
				notes = append(notes, f+": the query does not select the version; it judges whatever it measures against fixed limits — add a canary selector with {{version}} or {{workload}}")
			}
			for _, k := range []string{"count", "consecutiveErrorLimit", "inconclusiveLimit", "initialDelay"} {
				if m.has(k) {
					notes = append(notes, f+"."+k+": not mapped")
				}
			}
			limits = append(limits, lim)
			ro.Metrics = append(ro.Metrics, met)
		}
	}
	if ro.Plan.Interval == 0 {
		ro.Plan.Interval = spec.Duration(time.Minute)
		notes = append(notes, "no metric interval (a single measurement in Argo): plan.interval 1m is assumed")
	}
	if len(limits) > 0 {
		ro.Analysis = &spec.Analysis{Analyzers: []spec.Analyzer{{Threshold: &spec.Threshold{Limits: limits}}}}
		// Argo fails an analysis when more than failureLimit measurements
		// failed; the rollout rolls back at FailureLimit failures.
		ro.Policy = &spec.Policy{FailureLimit: ptrI(failureLimit + 1), Counting: "cumulative"}
	} else {
		ro.Metrics, ro.Provider = nil, nil
	}
	if can.m("analysis").s("startingStep") != "" || can.m("analysis").has("startingStep") {
		notes = append(notes, "spec.strategy.canary.analysis.startingStep: not mapped; analysis runs from the first step")
	}
	notes = append(notes, unmapped(can, "spec.strategy.canary", "canaryService", "stableService", "trafficRouting", "steps", "analysis")...)
	return ro, notes, nil
}
