package gatewayapi

import (
	"fmt"
	"slices"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
)

// The values of Config.Implementation: the Gateway API implementation that
// reads the route, whose limits the router checks before it writes.
const (
	// Generic (the empty string) checks only what Gateway API itself
	// requires.
	Generic = ""
	// Linkerd is Linkerd 2.14 or later, which reads an HTTPRoute whose
	// parent is a Service (the GAMMA mesh binding): every parentRef must
	// be a core Service, and Linkerd's HTTPRoute has no RequestMirror
	// filter (its filters are RequestHeaderModifier,
	// ResponseHeaderModifier and RequestRedirect:
	// https://linkerd.io/2-edge/reference/httproute/), so a split with a
	// mirror is refused.
	Linkerd = "linkerd"
	// VPCLattice is the AWS Gateway API Controller for Amazon VPC Lattice
	// (https://www.gateway-api-controller.eks.aws.dev/latest/api-types/http-route/):
	// the route's parents are Gateways of the amazon-vpc-lattice class;
	// a rule takes at most 5 header matches (the test rule adds one to
	// each of the managed rule's matches) and no query-parameter match;
	// a VPC Lattice rule forwards to weighted target groups and has no
	// mirror action, so a split with a mirror is refused.
	VPCLattice = "vpc-lattice"
)

// Implementations lists the values Config.Implementation accepts.
var Implementations = []string{Generic, Linkerd, VPCLattice}

// MaxLatticeHeaderMatches is the most header matches a VPC Lattice rule
// takes (the HttpMatch's headerMatches: 1 to 5 items).
const MaxLatticeHeaderMatches = 5

func checkImplementation(impl string) error {
	if !slices.Contains(Implementations, impl) {
		return canary.Invalid("Config.Implementation", impl, `must be "" (generic), %q or %q`, Linkerd, VPCLattice)
	}
	return nil
}

// Features says which cohort matches and whether session affinity the
// route carries for Config.Implementation (a [traffic.Featurer] method):
//
//   - Generic: header matches Exact and RegularExpression (for a regex
//     match, and for a cookie as a regex on the Cookie header,
//     [traffic.CookieRegex]), and session affinity (a ResponseHeaderModifier
//     filter on the canary backendRef adding Set-Cookie, Flagger's shape).
//     Gateway API has no prefix header match (HTTPHeaderMatch's types are
//     Exact and RegularExpression), so a prefix match is refused.
//   - Linkerd: the same header matches; no session affinity, as Linkerd's
//     HTTPRoute reference does not list filters on a backendRef, and a
//     filter the proxy ignored would leave sessions unpinned.
//   - VPC Lattice: exact header matches only (a VPC Lattice header match
//     is exact, prefix or contains: no regular expression, so no cookie
//     either), and no session affinity (a rule has no response header
//     action).
func (r *Driver) Features() traffic.Features {
	switch r.cfg.Implementation {
	case Linkerd:
		return traffic.Features{HeaderMatch: true, RegexMatch: true, CookieMatch: true}
	case VPCLattice:
		return traffic.Features{HeaderMatch: true}
	}
	return traffic.Features{HeaderMatch: true, RegexMatch: true, CookieMatch: true, Affinity: true}
}

// Check refuses, before any request, a split the implementation cannot
// carry: a mirror, for Linkerd and VPC Lattice (a [traffic.Checker]
// method).
func (r *Driver) Check(s traffic.Split) error {
	if s.Mirror != 0 && r.cfg.Implementation != Generic {
		return canary.Invalid("Split.Mirror", s.Mirror, "%s does not mirror requests from an HTTPRoute (no RequestMirror filter); use 0", r.implName())
	}
	return nil
}

func (r *Driver) implName() string {
	switch r.cfg.Implementation {
	case Linkerd:
		return "Linkerd"
	case VPCLattice:
		return "the AWS Gateway API Controller (VPC Lattice)"
	}
	return "the implementation"
}

// checkRoute refuses a route the implementation would not read as the
// router means it: its parents, and for VPC Lattice the managed rule's
// matches (rule i).
func (r *Driver) checkRoute(route *gatewayv1.HTTPRoute, i int) error {
	for k, p := range route.Spec.ParentRefs {
		field := fmt.Sprintf("%s spec.parentRefs[%d]", r.object(), k)
		group, kind := "", ""
		if p.Group != nil {
			group = string(*p.Group)
		}
		if p.Kind != nil {
			kind = string(*p.Kind)
		}
		switch r.cfg.Implementation {
		case Linkerd:
			if (group != "" && group != "core") || kind != "Service" {
				return canary.Invalid(field, string(p.Name), "Linkerd reads an HTTPRoute whose parents are Services (group \"core\" or \"\", kind Service); this parent is %s/%s", group, kind)
			}
		case VPCLattice:
			if (group != "" && group != gatewayv1.GroupName) || (kind != "" && kind != "Gateway") {
				return canary.Invalid(field, string(p.Name), "the AWS Gateway API Controller attaches an HTTPRoute to a Gateway (of the amazon-vpc-lattice class); this parent is %s/%s", group, kind)
			}
		}
	}
	if r.cfg.Implementation != VPCLattice {
		return nil
	}
	for k, m := range route.Spec.Rules[i].Matches {
		field := fmt.Sprintf("%s spec.rules[%d].matches[%d]", r.object(), i, k)
		if len(m.QueryParams) > 0 {
			return canary.Invalid(field+".queryParams", len(m.QueryParams), "VPC Lattice does not match on query parameters")
		}
		if len(m.Headers) > MaxLatticeHeaderMatches {
			return canary.Invalid(field+".headers", len(m.Headers), "VPC Lattice takes at most %d header matches per rule", MaxLatticeHeaderMatches)
		}
	}
	return nil
}

// checkLatticeTestRoute refuses a test route whose header would make one
// of the test rule's matches exceed VPC Lattice's header matches.
func (r *Driver) checkLatticeTestRoute(route *gatewayv1.HTTPRoute, i int) error {
	if r.cfg.Implementation != VPCLattice {
		return nil
	}
	for k, m := range route.Spec.Rules[i].Matches {
		if len(m.Headers)+1 > MaxLatticeHeaderMatches {
			return canary.Invalid(fmt.Sprintf("%s spec.rules[%d].matches[%d].headers", r.object(), i, k), len(m.Headers),
				"the test rule adds Split.TestRoute's header to the managed rule's %d, and VPC Lattice takes at most %d header matches per rule", len(m.Headers), MaxLatticeHeaderMatches)
		}
	}
	return nil
}
