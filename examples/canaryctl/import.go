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
//     15bd6ad555e6; the webhook fields (CanaryWebhook in
//     pkg/apis/flagger/v1beta1/canary.go) and their default timeouts
//     (pkg/controller/webhook.go) at v1.36.1.
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
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/spec"
	"go.yaml.in/yaml/v3"
)

func cmdImport(e env, args []string) error {
	fs, _ := flags("import", e)
	out := fs.String("o", "", "write the rollout file here instead of standard output")
	name := fs.String("name", "", "the Canary or Rollout to import when the files hold several (its metadata.name)")
	tz := addZone(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usageErr(errors.New("usage: canaryctl import [--name NAME] flagger canary.yaml [metrictemplates.yaml…] | import [--name NAME] argo rollout.yaml [analysistemplates.yaml…]"))
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
		ro, notes, err = importFlagger(docs, *name)
	case "argo":
		ro, notes, err = importArgo(docs, *name)
	default:
		return usageErr(fmt.Errorf("import from %q: give flagger or argo", pos[0]))
	}
	if err != nil {
		for _, n := range notes {
			fmt.Fprintln(e.stderr, "not mapped:", n)
		}
		return usageErr(err)
	}
	y, err := rolloutYAML(ro)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Imported from %s by canaryctl on %s.\n", pos[0], fmtTime(time.Now(), tz.loc))
	if len(notes) == 0 {
		b.WriteString("# Everything was mapped.\n")
	} else {
		b.WriteString("# Not mapped, or mapped with a change of meaning — review before use:\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "#   - %s\n", n)
		}
	}
	b.Write(y)
	// The result must be a rollout file canaryctl reads and validates;
	// nothing is written otherwise.
	f, err := parseRollout("imported", b.Bytes())
	if err == nil {
		err = f.ro.Validate(lookup)
	}
	if err != nil {
		for _, n := range notes {
			fmt.Fprintln(e.stderr, "not mapped:", n)
		}
		return usageErr(fmt.Errorf("the rollout file made from %s would not validate, so none was written: %v", ro.Name, err))
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

// pick returns the one object of the kind the import reads: the one named
// name, or the only one when name is empty.
func pick(docs []map[string]any, what, name string, kinds ...string) (obj, error) {
	all := find(docs, kinds...)
	whats := what + "s"
	if w, ok := strings.CutSuffix(what, "y"); ok {
		whats = w + "ies"
	}
	var names []string
	for _, o := range all {
		names = append(names, fmt.Sprintf("%q", o.m("metadata").s("name")))
	}
	if name != "" {
		var hit []obj
		for _, o := range all {
			if o.m("metadata").s("name") == name {
				hit = append(hit, o)
			}
		}
		switch {
		case len(hit) == 1:
			return hit[0], nil
		case len(hit) > 1:
			return nil, fmt.Errorf("the files hold %d %s named %q; give files that hold one", len(hit), whats, name)
		case len(all) == 0:
			return nil, fmt.Errorf("the files hold no %s", what)
		}
		return nil, fmt.Errorf("the files hold no %s named %q (they hold %s)", what, name, strings.Join(names, ", "))
	}
	switch len(all) {
	case 0:
		return nil, fmt.Errorf("the files hold no %s", what)
	case 1:
		return all[0], nil
	}
	return nil, fmt.Errorf("the files hold %d %s (%s): choose one with --name", len(all), whats, strings.Join(names, ", "))
}

// rolloutName converts a Kubernetes object name into a rollout name
// (lower-case letters, digits, '-' and '.'), with a note when it changed.
func rolloutName(n string, notes *[]string) (string, error) {
	if n == "" {
		return "", errors.New("its metadata.name is empty; a rollout needs a name")
	}
	c := strings.Trim(regexp.MustCompile(`[^a-z0-9.-]+`).ReplaceAllString(strings.ToLower(n), "-"), "-.")
	if len(c) > 253 {
		c = strings.Trim(c[:253], "-.")
	}
	if c == "" {
		return "", fmt.Errorf("its metadata.name %q has no letter or digit to make a rollout name from", n)
	}
	if c != n {
		*notes = append(*notes, fmt.Sprintf("metadata.name %q is not a valid rollout name; written as %q", n, c))
	}
	return c, nil
}

// ingressNginx is the sentence for ingress-nginx canaries.
const ingressNginx = "ingress-nginx was retired in March 2026 and has no router here; put a Gateway API HTTPRoute in front of the stable and canary Services (router gatewayapi) and import again with that"

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
// argoWorkloads reads an Argo Rollout's replica count (Argo's default 1)
// and names the two Deployments that run its versions here: the
// workloadRef's (or NAME-stable) and its -canary sibling. what names the
// release in the error for fewer than one replica.
func argoWorkloads(r obj, rname, name, what string) (replicas int, stableDep, canaryDep string, err error) {
	replicas = 1
	if v, ok := r.m("spec").num("replicas"); ok {
		replicas = int(v)
	}
	if replicas < 1 {
		return 0, "", "", fmt.Errorf("the Rollout %q has spec.replicas %d; %s needs at least one pod", rname, replicas, what)
	}
	stableDep = name + "-stable"
	if wr := r.m("spec").m("workloadRef"); wr.s("name") != "" {
		stableDep = wr.s("name")
	}
	return replicas, stableDep, strings.TrimSuffix(stableDep, "-stable") + "-canary", nil
}

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

func importFlagger(docs []map[string]any, want string) (*spec.Rollout, []string, error) {
	c, err := pick(docs, "Flagger Canary", want, "Canary")
	if err != nil {
		return nil, nil, err
	}
	templates := map[string]obj{}
	for _, t := range find(docs, "MetricTemplate") {
		templates[t.m("metadata").s("name")] = t
	}
	meta, sp := c.m("metadata"), c.m("spec")
	a := sp.m("analysis")
	if len(a) == 0 {
		a = sp.m("canaryAnalysis") // the field's name before flagger.app/v1beta1
	}
	var notes []string
	name, err := rolloutName(meta.s("name"), &notes)
	if err != nil {
		return nil, nil, fmt.Errorf("the Canary cannot be imported: %w", err)
	}
	provider := sp.s("provider")
	// Strategies other than a weighted canary (issue 20).
	switch {
	case provider == "nginx":
		return nil, nil, fmt.Errorf("the Canary %q uses spec.provider nginx: %s", meta.s("name"), ingressNginx)
	}
	target := sp.m("targetRef").s("name")
	if target == "" {
		return nil, nil, fmt.Errorf("the Canary %q has no spec.targetRef.name: the workload to roll out is not named", meta.s("name"))
	}
	if k := sp.m("targetRef").s("kind"); k != "" && k != "Deployment" {
		return nil, nil, fmt.Errorf("the Canary %q targets a %s (spec.targetRef.kind); only Deployments are imported", meta.s("name"), k)
	}
	svc := sp.m("service").s("name")
	if svc == "" {
		svc = target
	}
	ns := meta.s("namespace")
	if ns == "" {
		ns = "default"
		notes = append(notes, "metadata.namespace was empty; default assumed")
	}
	ro := &spec.Rollout{APIVersion: spec.APIVersion, Kind: spec.Kind, Name: name,
		Target: spec.Target{Namespace: ns, Service: svc,
			Stable: spec.Workload{Workload: target + "-primary"}, Canary: spec.Workload{Workload: target}}}
	// Flagger's routers: the primary Deployment and Service are
	// <target>-primary and <service>-primary, the canary Service is
	// <service>-canary (docs/gitbook/usage/how-it-works.md).
	prefix := "istio"
	kind, version, _ := strings.Cut(provider, ":")
	switch kind {
	case "", "istio":
		ro.Router.Istio = &spec.Istio{Namespace: ns, VirtualService: svc,
			Stable: spec.Destination{Host: svc + "-primary"}, Canary: spec.Destination{Host: svc + "-canary"}}
		if provider == "" {
			notes = append(notes, "spec.provider was empty (Flagger's global mesh provider): the Istio router is assumed")
		}
	case "gatewayapi":
		ro.Router.GatewayAPI = &spec.GatewayAPI{Namespace: ns, Route: svc, Stable: svc + "-primary", Canary: svc + "-canary"}
		prefix = "envoy"
		notes = append(notes, "the built-in metrics were mapped to the Envoy templates; check that they match your gateway's metrics")
	case "linkerd":
		// Flagger drives Linkerd through an HTTPRoute whose parent is the
		// Service (Linkerd 2.12+ reads Gateway API routes).
		ro.Router.GatewayAPI = &spec.GatewayAPI{Namespace: ns, Route: svc, Stable: svc + "-primary", Canary: svc + "-canary", Implementation: "linkerd"}
		prefix = "linkerd"
		notes = append(notes, "Linkerd: an HTTPRoute with the Service as its parent (Linkerd 2.14+); with Linkerd's SMI extension instead, use router smi")
	case "osm", "smi":
		ro.Router.SMI = &spec.SMI{Namespace: ns, TrafficSplit: svc, Service: svc, StableBackend: svc + "-primary", CanaryBackend: svc + "-canary"}
		if kind == "smi" && version != "" {
			if !slices.Contains(spec.SMIAPIVersions, version) {
				return nil, nil, fmt.Errorf("the Canary %q uses spec.provider %q: the SMI TrafficSplit versions written here are %s", meta.s("name"), provider, strings.Join(spec.SMIAPIVersions, ", "))
			}
			ro.Router.SMI.APIVersion = version
		}
		prefix = kind
		if kind == "osm" {
			notes = append(notes, "Open Service Mesh: an SMI TrafficSplit (split.smi-spec.io v1alpha2); OSM was archived in 2023")
		}
	case "appmesh":
		ro.Router.AppMesh = &spec.AppMesh{Namespace: ns, VirtualRouter: svc, Stable: target + "-primary", Canary: target + "-canary"}
		prefix = "envoy"
		notes = append(notes, "App Mesh: AWS ended support on 30 September 2026; consider gatewayapi with VPC Lattice")
	case "kubernetes":
		ro.Router.ReplicaRatio = &spec.ReplicaRatio{Namespace: ns, Service: svc, StableDeployment: target + "-primary", CanaryDeployment: target, Replicas: 10}
		prefix = ""
		notes = append(notes, "spec.provider kubernetes: the weight is the share of ready canary pods (router replicaRatio); the Canary does not say how many pods, so replicas: 10 is written (weights round to tens) — set it to your replica count")
	default:
		return nil, nil, fmt.Errorf("the Canary %q uses spec.provider %q, which has no router here (mapped: istio, linkerd, osm, smi, appmesh, gatewayapi, kubernetes); if %s serves the Gateway API, set spec.provider: gatewayapi:v1 and import again", meta.s("name"), provider, kind)
	}
	if a.has("stepWeightPromotion") {
		notes = append(notes, "spec.analysis.stepWeightPromotion: not mapped; promotion moves all traffic at once")
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
	weighted := a.has("stepWeights") || a.has("stepWeight")
	abtest := len(a.list("match")) > 0 && (a.has("iterations") || !weighted)
	bluegreen := !abtest && a.has("iterations") && !weighted
	switch {
	case abtest:
		ms, err := flaggerMatches(a.list("match"), &notes)
		if err != nil {
			return nil, notes, fmt.Errorf("the Canary %q is an A/B test, but %w", meta.s("name"), err)
		}
		it, _ := a.num("iterations")
		ro.Plan.Strategy = "abtest"
		ro.Plan.ABTest = &spec.ABTest{Match: ms, Iterations: int(it)}
		if !a.has("iterations") {
			notes = append(notes, "spec.analysis.match without iterations: an A/B test promoted on its first passing analysis (plan.abTest.iterations 0)")
		}
		if weighted || a.has("maxWeight") {
			notes = append(notes, "spec.analysis.stepWeight/maxWeight: an A/B test moves no weights; not mapped")
		}
	case bluegreen:
		// Flagger's blue/green: iterations analyses with no production
		// traffic (its tests reach <service>-canary), then the switch.
		it, _ := a.num("iterations")
		ro.Plan.Strategy = "bluegreen"
		ro.Plan.BlueGreen = &spec.BlueGreen{PrePromotion: spec.Duration(time.Duration(it) * d.D())}
		if a.has("mirror") {
			if on, _ := a["mirror"].(bool); on {
				mw, ok := a.num("mirrorWeight")
				if !ok {
					mw = 100 // Flagger's default mirrorWeight
				}
				ro.Plan.BlueGreen.Mirror = int(mw)
			}
		}
		notes = append(notes, fmt.Sprintf("spec.analysis.iterations %d: blue/green, analysed for at least %d intervals (plan.blueGreen.prePromotion) before the switch; Flagger's tests reach the new version through %s-canary, no preview route is written", int(it), int(it), svc))
		if a.has("maxWeight") {
			notes = append(notes, "spec.analysis.maxWeight: blue/green moves no weights; not mapped")
		}
	}
	if l, ok := a["stepWeights"].([]any); ok && !abtest && !bluegreen {
		for _, w := range l {
			if n, ok := w.(int); ok {
				ro.Plan.Stages = append(ro.Plan.Stages, spec.Stage{Weight: n})
			}
		}
	} else if !abtest && !bluegreen {
		sw, _ := a.num("stepWeight")
		mw, _ := a.num("maxWeight")
		if sw > 0 && mw == 0 {
			mw = 100 // Flagger's default maxWeight (pkg/controller/scheduler.go)
		}
		ro.Plan.StageWeight, ro.Plan.MaxWeight = int(sw), int(mw)
		if mw > 0 && sw > 0 && int(mw)%int(sw) != 0 {
			notes = append(notes, fmt.Sprintf("maxWeight %v is not a multiple of stepWeight %v: the last stage is %d", mw, sw, int(mw)/int(sw)*int(sw)))
		}
	}
	if len(ro.Plan.Stages) == 0 && ro.Plan.StageWeight == 0 && !abtest && !bluegreen {
		return nil, notes, fmt.Errorf("the Canary %q's spec.analysis gives no traffic stages (stepWeight, or stepWeights), so there is no weighted canary to import", meta.s("name"))
	}
	if !abtest && !bluegreen {
		if a.has("iterations") {
			notes = append(notes, "spec.analysis.iterations with stepWeight: a weighted canary; iterations not mapped")
		}
		if len(a.list("match")) > 0 {
			notes = append(notes, "spec.analysis.match without iterations on a weighted canary: not mapped")
		}
	}
	if on, _ := a["mirror"].(bool); on && !bluegreen {
		notes = append(notes, "spec.analysis.mirror: Flagger mirrors in blue/green (with iterations) only; not mapped (see plan.zeroTraffic.mirror for a validation with mirrored traffic)")
	}
	if sa := a.m("sessionAffinity"); len(sa) > 0 {
		switch {
		case abtest || bluegreen:
			notes = append(notes, "spec.analysis.sessionAffinity: applies to a weighted canary only; not mapped")
		case sa.s("cookieName") == "":
			notes = append(notes, "spec.analysis.sessionAffinity: no cookieName; not mapped")
		default:
			ro.Plan.SessionAffinity = &spec.SessionAffinity{Cookie: sa.s("cookieName")}
			if v, ok := sa.num("maxAge"); ok {
				ro.Plan.SessionAffinity.MaxAge = spec.Duration(time.Duration(v) * time.Second)
			}
		}
	}
	if err := fitRouter(ro, &notes); err != nil {
		return nil, notes, fmt.Errorf("the Canary %q cannot be imported: %w", meta.s("name"), err)
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
		case (mname == "request-success-rate" || mname == "request-duration") && m.m("templateRef").s("name") == "" && meshQueries[prefix][mname] == "" && prefix != "istio" && prefix != "envoy":
			notes = append(notes, fmt.Sprintf("%s (%s): Flagger's built-in metric for spec.provider %q has no template here; metric left out (give a MetricTemplate instead)", f, mname, provider))
			continue
		case mname == "request-success-rate" && m.m("templateRef").s("name") == "" && meshQueries[prefix][mname] != "":
			met.Name, met.Query = "error-rate", meshQueries[prefix][mname]
			lim.Metric = met.Name
			if hasMin {
				lim.Max = ptrF(roundTo((100-mn)/100, 6))
			}
			if hasMax {
				notes = append(notes, f+".thresholdRange.max on the success rate: not mapped")
			}
			notes = append(notes, fmt.Sprintf("%s (%s): Flagger's %s query, as an error rate per workload", f, mname, prefix))
		case mname == "request-duration" && m.m("templateRef").s("name") == "" && meshQueries[prefix][mname] != "":
			// The mesh's histogram is in milliseconds (as Flagger's
			// threshold); every latency here is in seconds, so the query
			// and the bound are both converted.
			met.Name, met.Query, met.SkipStable = "latency-p99", "("+meshQueries[prefix][mname]+") / 1000", true
			lim.Metric, lim.Max = met.Name, ptrF(roundTo(mx/1000, 6))
			if !hasMax {
				lim.Max = nil
			}
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
			scale := 1.0
			if msQuery.MatchString(q) {
				// A histogram or summary in milliseconds (Linkerd's
				// response_latency_ms, OSM's …_duration_ms): every latency
				// here is in seconds, so the query and its bounds are
				// converted.
				met.Query, scale = "("+q+") / 1000", 1000
				notes = append(notes, fmt.Sprintf("%s (%s): the template's query reads a histogram in milliseconds; divided by 1000 (and its thresholds) to read seconds", f, mname))
			}
			if hasMin {
				lim.Min = ptrF(roundTo(mn/scale, 6))
			}
			if hasMax {
				lim.Max = ptrF(roundTo(mx/scale, 6))
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
	if n := len(a.list("metrics")); n > 0 && len(limits) == 0 {
		return nil, notes, fmt.Errorf("none of Canary %q's %d metrics could be mapped to a judged metric (see the notes above), and a rollout without its analysis would promote unchecked", meta.s("name"), n)
	}
	// Webhooks.
	hooks, hookNotes := flaggerWebhooks(a.list("webhooks"))
	notes = append(notes, hookNotes...)
	for _, h := range hooks {
		switch h.Type {
		case "confirm-promotion":
			ro.Plan.Gates.BeforePromotion = true // where the hook is asked
		case "confirm-traffic-increase":
			ro.Plan.Gates.BeforeIncrease = true
		}
	}
	if len(hooks) > 0 {
		ro.Signals = &spec.Signals{Webhooks: hooks}
	}
	notes = append(notes, unmapped(a, "spec.analysis", "interval", "threshold", "maxWeight", "stepWeight", "stepWeights", "metrics", "webhooks", "iterations", "mirror", "mirrorWeight", "match", "sessionAffinity", "stepWeightPromotion")...)
	notes = append(notes, unmapped(sp, "spec", "targetRef", "service", "analysis", "canaryAnalysis", "provider", "progressDeadlineSeconds")...)
	notes = append(notes, unmapped(sp.m("service"), "spec.service", "name", "port", "targetPort", "portName")...)
	return ro, notes, nil
}

// flaggerWebhooks maps a Canary's spec.analysis.webhooks to the rollout
// file's signals.webhooks, which canaryctl run calls with Flagger's
// payload and meaning (package hook): name, type (empty is Flagger's
// default, rollout), url, timeout (empty is Flagger's default, 10 s; an
// event hook's is always 5 s in Flagger, pkg/controller/webhook.go at
// v1.36.1), retries and metadata (a load tester's type and cmd go as
// they are: the load tester at url runs the command). What cannot be
// mapped is a note naming the field; a hook that cannot be called at all
// (no URL) is left out, with a note.
func flaggerWebhooks(list []obj) ([]spec.Webhook, []string) {
	var hooks []spec.Webhook
	var notes []string
	names := map[string]bool{}
	for i, h := range list {
		f := fmt.Sprintf("spec.analysis.webhooks[%d]", i)
		w := spec.Webhook{Name: h.s("name"), Type: h.s("type"), URL: strings.TrimSpace(h.s("url"))}
		if w.Type == "" {
			w.Type = "rollout" // Flagger's default webhook type
		}
		if !slices.Contains([]string{"confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase", "confirm-promotion", "post-rollout", "rollback", "event"}, w.Type) {
			notes = append(notes, fmt.Sprintf("%s.type %q: not a Flagger webhook type; hook left out", f, w.Type))
			continue
		}
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			notes = append(notes, fmt.Sprintf("%s.url: not an http or https URL; hook %q left out", f, w.Name))
			continue
		}
		if w.Name == "" {
			w.Name = fmt.Sprintf("webhook-%d", i+1)
			notes = append(notes, fmt.Sprintf("%s.name: none given; named %s", f, w.Name))
		}
		if names[w.Name] {
			n := w.Name
			for k := 2; names[w.Name]; k++ {
				w.Name = fmt.Sprintf("%s-%d", n, k)
			}
			notes = append(notes, fmt.Sprintf("%s.name %q: used twice; this one named %q", f, n, w.Name))
		}
		names[w.Name] = true
		timeout := h.s("timeout")
		switch {
		case w.Type == "event":
			timeout = "5s"
			if h.has("timeout") {
				notes = append(notes, f+".timeout: Flagger calls event hooks with 5 s whatever it says; mapped as 5s")
			}
		case len(timeout) < 2: // as Flagger reads it
			timeout = "10s"
		}
		d, err := duration(timeout)
		switch {
		case err != nil || d < 0:
			notes = append(notes, fmt.Sprintf("%s.timeout %q: not a duration; Flagger's default 10s used", f, timeout))
			d = spec.Duration(10 * time.Second)
		case d.D() < time.Second:
			notes = append(notes, fmt.Sprintf("%s.timeout %q: under a second, which a rollout file does not take; 1s used", f, timeout))
			d = spec.Duration(time.Second)
		}
		w.Timeout = d
		if r, ok := h.num("retries"); ok {
			w.Retries = min(max(int(r), 0), 10)
			if float64(w.Retries) != r {
				notes = append(notes, fmt.Sprintf("%s.retries %v: a rollout file takes 0 to 10; %d used", f, r, w.Retries))
			}
		}
		md, _ := h["metadata"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(md)) {
			v := md[k]
			switch v.(type) {
			case string, int, float64, bool:
			default:
				notes = append(notes, fmt.Sprintf("%s.metadata.%s: not a string; left out", f, k))
				continue
			}
			sv := fmt.Sprint(v)
			if !spec.ValidMetadataKey(k) || len(sv) > spec.MaxMetadataValue {
				notes = append(notes, fmt.Sprintf("%s.metadata.%s: the key or its value is not one a rollout file takes; left out", f, k))
				continue
			}
			if w.Metadata == nil {
				w.Metadata = map[string]string{}
			}
			w.Metadata[k] = sv
		}
		if len(w.Metadata) > spec.MaxWebhookMetadata {
			notes = append(notes, fmt.Sprintf("%s.metadata: more than %d keys; hook %q left out", f, spec.MaxWebhookMetadata, w.Name))
			continue
		}
		if h.has("muteAlert") {
			notes = append(notes, f+".muteAlert: not mapped (canaryctl's notifications are not per hook)")
		}
		notes = append(notes, unmapped(h, f, "name", "type", "url", "timeout", "retries", "metadata", "muteAlert")...)
		hooks = append(hooks, w)
	}
	if len(hooks) > 0 {
		notes = append(notes, "spec.analysis.webhooks: canaryctl run calls them from where it runs, so their URLs (often cluster-internal, like Flagger's load tester) must be reachable from there; secrets in metadata belong in signals.webhooks[].secretMetadata")
	}
	return hooks, notes
}

// msQuery matches a query over a Prometheus metric in milliseconds (a
// name ending in _ms or _milliseconds, with _bucket, _sum or _count), as
// Linkerd's response_latency_ms and OSM's osm_request_duration_ms are.
var msQuery = regexp.MustCompile(`_(ms|milliseconds)(_bucket|_sum|_count)?\b`)

// meshQueries are Flagger's built-in queries of the meshes whose metrics
// have no built-in template here, rewritten as metrics templates: the
// success rate as an error rate (a fraction), the duration as the p99 in
// milliseconds. Source: fluxcd/flagger pkg/metrics/observers/linkerd.go
// and osm.go at commit 15bd6ad555e6 (Apache-2.0).
var meshQueries = map[string]map[string]string{
	"linkerd": {
		"request-success-rate": `sum(rate(response_total{namespace="{{namespace}}", deployment="{{workload}}", classification="failure", direction="inbound"}[{{window}}])) / sum(rate(response_total{namespace="{{namespace}}", deployment="{{workload}}", direction="inbound"}[{{window}}]))`,
		"request-duration":     `histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{namespace="{{namespace}}", deployment="{{workload}}", direction="inbound"}[{{window}}])) by (le))`,
	},
	"osm": {
		"request-success-rate": `sum(rate(osm_request_total{destination_namespace="{{namespace}}", destination_kind="Deployment", destination_name="{{workload}}", response_code=~"5.*"}[{{window}}])) / sum(rate(osm_request_total{destination_namespace="{{namespace}}", destination_kind="Deployment", destination_name="{{workload}}"}[{{window}}]))`,
		"request-duration":     `histogram_quantile(0.99, sum(rate(osm_request_duration_ms_bucket{destination_namespace="{{namespace}}", destination_kind="Deployment", destination_name="{{workload}}"}[{{window}}])) by (le))`,
	},
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

func importArgo(docs []map[string]any, want string) (*spec.Rollout, []string, error) {
	r, err := pick(docs, "Argo Rollouts Rollout", want, "Rollout")
	if err != nil {
		return nil, nil, err
	}
	meta, strategy := r.m("metadata"), r.m("spec").m("strategy")
	can := strategy.m("canary")
	rname := meta.s("name")
	var notes []string
	name, err := rolloutName(rname, &notes)
	if err != nil {
		return nil, nil, fmt.Errorf("the Rollout cannot be imported: %w", err)
	}
	switch {
	case len(strategy.m("blueGreen")) > 0:
		return argoBlueGreen(docs, r, name, notes)
	case len(can) == 0:
		return nil, nil, fmt.Errorf("the Rollout %q has no spec.strategy.canary, so there is no canary to import", rname)
	}
	weights, routes := 0, 0
	for _, st := range can.list("steps") {
		if st.has("setWeight") {
			weights++
		}
		if len(st.m("setHeaderRoute").list("match")) > 0 || len(st.m("setMirrorRoute")) > 0 {
			routes++
		}
	}
	if weights == 0 && routes == 0 {
		return nil, nil, fmt.Errorf("the Rollout %q's canary steps set no weight (no setWeight step), so there is no traffic plan to import", rname)
	}
	// The analysis templates the Rollout names must be given; only those
	// are read.
	byName := map[string]obj{}
	for _, t := range find(docs, "AnalysisTemplate", "ClusterAnalysisTemplate") {
		byName[t.m("metadata").s("name")] = t
	}
	var templates []obj
	seen := map[string]bool{}
	refs := can.m("analysis").list("templates")
	for _, st := range can.list("steps") {
		refs = append(refs, st.m("analysis").list("templates")...)
	}
	for _, ref := range refs {
		tn := ref.s("templateName")
		if tn == "" || seen[tn] {
			continue
		}
		seen[tn] = true
		t, ok := byName[tn]
		if !ok {
			return nil, nil, fmt.Errorf("the Rollout %q's analysis uses AnalysisTemplate %q, which is not in the files given; pass the file that defines it too", rname, tn)
		}
		templates = append(templates, t)
	}
	ns := meta.s("namespace")
	if ns == "" {
		ns = "default"
		notes = append(notes, "metadata.namespace was empty; default assumed")
	}
	stable, canarySvc := can.s("stableService"), can.s("canaryService")
	ro := &spec.Rollout{APIVersion: spec.APIVersion, Kind: spec.Kind, Name: name,
		Target: spec.Target{Namespace: ns, Service: stable,
			Stable: spec.Workload{Version: "stable"}, Canary: spec.Workload{Version: "canary"}}}
	tr := can.m("trafficRouting")
	var routers []string
	for k := range tr {
		switch k {
		case "managedRoutes", "maxTrafficWeight":
			notes = append(notes, "spec.strategy.canary.trafficRouting."+k+": not mapped")
		default:
			routers = append(routers, k)
		}
	}
	sort.Strings(routers)
	needServices := func(router string) error {
		if stable == "" || canarySvc == "" {
			return fmt.Errorf("the Rollout %q routes through %s but does not name both spec.strategy.canary.stableService and canaryService, which the router splits between", rname, router)
		}
		return nil
	}
	switch {
	case len(routers) > 1:
		return nil, nil, fmt.Errorf("the Rollout %q sets %d traffic routers at once (spec.strategy.canary.trafficRouting: %s); a rollout file has one router: keep one and import again", rname, len(routers), strings.Join(routers, ", "))
	case len(routers) == 0:
		// Argo's basic canary: the weight is the share of canary pods.
		svc := stable
		if svc == "" {
			svc = canarySvc
		}
		if svc == "" {
			svc = name
			notes = append(notes, fmt.Sprintf("no Service is named (spec.strategy.canary.stableService): router.replicaRatio.service %q is assumed", svc))
		}
		ro.Target.Service = svc
		replicas, stableDep, canaryDep, err := argoWorkloads(r, rname, name, "a replica-ratio canary")
		if err != nil {
			return nil, nil, err
		}
		ro.Router.ReplicaRatio = &spec.ReplicaRatio{Namespace: ns, Service: svc, StableDeployment: stableDep, CanaryDeployment: canaryDep, Replicas: replicas}
		notes = append(notes, fmt.Sprintf("no trafficRouting: the weight is the share of ready canary pods among %d (router replicaRatio, as Argo's basic canary); Argo manages ReplicaSets itself, here Deployments %q and %q run the two versions", replicas, stableDep, canaryDep))
		if replicas < 10 {
			notes = append(notes, fmt.Sprintf("with %d replicas the plan's weights round to multiples of %s %%", replicas, strconv.FormatFloat(100/float64(replicas), 'f', -1, 64)))
		}
	case routers[0] == "istio":
		is := tr.m("istio")
		vs := is.m("virtualService")
		if len(vs) == 0 {
			if l := is.list("virtualServices"); len(l) > 0 {
				vs = l[0]
				if len(l) > 1 {
					notes = append(notes, "trafficRouting.istio.virtualServices: only the first VirtualService is managed")
				}
			}
		}
		if vs.s("name") == "" {
			return nil, nil, fmt.Errorf("the Rollout %q's trafficRouting.istio names no VirtualService", rname)
		}
		i := &spec.Istio{Namespace: ns, VirtualService: vs.s("name"),
			Stable: spec.Destination{Host: stable}, Canary: spec.Destination{Host: canarySvc}}
		if routes, ok := vs["routes"].([]any); ok && len(routes) > 0 {
			i.Route = fmt.Sprint(routes[0])
			if len(routes) > 1 {
				notes = append(notes, "trafficRouting.istio.virtualService.routes: only the first route is managed")
			}
		}
		if dr := is.m("destinationRule"); len(dr) > 0 {
			i.DestinationRule = dr.s("name")
			host := stable
			if host == "" {
				host = rname
				notes = append(notes, "destinationRule subsets: the service host was not given; the rollout's name is assumed")
			}
			i.Stable = spec.Destination{Host: host, Subset: dr.s("stableSubsetName")}
			i.Canary = spec.Destination{Host: host, Subset: dr.s("canarySubsetName")}
		} else if err := needServices("Istio"); err != nil {
			return nil, nil, err
		}
		ro.Router.Istio = i
	case routers[0] == "smi":
		if err := needServices("SMI"); err != nil {
			return nil, nil, err
		}
		sm := tr.m("smi")
		// Argo's defaults: the TrafficSplit is named after the Rollout, the
		// root service is the stable Service.
		ts, root := sm.s("trafficSplitName"), sm.s("rootService")
		if ts == "" {
			ts = rname
		}
		if root == "" {
			root = stable
		}
		ro.Router.SMI = &spec.SMI{Namespace: ns, TrafficSplit: ts, Service: root, StableBackend: stable, CanaryBackend: canarySvc}
		notes = append(notes, "SMI: a v1alpha2 TrafficSplit is written (Argo's default is the version its controller was started with); set router.smi.apiVersion to the one your mesh serves")
	case routers[0] == "alb":
		if err := needServices("the AWS Load Balancer Controller"); err != nil {
			return nil, nil, err
		}
		al := tr.m("alb")
		ing := al.s("ingress")
		if ing == "" {
			if l, ok := al["ingresses"].([]any); ok && len(l) > 0 {
				ing = fmt.Sprint(l[0])
				if len(l) > 1 {
					notes = append(notes, "trafficRouting.alb.ingresses: only the first Ingress is managed")
				}
			}
		}
		if ing == "" {
			return nil, nil, fmt.Errorf("the Rollout %q's trafficRouting.alb names no Ingress", rname)
		}
		port, ok := al.num("servicePort")
		if !ok || port < 1 || port > 65535 {
			return nil, nil, fmt.Errorf("the Rollout %q's trafficRouting.alb.servicePort is missing or not a port number", rname)
		}
		action := al.s("rootService") // Argo names the action after the root service, else the stable one
		if action == "" {
			action = stable
		}
		ro.Router.ALB = &spec.ALB{Namespace: ns, Ingress: ing, ActionName: action, StableService: stable, CanaryService: canarySvc, ServicePort: int(port)}
		if al.has("annotationPrefix") {
			notes = append(notes, "trafficRouting.alb.annotationPrefix: not mapped; the action annotation uses alb.ingress.kubernetes.io")
		}
	case routers[0] == "appMesh":
		am := tr.m("appMesh")
		vs, group := am.m("virtualService"), am.m("virtualNodeGroup")
		st, cn := group.m("stableVirtualNodeRef").s("name"), group.m("canaryVirtualNodeRef").s("name")
		if vs.s("name") == "" || st == "" || cn == "" {
			return nil, nil, fmt.Errorf("the Rollout %q's trafficRouting.appMesh does not name its virtualService and both virtual nodes (virtualNodeGroup.stableVirtualNodeRef, canaryVirtualNodeRef)", rname)
		}
		a := &spec.AppMesh{Namespace: ns, VirtualRouter: vs.s("name"), Stable: st, Canary: cn}
		if routes, ok := vs["routes"].([]any); ok && len(routes) > 0 {
			a.Route = fmt.Sprint(routes[0])
		}
		ro.Router.AppMesh = a
		notes = append(notes, "App Mesh: the VirtualRouter is assumed to be named as the VirtualService (Argo finds it through the VirtualService's provider); AWS ended App Mesh support on 30 September 2026, consider gatewayapi with VPC Lattice")
	case routers[0] == "plugins":
		pl := tr.m("plugins")
		gw := pl.m("argoproj-labs/gatewayAPI")
		if len(gw) == 0 || len(pl) > 1 {
			var names []string
			for k := range pl {
				names = append(names, k)
			}
			sort.Strings(names)
			return nil, nil, fmt.Errorf("the Rollout %q's trafficRouting.plugins (%s) are not mapped; of the plugins only argoproj-labs/gatewayAPI is, alone", rname, strings.Join(names, ", "))
		}
		if err := needServices("the Gateway API"); err != nil {
			return nil, nil, err
		}
		route := gw.s("httpRoute")
		if route == "" {
			if l := gw.list("httpRoutes"); len(l) > 0 {
				route = l[0].s("name")
				if len(l) > 1 {
					notes = append(notes, "plugins.argoproj-labs/gatewayAPI.httpRoutes: only the first HTTPRoute is managed")
				}
			}
		}
		if route == "" {
			return nil, nil, fmt.Errorf("the Rollout %q's Gateway API plugin names no HTTPRoute (httpRoute)", rname)
		}
		gns := gw.s("namespace")
		if gns == "" {
			gns = ns
		}
		ro.Router.GatewayAPI = &spec.GatewayAPI{Namespace: gns, Route: route, Stable: stable, Canary: canarySvc}
		for _, k := range []string{"grpcRoute", "grpcRoutes", "tcpRoute", "tcpRoutes", "tlsRoute", "tlsRoutes"} {
			if gw.has(k) {
				notes = append(notes, "plugins.argoproj-labs/gatewayAPI."+k+": not mapped; only the HTTPRoute is managed")
			}
		}
	case routers[0] == "nginx":
		return nil, nil, fmt.Errorf("the Rollout %q routes through trafficRouting.nginx: %s", rname, ingressNginx)
	default:
		return nil, nil, fmt.Errorf("the Rollout %q routes through trafficRouting.%s, which has no router here (mapped: istio, smi, alb, appMesh, the Gateway API plugin, or no trafficRouting for a replica ratio)", rname, routers[0])
	}
	// Steps: setWeight, then its pause's duration as the step's hold.
	var holds []time.Duration
	var before time.Duration // the pauses before the first weight
	for i, s := range can.list("steps") {
		f := fmt.Sprintf("spec.strategy.canary.steps[%d]", i)
		switch {
		case s.has("setHeaderRoute"):
			argoHeaderRoute(ro, s.m("setHeaderRoute"), f, weights, &notes)
		case s.has("setMirrorRoute"):
			argoMirrorRoute(ro, s.m("setMirrorRoute"), f, weights, &notes)
		case s.has("setWeight"):
			w, _ := s.num("setWeight")
			ro.Plan.Stages = append(ro.Plan.Stages, spec.Stage{Weight: int(w)})
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
				} else {
					before += d
				}
			} else if weights == 0 || i == len(can.list("steps"))-1 && len(ro.Plan.Stages) > 0 {
				ro.Plan.Gates.BeforePromotion = true
				notes = append(notes, f+": an indefinite pause at the end → plan.gates.beforePromotion")
			} else if len(ro.Plan.Stages) == 0 {
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
			notes = append(notes, f+": inline analysis → the templates are analysed at every interval of every stage instead")
		default:
			for k := range s {
				notes = append(notes, fmt.Sprintf("%s.%s: not mapped", f, k))
			}
		}
	}
	for i := range ro.Plan.Stages {
		if holds[i] > 0 {
			ro.Plan.Stages[i].Hold = spec.Duration(holds[i])
		}
	}
	if n := len(ro.Plan.Stages); n > 0 && ro.Plan.Stages[n-1].Weight == 100 {
		ro.Plan.Stages = ro.Plan.Stages[:n-1] // setWeight: 100 is the promotion
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
	limits, failureLimit, total, _ := argoMetrics(ro, templates, args, &notes)
	if ro.Plan.Interval == 0 {
		ro.Plan.Interval = spec.Duration(time.Minute)
		notes = append(notes, "no metric interval (a single measurement in Argo): plan.interval 1m is assumed")
	}
	switch p := &ro.Plan; {
	case p.ABTest != nil && before > 0:
		iv := p.Interval.D()
		p.ABTest.Iterations = int((before + iv - 1) / iv)
		notes = append(notes, fmt.Sprintf("the pauses of the header route (%s) → plan.abTest.iterations %d of plan.interval", spec.FormatDuration(before), p.ABTest.Iterations))
	case p.BlueGreen != nil:
		p.BlueGreen.PrePromotion = spec.Duration(before)
	case p.ZeroTraffic != nil && before > 0:
		p.ZeroTraffic.Duration = spec.Duration(before)
	case p.ZeroTraffic != nil:
		p.ZeroTraffic.Duration = p.Interval
		notes = append(notes, "setMirrorRoute with no pause before the first setWeight: plan.zeroTraffic.duration is one plan.interval")
	}
	if err := fitRouter(ro, &notes); err != nil {
		return nil, notes, fmt.Errorf("the Rollout %q cannot be imported: %w", rname, err)
	}
	if len(limits) == 0 && total > 0 {
		return nil, notes, fmt.Errorf("none of the %d metrics of Rollout %q's analysis could be mapped (see the notes above), and a rollout without its analysis would promote unchecked", total, rname)
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
		notes = append(notes, "spec.strategy.canary.analysis.startingStep: not mapped; analysis runs from the first stage")
	}
	notes = append(notes, unmapped(can, "spec.strategy.canary", "canaryService", "stableService", "trafficRouting", "steps", "analysis")...)
	return ro, notes, nil
}

var argRe = regexp.MustCompile(`\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}`)

// argoMetrics maps the prometheus metrics of Argo analysis templates
// into ro.Metrics (once per name) and returns their limits, the smallest
// failureLimit (-1 when none was mapped), how many metrics the templates
// hold, and the longest count × interval among them (how long Argo's
// analysis runs; zero when no metric says).
func argoMetrics(ro *spec.Rollout, templates []obj, args map[string]string, notes *[]string) (limits []spec.Limit, failureLimit, total int, span time.Duration) {
	failureLimit = -1
	for _, t := range templates {
		for i, m := range t.m("spec").list("metrics") {
			total++
			f := fmt.Sprintf("AnalysisTemplate %s metrics[%d] (%s)", t.m("metadata").s("name"), i, m.s("name"))
			prom := m.m("provider").m("prometheus")
			if len(prom) == 0 {
				*notes = append(*notes, f+": only the prometheus provider is mapped; metric left out")
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
				*notes = append(*notes, fmt.Sprintf("%s: argument %q has no value in the Rollout (valueFrom is not mapped); metric left out", f, missing))
				continue
			}
			if _, err := metrics.Parse(metrics.PromQL, "imported", q); err != nil {
				*notes = append(*notes, fmt.Sprintf("%s: the query is not a safe template (%v); metric left out", f, err))
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
						*notes = append(*notes, fmt.Sprintf("%s: condition %q is not mapped (result[0] compared with a number is)", f, c.cond))
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
				*notes = append(*notes, f+": the query does not select the version; it judges whatever it measures against fixed limits — add a canary selector with {{version}} or {{workload}}")
			}
			if c, ok := m.num("count"); ok && c > 0 {
				if d, err := time.ParseDuration(m.s("interval")); err == nil {
					span = max(span, time.Duration(c)*d)
				}
			}
			for _, k := range []string{"count", "consecutiveErrorLimit", "inconclusiveLimit", "initialDelay"} {
				if m.has(k) {
					*notes = append(*notes, f+"."+k+": not mapped")
				}
			}
			limits = append(limits, lim)
			if !slices.ContainsFunc(ro.Metrics, func(x spec.Metric) bool { return x.Name == met.Name }) {
				ro.Metrics = append(ro.Metrics, met)
			}
		}
	}
	return limits, failureLimit, total, span
}
