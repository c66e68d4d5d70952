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

func routerCarries(r spec.Router) (string, carries) {
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
