package gatewayapi

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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

// MaxRules is the most rules an HTTPRoute may have (the CRD's maxItems on
// spec.rules). A route with MaxRules rules and no test rule cannot take a
// split's test route.
const MaxRules = 16

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
	// Retries bounds the retries after a write conflict, each after a
	// pause and a fresh read. Zero means [traffic.DefaultRetries]; negative
	// means no retry.
	Retries int
	// Implementation names the Gateway API implementation that reads the
	// route, one of Implementations: [Generic] (the empty string),
	// [Linkerd] or [VPCLattice]. The router refuses up front, naming the
	// field, what that implementation does not support.
	Implementation string
}

// Driver is the [traffic.Driver] over one HTTPRoute. Use it through the
// *[traffic.Router] that New returns (or traffic.NewRouter(d, d.Options()));
// its own method Desired is for GitOps. It is safe for concurrent use.
type Driver struct {
	client versioned.Interface
	cfg    Config
}

var (
	_ traffic.Driver  = (*Driver)(nil)
	_ traffic.Checker = (*Driver)(nil)
)

// New checks cfg and returns a *[traffic.Router] over the HTTPRoute. It sends
// no request.
func New(client versioned.Interface, cfg Config) (*traffic.Router, error) {
	return kuberoute.Router(NewDriver(client, cfg))
}

