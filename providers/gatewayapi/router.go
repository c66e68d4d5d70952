package gatewayapi

import (
	"context"
	"fmt"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/typed/apis/v1"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kuberoute"
	"github.com/meshcanary/canary/traffic"
)

// DefaultTestRule is the name of the rule the router adds for a split's
// test route when Config.TestRule is empty.
const DefaultTestRule = "meshcanary-test"

// DefaultRetries is how many times a write is retried after a conflict when
// Config.Retries is zero.
const DefaultRetries = 5

// Config names the HTTPRoute, its managed rule and the two Services.
type Config struct {
	// Namespace and Route name the HTTPRoute. Required.
	Namespace, Route string
	// Rule is the name (spec.rules[].name) of the rule whose backendRefs
	// carry the weights. When empty, RuleIndex chooses the rule; when both
	// are unset the route must have exactly one rule besides the test rule.
	Rule string
	// RuleIndex is the index in spec.rules of the managed rule, counted
	// without the test rule, for routes whose rules have no names. Nil
	// means "use Rule".
	RuleIndex *int
	// Stable and Canary are the Service names in the managed rule's
	// backendRefs. Both refs must exist in the route. Required.
	Stable, Canary string
	// TestRule names the rule added for a split's test route. Empty means
	// DefaultTestRule.
	TestRule string
	// Retries bounds the retries after a write conflict. Zero means
	// DefaultRetries; negative means no retry.
	Retries int
}

// Router is a traffic.Router over one HTTPRoute. Create it with New; the
// zero value is not usable. It is safe for concurrent use.
type Router struct {
	client versioned.Interface
	cfg    Config

	// rw reads and writes the HTTPRoute and keeps it as last read or
	// written, for the one-write rollback.
	rw kuberoute.Object[gatewayv1.HTTPRoute]
}

var _ traffic.Router = (*Router)(nil)

