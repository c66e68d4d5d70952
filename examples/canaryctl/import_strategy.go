package main

// Release strategies other than a weighted canary (issue 20), as the
// peers write them:
//
//   - Flagger v1.36.1, docs/gitbook/usage/deployment-strategies.md: A/B
//     testing (analysis.iterations with analysis.match, each entry a
//     map of headers compared by exact, prefix, suffix or regex; a
//     cookie as a regex on the cookie header of the form
//     ^(.*?;)?(name=value)(;.*)?$), blue/green (analysis.iterations
//     with no stepWeight), blue/green with traffic mirroring
//     (analysis.mirror, analysis.mirrorWeight, default 100) and canary
//     with session affinity (analysis.sessionAffinity.cookieName,
//     maxAge in seconds, default 86400).
//   - Argo Rollouts v1.10.2, docs/features/bluegreen.md (activeService,
//     previewService, autoPromotionEnabled, autoPromotionSeconds,
//     scaleDownDelaySeconds, default 30, prePromotionAnalysis,
//     postPromotionAnalysis) and docs/features/traffic-management/
//     index.md (canary steps setHeaderRoute {name, match: [{headerName,
//     headerValue: {exact|prefix|regex}}]} and setMirrorRoute {name,
//     percentage, match}).

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/meshcanary/canary/spec"
)

// flaggerCookie is Flagger's cookie match, a regex on the cookie header:
// ^(.*?;)?(name=value)(;.*)?$ (name a token, value plain cookie-octets
// with no regex syntax).
var flaggerCookie = regexp.MustCompile(`^\^\(\.\*\?;\)\?\(([!#$%&'*+\-.^_` + "`" + `|~0-9A-Za-z]+)=([!#%&'\-/0-9:<=>@A-Z_` + "`" + `a-z~]+)\)\(;\.\*\)\?\$$`)