// NewDriver checks cfg and returns the Driver that New wraps. It sends no
// request.
func NewDriver(client versioned.Interface, cfg Config) (*Driver, error) {
	if client == nil {
		return nil, canary.Invalid("Client", nil, "must not be nil")
	}
	if cfg.TestRule == "" {
		cfg.TestRule = DefaultTestRule
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
	if err := checkImplementation(cfg.Implementation); err != nil {
		return nil, err
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
	return &Driver{client: client, cfg: cfg}, nil
}

// Options returns the [traffic.Options] New uses: the route's name for
// errors and Config.Retries.
func (r *Driver) Options() traffic.Options {
	return traffic.Options{Name: r.object(), Retries: r.cfg.Retries}
}

func (r *Driver) object() string { return "HTTPRoute " + r.cfg.Namespace + "/" + r.cfg.Route }

func (r *Driver) routes() gwclient.HTTPRouteInterface {
	return r.client.GatewayV1().HTTPRoutes(r.cfg.Namespace)
}

// Read gets the route and the split in force (a [traffic.Driver] method).
// Weights that are not whole percentages of their sum are rounded.
func (r *Driver) Read(ctx context.Context) (traffic.Split, traffic.Version, error) {
	route, err := r.routes().Get(ctx, r.cfg.Route, metav1.GetOptions{})
	if err != nil {
		return traffic.Split{}, nil, err
	}
	s, err := r.splitOf(route)
	if err != nil {
		return traffic.Split{}, nil, err
	}
	return s, route, nil
}

// Write puts s in force on the route v (a [traffic.Driver] method): one JSON
// Patch of the managed rule's two weights, the router's mirror filter and
// its test rule, pinned to v's resourceVersion. Every other field —
// including fields of Gateway API versions newer than this client's Go
// types — stays as the server holds it. A split the route cannot carry (a
// test header the managed rule already matches, a route already at
// MaxRules) is a *[canary.FieldError], and nothing is sent.
func (r *Driver) Write(ctx context.Context, v traffic.Version, s traffic.Split) (traffic.Split, traffic.Version, error) {
	route, ok := v.(*gatewayv1.HTTPRoute)
	if !ok || route == nil {
		return traffic.Split{}, nil, fmt.Errorf("gatewayapi: Write with a version of type %T", v)
	}
	ops, err := r.apply(route.DeepCopy(), s)
	if err != nil {
		return traffic.Split{}, nil, err
	}
	all := append([]patchOp{{"add", "/metadata/resourceVersion", route.ResourceVersion}}, ops...)
	body, err := json.Marshal(all)
	if err != nil {
		return traffic.Split{}, nil, fmt.Errorf("gatewayapi: encode patch: %w", err)
	}
	out, err := r.routes().Patch(ctx, r.cfg.Route, types.JSONPatchType, body, metav1.PatchOptions{FieldManager: canary.FieldManager})
	if err != nil {
		return traffic.Split{}, nil, kuberoute.PatchError(ctx, err, route.ResourceVersion, r.resourceVersion)
	}
	got, err := r.splitOf(out)
	return got, out, err
}

func (r *Driver) resourceVersion(ctx context.Context) (string, error) {
	route, err := r.routes().Get(ctx, r.cfg.Route, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return route.ResourceVersion, nil
}

// ErrorCode classifies the API server's errors (a [traffic.Driver] method).
func (r *Driver) ErrorCode(err error) canary.ErrorCode { return kuberoute.Code(err) }

// Desired reads the route and returns it as a write of s would make it,
// without writing: for GitOps users whose Argo CD or Flux owns the
// HTTPRoute. It refuses what a write would refuse.
func (r *Driver) Desired(ctx context.Context, s traffic.Split) (*gatewayv1.HTTPRoute, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := r.Check(s); err != nil {
		return nil, err
	}
	route, err := r.routes().Get(ctx, r.cfg.Route, metav1.GetOptions{})
	if err != nil {
		return nil, kuberoute.Wrap(err)
	}
	out := route.DeepCopy()
	if _, err := r.apply(out, s); err != nil {
		return nil, err
	}
	return out, nil
}

func isService(ref gatewayv1.BackendObjectReference) bool {
	return (ref.Group == nil || *ref.Group == "") && (ref.Kind == nil || *ref.Kind == "Service")
}

func sameNamespace(ref gatewayv1.BackendObjectReference, ns string) bool {
	return ref.Namespace == nil || string(*ref.Namespace) == ns
}

// managed returns the index in route.Spec.Rules of the managed rule.
func (r *Driver) managed(route *gatewayv1.HTTPRoute) (int, error) {
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
func (r *Driver) refs(route *gatewayv1.HTTPRoute, i int) (stable, canaryRef int, err error) {
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

func (r *Driver) splitOf(route *gatewayv1.HTTPRoute) (traffic.Split, error) {
	i, err := r.managed(route)
	if err != nil {
		return traffic.Split{}, err
	}
	if err := r.checkRoute(route, i); err != nil {
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
		if r.isCanaryMirror(f, route.Namespace) {
			s.Mirror = mirrorPercent(f.RequestMirror)
		}
	}
	if t := r.testRule(route); t >= 0 {
		tr := route.Spec.Rules[t]
		if len(tr.Matches) > 0 && len(tr.Matches[0].Headers) > 0 {
			h := tr.Matches[0].Headers[len(tr.Matches[0].Headers)-1]
			s.TestRoute = traffic.HeaderRoute{Name: string(h.Name), Value: h.Value}
		}
	}
	return s, nil
}

func (r *Driver) isCanary(ref gatewayv1.BackendObjectReference, ns string) bool {
	return isService(ref) && sameNamespace(ref, ns) && string(ref.Name) == r.cfg.Canary
}

func (r *Driver) testRule(route *gatewayv1.HTTPRoute) int {
	for i, rule := range route.Spec.Rules {
		if rule.Name != nil && string(*rule.Name) == r.cfg.TestRule {
			return i
		}
	}
	return -1
}

// patchOp is one RFC 6902 JSON Patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// apply changes route in place so that it carries s, touching only the
// managed rule's two weights, the router's mirror filter and its test rule,
// and returns the same change as JSON Patch operations on the paths it
// touched, so that the write leaves every other field as stored.
func (r *Driver) apply(route *gatewayv1.HTTPRoute, s traffic.Split) ([]patchOp, error) {
	i, err := r.managed(route)
	if err != nil {
		return nil, err
	}
	si, ci, err := r.refs(route, i)
	if err != nil {
		return nil, err
	}
	if err := r.checkRoute(route, i); err != nil {
		return nil, err
	}
	if err := r.checkTestRoute(route, i, s); err != nil {
		return nil, err
	}
	var ops []patchOp
	rule := &route.Spec.Rules[i]
	for _, w := range []struct {
		j   int
		pct int
	}{{si, s.Stable}, {ci, s.Canary}} {
		if ref := &rule.BackendRefs[w.j]; ref.Weight == nil || int(*ref.Weight) != w.pct {
			v := int32(w.pct)
			ref.Weight = &v
			ops = append(ops, patchOp{"add", fmt.Sprintf("/spec/rules/%d/backendRefs/%d/weight", i, w.j), w.pct})
		}
	}

	// The mirror filter: kept if it is already the one wanted, otherwise
	// every mirror to the canary is removed (from the last, so indices
	// hold) and the wanted one appended.
	canaryRef := rule.BackendRefs[ci].BackendObjectReference
	var mine []int
	for k, f := range rule.Filters {
		if r.isCanaryMirror(f, route.Namespace) {
			mine = append(mine, k)
		}
	}
	keep := s.Mirror > 0 && len(mine) == 1 && mirrorPercent(rule.Filters[mine[0]].RequestMirror) == s.Mirror
	if !keep {
		for k := len(mine) - 1; k >= 0; k-- {
			ops = append(ops, patchOp{Op: "remove", Path: fmt.Sprintf("/spec/rules/%d/filters/%d", i, mine[k])})
		}
		kept := len(rule.Filters) - len(mine)
		r.removeMirror(rule, route.Namespace)
		if s.Mirror > 0 {
			pct := int32(s.Mirror)
			f := gatewayv1.HTTPRouteFilter{
				Type:          gatewayv1.HTTPRouteFilterRequestMirror,
				RequestMirror: &gatewayv1.HTTPRequestMirrorFilter{BackendRef: canaryRef, Percent: &pct},
			}
			rule.Filters = append(rule.Filters, f)
			if kept == 0 && len(mine) == 0 {
				ops = append(ops, patchOp{"add", fmt.Sprintf("/spec/rules/%d/filters", i), []gatewayv1.HTTPRouteFilter{f}})
			} else {
				ops = append(ops, patchOp{"add", fmt.Sprintf("/spec/rules/%d/filters/-", i), f})
			}
		} else if kept == 0 && len(mine) > 0 {
			ops = append(ops, patchOp{Op: "remove", Path: fmt.Sprintf("/spec/rules/%d/filters", i)})
		}
	}

	// The test rule: first in the list. Its matches are the managed rule's,
	// each with the test header added, so it is more specific than the
	// managed rule for the same requests (Gateway API's precedence) and is
	// also first.
	var test *gatewayv1.HTTPRouteRule
	if s.HasTestRoute() {
		tr := s.TestRoute
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
	t := r.testRule(route)
	switch {
	case test == nil && t < 0:
	case test != nil && t == 0 && reflect.DeepEqual(route.Spec.Rules[0], *test):
	default:
		if t >= 0 {
			route.Spec.Rules = append(route.Spec.Rules[:t:t], route.Spec.Rules[t+1:]...)
			ops = append(ops, patchOp{Op: "remove", Path: fmt.Sprintf("/spec/rules/%d", t)})
		}
		if test != nil {
			route.Spec.Rules = append([]gatewayv1.HTTPRouteRule{*test}, route.Spec.Rules...)
			ops = append(ops, patchOp{"add", "/spec/rules/0", test})
		}
	}
	return ops, nil
}

// checkTestRoute refuses a test route the route cannot carry: a header the
// managed rule already matches (the same name, or one differing in case:
// header names are case-insensitive, so the API server refuses the first
// and the second makes the test header ignored), or a route already at
// MaxRules rules.
func (r *Driver) checkTestRoute(route *gatewayv1.HTTPRoute, i int, s traffic.Split) error {
	if !s.HasTestRoute() {
		return nil
	}
	if err := r.checkLatticeTestRoute(route, i); err != nil {
		return err
	}
	for k, m := range route.Spec.Rules[i].Matches {
		for h, hm := range m.Headers {
			if strings.EqualFold(string(hm.Name), s.TestRoute.Name) {
				return canary.Invalid(fmt.Sprintf("%s spec.rules[%d].matches[%d].headers[%d]", r.object(), i, k, h), string(hm.Name),
					"the managed rule already matches header %q; pick another test header than Split.TestRoute.Name %q", hm.Name, s.TestRoute.Name)
			}
		}
	}
	if r.testRule(route) < 0 && len(route.Spec.Rules) >= MaxRules {
		return canary.Invalid(r.object()+" spec.rules", len(route.Spec.Rules),
			"the route has %d rules, the most an HTTPRoute may have; the test rule for Split.TestRoute would be one more (remove a rule or split the route)", len(route.Spec.Rules))
	}
	return nil
}

func mirrorPercent(m *gatewayv1.HTTPRequestMirrorFilter) int {
	if m.Percent != nil {
		return int(*m.Percent)
	}
	if fr := m.Fraction; fr != nil {
		den := int32(100)
		if fr.Denominator != nil {
			den = *fr.Denominator
		}
		if den > 0 {
			return int((int64(fr.Numerator)*100 + int64(den)/2) / int64(den))
		}
	}
	return 100
}

func (r *Driver) isCanaryMirror(f gatewayv1.HTTPRouteFilter, ns string) bool {
	return f.Type == gatewayv1.HTTPRouteFilterRequestMirror && f.RequestMirror != nil && r.isCanary(f.RequestMirror.BackendRef, ns)
}

func (r *Driver) removeMirror(rule *gatewayv1.HTTPRouteRule, ns string) {
	kept := rule.Filters[:0:0]
	for _, f := range rule.Filters {
		if !r.isCanaryMirror(f, ns) {
			kept = append(kept, f)
		}
	}
	if len(kept) == 0 {
		kept = nil
	}
	rule.Filters = kept
}