// New checks cfg and returns a Router. It sends no request.
func New(client versioned.Interface, cfg Config) (*Router, error) {
	if client == nil {
		return nil, canary.Invalid("Client", nil, "must not be nil")
	}
	if cfg.TestRule == "" {
		cfg.TestRule = DefaultTestRule
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	checks := []struct {
		field, value string
		check        func(string) []string
	}{
		{"Config.Namespace", cfg.Namespace, validation.IsDNS1123Label},
		{"Config.Route", cfg.Route, validation.IsDNS1123Subdomain},
		{"Config.Stable", cfg.Stable, validation.IsDNS1123Label},
		{"Config.Canary", cfg.Canary, validation.IsDNS1123Label},
		{"Config.TestRule", cfg.TestRule, validation.IsDNS1123Label},
	}
	if cfg.Rule != "" {
		checks = append(checks, struct {
			field, value string
			check        func(string) []string
		}{"Config.Rule", cfg.Rule, validation.IsDNS1123Label})
	}
	for _, c := range checks {
		if errs := c.check(c.value); len(errs) > 0 {
			return nil, canary.Invalid(c.field, c.value, "%s", errs[0])
		}
	}
	switch {
	case cfg.Stable == cfg.Canary:
		return nil, canary.Invalid("Config.Canary", cfg.Canary, "must differ from Config.Stable")
	case cfg.Rule == cfg.TestRule:
		return nil, canary.Invalid("Config.TestRule", cfg.TestRule, "must differ from Config.Rule")
	case cfg.Rule != "" && cfg.RuleIndex != nil:
		return nil, canary.Invalid("Config.RuleIndex", *cfg.RuleIndex, "must be nil when Config.Rule is set")
	case cfg.RuleIndex != nil && *cfg.RuleIndex < 0:
		return nil, canary.Invalid("Config.RuleIndex", *cfg.RuleIndex, "must not be negative")
	}
	r := &Router{client: client, cfg: cfg}
	r.rw = kuberoute.Object[gatewayv1.HTTPRoute]{
		Name: r.object(),
		Get: func(ctx context.Context) (*gatewayv1.HTTPRoute, error) {
			return r.routes().Get(ctx, r.cfg.Route, metav1.GetOptions{})
		},
		Update: func(ctx context.Context, route *gatewayv1.HTTPRoute) (*gatewayv1.HTTPRoute, error) {
			return r.routes().Update(ctx, route, metav1.UpdateOptions{})
		},
		SplitOf:  r.splitOf,
		DeepCopy: (*gatewayv1.HTTPRoute).DeepCopy,
		Retries:  r.cfg.Retries,
	}
	return r, nil
}

func (r *Router) object() string { return "HTTPRoute " + r.cfg.Namespace + "/" + r.cfg.Route }

func (r *Router) routes() gwclient.HTTPRouteInterface {
	return r.client.GatewayV1().HTTPRoutes(r.cfg.Namespace)
}

// Split reads the route and returns the split in force. Weights that are
// not whole percentages of their sum are rounded.
func (r *Router) Split(ctx context.Context) (traffic.Split, error) {
	route, err := r.rw.Read(ctx)
	if err != nil {
		return traffic.Split{}, err
	}
	return r.splitOf(route)
}

// Desired reads the route and returns it as SetSplit would write it, without
// writing: for GitOps users whose Argo CD or Flux owns the HTTPRoute.
func (r *Router) Desired(ctx context.Context, s traffic.Split) (*gatewayv1.HTTPRoute, error) {
	if err := r.checkSplit(s); err != nil {
		return nil, err
	}
	route, err := r.rw.Read(ctx)
	if err != nil {
		return nil, err
	}
	out := route.DeepCopy()
	if err := r.apply(out, s); err != nil {
		return nil, err
	}
	return out, nil
}

func (r *Router) checkSplit(s traffic.Split) error {
	return s.Validate()
}

// SetSplit writes s into the route: one GET and one PUT when nothing else
// writes the route at the same time. A split that sends everything to
// stable with no mirror and no test route — a rollback — is written from
// the route as this Router last saw it, in a single PUT guarded by its
// resourceVersion; only if the route changed since is it read again. A
// conflict is retried from a fresh read up to Config.Retries times. The
// object the server returns is checked against s (traffic.ErrVerify).
func (r *Router) SetSplit(ctx context.Context, s traffic.Split) error {
	if err := r.checkSplit(s); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	start := (*gatewayv1.HTTPRoute)(nil)
	if s.Canary == 0 && s.Mirror == 0 && s.TestRoute == nil {
		start = r.rw.Cached()
	}
	return r.rw.Modify(ctx, start, func(route *gatewayv1.HTTPRoute) (bool, error) {
		return true, r.apply(route, s)
	}, &s)
}

// Release removes the test rule and the mirror filter and keeps the
// weights. It writes nothing when there is nothing to remove.
func (r *Router) Release(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.rw.Modify(ctx, nil, func(route *gatewayv1.HTTPRoute) (bool, error) {
		before := route.Spec.DeepCopy()
		if _, err := r.managed(route); err != nil {
			return false, err
		}
		r.removeTestRule(route)
		idx, _ := r.managed(route)
		r.removeMirror(&route.Spec.Rules[idx], route.Namespace)
		return !reflect.DeepEqual(before, &route.Spec), nil
	}, nil)
}

func isService(ref gatewayv1.BackendObjectReference) bool {
	return (ref.Group == nil || *ref.Group == "") && (ref.Kind == nil || *ref.Kind == "Service")
}

func sameNamespace(ref gatewayv1.BackendObjectReference, ns string) bool {
	return ref.Namespace == nil || string(*ref.Namespace) == ns
}

// managed returns the index in route.Spec.Rules of the managed rule.
func (r *Router) managed(route *gatewayv1.HTTPRoute) (int, error) {
	field := r.object() + " spec.rules"
	if r.cfg.Rule != "" {
		for i, rule := range route.Spec.Rules {
			if rule.Name != nil && string(*rule.Name) == r.cfg.Rule {
				return i, nil
			}
		}
		return 0, canary.Invalid(field, r.cfg.Rule, "no rule with this name")
	}
	var candidates []int
	for i, rule := range route.Spec.Rules {
		if rule.Name != nil && string(*rule.Name) == r.cfg.TestRule {
			continue
		}
		candidates = append(candidates, i)
	}
	if r.cfg.RuleIndex != nil {
		if *r.cfg.RuleIndex >= len(candidates) {
			return 0, canary.Invalid(field, *r.cfg.RuleIndex, "Config.RuleIndex is out of range: the route has %d rules besides the test rule", len(candidates))
		}
		return candidates[*r.cfg.RuleIndex], nil
	}
	if len(candidates) != 1 {
		return 0, canary.Invalid(field, len(candidates), "the route has %d rules besides the test rule; set Config.Rule (a rule name) or Config.RuleIndex", len(candidates))
	}
	return candidates[0], nil
}

// refs returns the indexes of the stable and canary backendRefs of rule i
// and checks that no other backendRef takes traffic.
func (r *Router) refs(route *gatewayv1.HTTPRoute, i int) (stable, canaryRef int, err error) {
	stable, canaryRef = -1, -1
	field := fmt.Sprintf("%s spec.rules[%d].backendRefs", r.object(), i)
	for j, ref := range route.Spec.Rules[i].BackendRefs {
		switch {
		case isService(ref.BackendObjectReference) && sameNamespace(ref.BackendObjectReference, route.Namespace) && string(ref.Name) == r.cfg.Stable && stable < 0:
			stable = j
		case isService(ref.BackendObjectReference) && sameNamespace(ref.BackendObjectReference, route.Namespace) && string(ref.Name) == r.cfg.Canary && canaryRef < 0:
			canaryRef = j
		case ref.Weight == nil || *ref.Weight != 0:
			return 0, 0, canary.Invalid(fmt.Sprintf("%s[%d]", field, j), string(ref.Name),
				"a third backend takes traffic; the router can only split between Service %s and Service %s", r.cfg.Stable, r.cfg.Canary)
		}
	}
	if stable < 0 {
		return 0, 0, canary.Invalid(field, r.cfg.Stable, "no backendRef to the stable Service")
	}
	if canaryRef < 0 {
		return 0, 0, canary.Invalid(field, r.cfg.Canary, "no backendRef to the canary Service")
	}
	return stable, canaryRef, nil
}

func weight(ref gatewayv1.HTTPBackendRef) int64 {
	if ref.Weight == nil {
		return 1 // the API's default
	}
	return int64(*ref.Weight)
}

func (r *Router) splitOf(route *gatewayv1.HTTPRoute) (traffic.Split, error) {
	i, err := r.managed(route)
	if err != nil {
		return traffic.Split{}, err
	}
	si, ci, err := r.refs(route, i)
	if err != nil {
		return traffic.Split{}, err
	}
	rule := route.Spec.Rules[i]
	sw, cw := weight(rule.BackendRefs[si]), weight(rule.BackendRefs[ci])
	if sw+cw == 0 {
		return traffic.Split{}, fmt.Errorf("%s spec.rules[%d].backendRefs: every weight is 0, the rule sends no traffic", r.object(), i)
	}
	c := int((cw*100 + (sw+cw)/2) / (sw + cw))
	s := traffic.Split{Stable: 100 - c, Canary: c}
	for _, f := range rule.Filters {
		if m := f.RequestMirror; f.Type == gatewayv1.HTTPRouteFilterRequestMirror && m != nil && r.isCanary(m.BackendRef, route.Namespace) {
			s.Mirror = 100
			if m.Percent != nil {
				s.Mirror = int(*m.Percent)
			} else if fr := m.Fraction; fr != nil {
				den := int32(100)
				if fr.Denominator != nil {
					den = *fr.Denominator
				}
				if den > 0 {
					s.Mirror = int((int64(fr.Numerator)*100 + int64(den)/2) / int64(den))
				}
			}
		}
	}
	if t := r.testRule(route); t >= 0 {
		tr := route.Spec.Rules[t]
		if len(tr.Matches) > 0 && len(tr.Matches[0].Headers) > 0 {
			h := tr.Matches[0].Headers[len(tr.Matches[0].Headers)-1]
			s.TestRoute = &traffic.HeaderRoute{Name: string(h.Name), Value: h.Value}
		}
	}
	return s, nil
}

func (r *Router) isCanary(ref gatewayv1.BackendObjectReference, ns string) bool {
	return isService(ref) && sameNamespace(ref, ns) && string(ref.Name) == r.cfg.Canary
}

func (r *Router) testRule(route *gatewayv1.HTTPRoute) int {
	for i, rule := range route.Spec.Rules {
		if rule.Name != nil && string(*rule.Name) == r.cfg.TestRule {
			return i
		}
	}
	return -1
}

func (r *Router) removeTestRule(route *gatewayv1.HTTPRoute) {
	if t := r.testRule(route); t >= 0 {
		route.Spec.Rules = append(route.Spec.Rules[:t:t], route.Spec.Rules[t+1:]...)
	}
}

func (r *Router) removeMirror(rule *gatewayv1.HTTPRouteRule, ns string) {
	kept := rule.Filters[:0:0]
	for _, f := range rule.Filters {
		if f.Type == gatewayv1.HTTPRouteFilterRequestMirror && f.RequestMirror != nil && r.isCanary(f.RequestMirror.BackendRef, ns) {
			continue
		}
		kept = append(kept, f)
	}
	if len(kept) == 0 {
		kept = nil
	}
	rule.Filters = kept
}

// apply changes route in place so that it carries s, touching only the
// managed rule's two weights, the router's mirror filter and its test rule.
func (r *Router) apply(route *gatewayv1.HTTPRoute, s traffic.Split) error {
	i, err := r.managed(route)
	if err != nil {
		return err
	}
	si, ci, err := r.refs(route, i)
	if err != nil {
		return err
	}
	rule := &route.Spec.Rules[i]
	sw, cw := int32(s.Stable), int32(s.Canary)
	rule.BackendRefs[si].Weight, rule.BackendRefs[ci].Weight = &sw, &cw

	canaryRef := rule.BackendRefs[ci].BackendObjectReference
	r.removeMirror(rule, route.Namespace)
	if s.Mirror > 0 {
		pct := int32(s.Mirror)
		rule.Filters = append(rule.Filters, gatewayv1.HTTPRouteFilter{
			Type:          gatewayv1.HTTPRouteFilterRequestMirror,
			RequestMirror: &gatewayv1.HTTPRequestMirrorFilter{BackendRef: canaryRef, Percent: &pct},
		})
	}

	// Matches of the test rule are the managed rule's, each with the test
	// header added, so the test rule is more specific than the managed
	// rule for the same requests (Gateway API's precedence) and is also
	// first in the list.
	var test *gatewayv1.HTTPRouteRule
	if tr := s.TestRoute; tr != nil {
		exact := gatewayv1.HeaderMatchExact
		header := gatewayv1.HTTPHeaderMatch{Type: &exact, Name: gatewayv1.HTTPHeaderName(tr.Name), Value: tr.Value}
		matches := make([]gatewayv1.HTTPRouteMatch, 0, max(len(rule.Matches), 1))
		for _, m := range rule.Matches {
			m = *m.DeepCopy()
			m.Headers = append(m.Headers, header)
			matches = append(matches, m)
		}
		if len(matches) == 0 {
			matches = append(matches, gatewayv1.HTTPRouteMatch{Headers: []gatewayv1.HTTPHeaderMatch{header}})
		}
		name := gatewayv1.SectionName(r.cfg.TestRule)
		test = &gatewayv1.HTTPRouteRule{
			Name:        &name,
			Matches:     matches,
			BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{BackendObjectReference: canaryRef}}},
		}
	}
	r.removeTestRule(route)
	if test != nil {
		route.Spec.Rules = append([]gatewayv1.HTTPRouteRule{*test}, route.Spec.Rules...)
	}
	return nil
}