// flaggerMatches maps a Canary's analysis.match to a rollout file's
// plan.abTest.match. Flagger ORs the entries and ANDs the headers of one
// entry; a cohort here ORs single matches, so an entry with several
// conditions (or with anything but headers, such as sourceLabels or uri)
// is left out with a note naming it: the cohort is then narrower than
// Flagger's, never wider. None left is an error.
func flaggerMatches(list []obj, notes *[]string) ([]spec.Match, error) {
	var out []spec.Match
	for i, e := range list {
		f := fmt.Sprintf("spec.analysis.match[%d]", i)
		var keys []string
		for k := range e {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		hs := e.m("headers")
		if len(keys) != 1 || keys[0] != "headers" || len(hs) != 1 {
			why := "a cohort here matches one header or cookie per entry"
			if slices.ContainsFunc(keys, func(k string) bool { return k != "headers" }) {
				why = "only headers are mapped"
			}
			n := len(hs)
			for _, k := range keys {
				if k != "headers" {
					n++
				}
			}
			*notes = append(*notes, fmt.Sprintf("%s (%s): %d conditions that must all hold cannot be expressed (%s); entry left out, so fewer requests reach the canary than in Flagger", f, strings.Join(keys, ", "), n, why))
			continue
		}
		for h := range hs {
			m, note := flaggerMatch(h, hs.m(h))
			if note != "" {
				*notes = append(*notes, fmt.Sprintf("%s.headers.%s: %s", f, h, note))
			}
			if m != nil {
				out = append(out, *m)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("none of spec.analysis.match's %d entries could be mapped to a cohort (see the notes above)", len(list))
	}
	if len(out) > 4 {
		return nil, fmt.Errorf("spec.analysis.match has %d entries; a cohort here holds at most 4", len(out))
	}
	return out, nil
}

// flaggerMatch maps one header condition; a nil match is left out, with
// the note saying why.
func flaggerMatch(header string, c obj) (*spec.Match, string) {
	if len(c) != 1 {
		return nil, "not exactly one of exact, prefix, suffix, regex; left out"
	}
	m := &spec.Match{Header: strings.ToLower(header)}
	switch {
	case c.s("exact") != "":
		m.Exact = c.s("exact")
	case c.s("prefix") != "":
		m.Prefix = c.s("prefix")
	case c.s("suffix") != "":
		m.Regex = ".*" + regexp.QuoteMeta(c.s("suffix"))
		return m, fmt.Sprintf("suffix %q written as the regex %q", c.s("suffix"), m.Regex)
	case c.s("regex") != "":
		m.Regex = c.s("regex")
		if m.Header == "cookie" {
			if g := flaggerCookie.FindStringSubmatch(m.Regex); g != nil {
				return &spec.Match{Cookie: g[1], Exact: g[2]}, ""
			}
		}
	default:
		return nil, "not exactly one of exact, prefix, suffix, regex; left out"
	}
	return m, ""
}

// carries is what a router of a rollout file can express of a plan's
// shape: README.md's table of routers and shapes, as each router
// declares it (traffic.Featurer) and refuses at rollback.New otherwise.
type carries struct {
	exact, prefix, regex, cookie bool
	preview, mirror, affinity    bool
}

func routerCarries(r spec.Routing) (string, carries) {
	all := carries{true, true, true, true, true, true, true}
	switch {
	case r.HTTPSplit != nil:
		return "httpsplit", all
	case r.Istio != nil:
		return "istio", all
	case r.GatewayAPI != nil && r.GatewayAPI.Implementation == "linkerd":
		return "gatewayapi (linkerd)", carries{exact: true, regex: true, cookie: true, preview: true}
	case r.GatewayAPI != nil && r.GatewayAPI.Implementation == "vpc-lattice":
		return "gatewayapi (vpc-lattice)", carries{exact: true, preview: true}
	case r.GatewayAPI != nil:
		return "gatewayapi", carries{exact: true, regex: true, cookie: true, preview: true, mirror: true, affinity: true}
	case r.AppMesh != nil:
		return "appmesh", carries{exact: true, prefix: true, regex: true, cookie: true, preview: true}
	case r.SMI != nil:
		return "smi", carries{}
	case r.ALB != nil:
		return "alb", carries{}
	}
	return "replicaRatio", carries{}
}

// fitRouter makes the plan fit what the router carries: a header prefix
// becomes a regex where only regexes are carried, a match the router
// cannot carry is left out (the cohort narrows), a mirror or a preview
// route it cannot carry is left out; each with a note. It fails when an
// A/B test is left with no match, or session affinity cannot be carried
// (a user would flip between versions).
func fitRouter(ro *spec.Rollout, notes *[]string) error {
	name, c := routerCarries(ro.Router)
	p := &ro.Plan
	if p.ABTest != nil {
		var kept []spec.Match
		for i, m := range p.ABTest.Match {
			f := fmt.Sprintf("plan.abTest.match[%d]", i)
			switch {
			case m.Cookie != "" && !c.cookie:
				*notes = append(*notes, fmt.Sprintf("%s (cookie %s): router %s cannot route by cookie; left out", f, m.Cookie, name))
				continue
			case m.Prefix != "" && !c.prefix && c.regex:
				m.Regex, m.Prefix = regexp.QuoteMeta(m.Prefix)+".*", ""
				*notes = append(*notes, fmt.Sprintf("%s (header %s): router %s has no prefix match; written as the regex %q", f, m.Header, name, m.Regex))
			case m.Prefix != "" && !c.prefix, m.Regex != "" && !c.regex, m.Exact != "" && !c.exact:
				*notes = append(*notes, fmt.Sprintf("%s (header %s): router %s cannot carry this match; left out", f, m.Header, name))
				continue
			}
			kept = append(kept, m)
		}
		if len(kept) == 0 {
			return fmt.Errorf("it is an A/B test, and router %s can carry none of its matches (see the notes above)", name)
		}
		p.ABTest.Match = kept
	}
	if b := p.BlueGreen; b != nil {
		if b.Mirror > 0 && !c.mirror {
			*notes = append(*notes, fmt.Sprintf("plan.blueGreen.mirror %d %%: router %s cannot mirror; left out, so the new version sees no production requests before the switch", b.Mirror, name))
			b.Mirror = 0
		}
		if b.Preview != nil && !c.preview {
			*notes = append(*notes, fmt.Sprintf("plan.blueGreen.preview: router %s has no header route; left out", name))
			b.Preview = nil
		}
	}
	if p.SessionAffinity != nil && !c.affinity {
		return fmt.Errorf("it asks for session affinity, which router %s cannot carry (an affinity cookie needs a header match and a response header: istio, gatewayapi or httpsplit)", name)
	}
	return nil
}

// argoTemplates returns the analysis templates the references name, each
// once; a template not in the files is an error.
func argoTemplates(docs []map[string]any, rname string, refs []obj) ([]obj, error) {
	byName := map[string]obj{}
	for _, t := range find(docs, "AnalysisTemplate", "ClusterAnalysisTemplate") {
		byName[t.m("metadata").s("name")] = t
	}
	var out []obj
	seen := map[string]bool{}
	for _, ref := range refs {
		tn := ref.s("templateName")
		if tn == "" || seen[tn] {
			continue
		}
		seen[tn] = true
		t, ok := byName[tn]
		if !ok {
			return nil, fmt.Errorf("the Rollout %q's analysis uses AnalysisTemplate %q, which is not in the files given; pass the file that defines it too", rname, tn)
		}
		out = append(out, t)
	}
	return out, nil
}

// argoArgs are the values of an analysis block's args.
func argoArgs(blocks ...obj) map[string]string {
	args := map[string]string{}
	for _, b := range blocks {
		for _, a := range b.list("args") {
			args[a.s("name")] = a.s("value")
		}
	}
	return args
}

// argoBlueGreen imports a Rollout of spec.strategy.blueGreen as a
// blue/green rollout file. Argo switches the activeService's selector
// between two ReplicaSets; here the two versions are two Deployments
// behind the activeService and the switch moves every ready pod's share
// to the new one (router replicaRatio), which is the router a Rollout
// with no trafficRouting maps to.
func argoBlueGreen(docs []map[string]any, r obj, name string, notes []string) (*spec.Rollout, []string, error) {
	meta, bg := r.m("metadata"), r.m("spec").m("strategy").m("blueGreen")
	rname := meta.s("name")
	active := bg.s("activeService")
	if active == "" {
		return nil, notes, fmt.Errorf("the Rollout %q's spec.strategy.blueGreen names no activeService, the Service whose traffic switches", rname)
	}
	pre, post := bg.m("prePromotionAnalysis"), bg.m("postPromotionAnalysis")
	preT, err := argoTemplates(docs, rname, pre.list("templates"))
	if err != nil {
		return nil, notes, err
	}
	postT, err := argoTemplates(docs, rname, post.list("templates"))
	if err != nil {
		return nil, notes, err
	}
	ns := meta.s("namespace")
	if ns == "" {
		ns = "default"
		notes = append(notes, "metadata.namespace was empty; default assumed")
	}
	replicas, stableDep, canaryDep, err := argoWorkloads(r, rname, name, "a blue/green release")
	if err != nil {
		return nil, notes, err
	}
	ro := &spec.Rollout{APIVersion: spec.APIVersion, Kind: spec.Kind, Name: name,
		Target: spec.Target{Namespace: ns, Service: active,
			Stable: spec.Workload{Version: "stable"}, Canary: spec.Workload{Version: "canary"}}}
	ro.Router.ReplicaRatio = &spec.ReplicaRatio{Namespace: ns, Service: active, StableDeployment: stableDep, CanaryDeployment: canaryDep, Replicas: replicas}
	notes = append(notes, fmt.Sprintf("spec.strategy.blueGreen.activeService %q: the switch moves the Service's traffic from Deployment %q to %q in one write (router replicaRatio, %d replicas); Argo switches the Service's selector between ReplicaSets instead", active, stableDep, canaryDep, replicas))
	b := &spec.BlueGreen{ScaleDownDelay: spec.Duration(30 * time.Second)} // Argo's default scaleDownDelaySeconds
	ro.Plan.Strategy, ro.Plan.BlueGreen = "bluegreen", b
	if ps := bg.s("previewService"); ps != "" {
		notes = append(notes, fmt.Sprintf("spec.strategy.blueGreen.previewService %q: no preview route is written (the replicaRatio router has no header route); point the Service at Deployment %q to reach the new version before the switch, or use a router with plan.blueGreen.preview", ps, canaryDep))
	}
	if v, ok := bg["autoPromotionEnabled"].(bool); ok && !v {
		ro.Plan.Gates.BeforePromotion = true
		notes = append(notes, "spec.strategy.blueGreen.autoPromotionEnabled false → plan.gates.beforePromotion (the switch waits for an approval)")
	}
	if v, ok := bg.num("autoPromotionSeconds"); ok && v > 0 {
		b.PrePromotion = spec.Duration(time.Duration(v) * time.Second)
		notes = append(notes, fmt.Sprintf("spec.strategy.blueGreen.autoPromotionSeconds %d → plan.blueGreen.prePromotion: the switch comes after at least %s and a passing analysis (Argo switches after that long whatever the analysis)", int(v), spec.FormatDuration(b.PrePromotion.D())))
	}
	if v, ok := bg.num("scaleDownDelaySeconds"); ok && v >= 0 {
		b.ScaleDownDelay = spec.Duration(time.Duration(v) * time.Second)
	}
	preLimits, preFail, preTotal, preSpan := argoMetrics(ro, preT, argoArgs(pre), &notes)
	postLimits, postFail, postTotal, postSpan := argoMetrics(ro, postT, argoArgs(post), &notes)
	if b.PrePromotion == 0 && preSpan > 0 {
		b.PrePromotion = spec.Duration(preSpan)
	}
	b.PostPromotion = spec.Duration(postSpan)
	switch {
	case preTotal > 0 && len(preLimits) == 0:
		return nil, notes, fmt.Errorf("none of the %d metrics of Rollout %q's prePromotionAnalysis could be mapped (see the notes above), and a blue/green release would switch unchecked", preTotal, rname)
	case postTotal > 0 && len(postLimits) == 0:
		return nil, notes, fmt.Errorf("none of the %d metrics of Rollout %q's postPromotionAnalysis could be mapped (see the notes above), and the switch would stand unchecked", postTotal, rname)
	}
	if ro.Plan.Interval == 0 {
		ro.Plan.Interval = spec.Duration(time.Minute)
		if preTotal+postTotal > 0 {
			notes = append(notes, "no metric interval (a single measurement in Argo): plan.interval 1m is assumed")
		}
	}
	if postTotal > 0 && postSpan == 0 {
		notes = append(notes, "spec.strategy.blueGreen.postPromotionAnalysis: its metrics give no count × interval; the post-promotion analysis lasts one plan.interval (plan.blueGreen.postPromotion)")
	}
	failureLimit := -1
	for _, f := range []int{preFail, postFail} {
		if f >= 0 && (failureLimit < 0 || f < failureLimit) {
			failureLimit = f
		}
	}
	if len(preLimits) > 0 || len(postLimits) > 0 {
		if len(preLimits) == 0 {
			// A post-promotion analysis needs the analysis before the
			// switch too (rollback.Config.Analyzer).
			preLimits = postLimits
			notes = append(notes, "spec.strategy.blueGreen: no prePromotionAnalysis; the postPromotionAnalysis's limits judge the new version before the switch too")
		}
		ro.Analysis = &spec.Analysis{Analyzers: []spec.Analyzer{{Threshold: &spec.Threshold{Limits: preLimits}}}}
		if len(postLimits) > 0 {
			ro.Analysis.PostPromotion = []spec.Analyzer{{Threshold: &spec.Threshold{Limits: postLimits}}}
		}
		ro.Policy = &spec.Policy{FailureLimit: ptrI(failureLimit + 1), Counting: "cumulative"}
	} else {
		ro.Metrics, ro.Provider = nil, nil
		notes = append(notes, "spec.strategy.blueGreen has no analysis: the rollout file's default analysis judges the new version")
	}
	notes = append(notes, unmapped(bg, "spec.strategy.blueGreen", "activeService", "previewService", "autoPromotionEnabled",
		"autoPromotionSeconds", "scaleDownDelaySeconds", "prePromotionAnalysis", "postPromotionAnalysis")...)
	return ro, notes, nil
}

// argoHeaderRoute maps a setHeaderRoute step. With no setWeight step the
// Rollout is an A/B test: the route's matches (OR'ed, each one header)
// become plan.abTest.match. Beside weights a header route cannot be
// carried (a weighted plan has no cohort here), so it is a note; so is a
// step with no match (Argo's removal of the route).
func argoHeaderRoute(ro *spec.Rollout, hr obj, f string, weights int, notes *[]string) {
	ms := hr.list("match")
	switch {
	case len(ms) == 0:
		return // removes the route; the rollout's end removes it here
	case weights > 0:
		*notes = append(*notes, f+".setHeaderRoute: a header route beside weighted steps is not mapped (an A/B test here moves no weights; plan.zeroTraffic.testHeader routes a header before the first weight)")
		return
	case ro.Plan.ABTest != nil:
		*notes = append(*notes, f+".setHeaderRoute: only the first header route is mapped")
		return
	}
	var out []spec.Match
	for i, m := range ms {
		g := fmt.Sprintf("%s.setHeaderRoute.match[%d]", f, i)
		v := m.m("headerValue")
		sm := spec.Match{Header: strings.ToLower(m.s("headerName"))}
		switch {
		case sm.Header == "" || len(v) != 1:
			*notes = append(*notes, g+": not one headerName with one of exact, prefix, regex; left out")
			continue
		case v.s("exact") != "":
			sm.Exact = v.s("exact")
		case v.s("prefix") != "":
			sm.Prefix = v.s("prefix")
		case v.s("regex") != "":
			sm.Regex = v.s("regex")
		default:
			*notes = append(*notes, g+": not one headerName with one of exact, prefix, regex; left out")
			continue
		}
		out = append(out, sm)
	}
	if len(out) > 4 {
		*notes = append(*notes, fmt.Sprintf("%s.setHeaderRoute: %d matches; a cohort here holds 4, the rest left out", f, len(out)))
		out = out[:4]
	}
	if len(out) == 0 {
		return
	}
	ro.Plan.Strategy, ro.Plan.ABTest = "abtest", &spec.ABTest{Match: out}
	*notes = append(*notes, f+".setHeaderRoute with no setWeight step: an A/B test (plan.abTest), promoted after its analysis passes")
}

// argoMirrorRoute maps a setMirrorRoute step's percentage: before the
// first setWeight it is plan.zeroTraffic.mirror; with no setWeight step
// (and no header route) the Rollout is a blue/green release with
// mirroring. Its match (method, path, headers) is not mapped: the share
// is of every request, with a note.
func argoMirrorRoute(ro *spec.Rollout, mr obj, f string, weights int, notes *[]string) {
	if len(mr.list("match")) == 0 && !mr.has("percentage") {
		return // removes the route
	}
	pct := 100.0 // Argo's default percentage
	if v, ok := mr.num("percentage"); ok {
		pct = v
	}
	if len(mr.list("match")) > 0 {
		*notes = append(*notes, fmt.Sprintf("%s.setMirrorRoute.match: not mapped; %v %% of every request is mirrored, not only of the matching ones", f, pct))
	}
	switch {
	case weights > 0 && len(ro.Plan.Stages) == 0:
		ro.Plan.ZeroTraffic = &spec.ZeroTraffic{Mirror: int(pct)}
		*notes = append(*notes, f+".setMirrorRoute before the first setWeight → plan.zeroTraffic.mirror, for the pauses before that weight")
	case weights > 0:
		*notes = append(*notes, f+".setMirrorRoute after a weight: not mapped (a mirror here runs before the first weight, plan.zeroTraffic.mirror)")
	case ro.Plan.ABTest != nil:
		*notes = append(*notes, f+".setMirrorRoute in an A/B test: not mapped")
	default:
		ro.Plan.Strategy = "bluegreen"
		ro.Plan.BlueGreen = &spec.BlueGreen{Mirror: int(pct)}
		*notes = append(*notes, f+".setMirrorRoute with no setWeight step: a blue/green release with mirroring (plan.blueGreen.mirror), switched after its analysis passes")
	}
}
