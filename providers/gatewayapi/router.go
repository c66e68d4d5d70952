package gatewayapi

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
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

// DefaultCohortRule and DefaultSessionRule name the rules the router adds
// for a split's Cohort and its Affinity when Config.CohortRule and
// Config.SessionRule are empty.
const (
	DefaultCohortRule  = "meshcanary-cohort"
	DefaultSessionRule = "meshcanary-session"
)

// MaxMatches is the most matches an HTTPRoute may have over all its rules
// (a CEL rule of the CRD); MaxHeaderMatches the most header matches one
// match may have.
const (
	MaxMatches       = 128
	MaxHeaderMatches = 16
)

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
	// CohortRule and SessionRule name the rules added for a split's Cohort
	// and its Affinity. Empty means DefaultCohortRule and
	// DefaultSessionRule.
	CohortRule, SessionRule string
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
// *[traffic.Router] that New returns (or traffic.NewRouter(d, d.RouterConfig()));
// its own method Desired is for GitOps. It is safe for concurrent use.
type Driver struct {
	client versioned.Interface
	cfg    Config
}

var (
	_ traffic.Driver   = (*Driver)(nil)
	_ traffic.Checker  = (*Driver)(nil)
	_ traffic.Featurer = (*Driver)(nil)
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
	if cfg.CohortRule == "" {
		cfg.CohortRule = DefaultCohortRule
	}
	if cfg.SessionRule == "" {
		cfg.SessionRule = DefaultSessionRule
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
		{"Config.CohortRule", cfg.CohortRule, validation.IsDNS1123Label},
		{"Config.SessionRule", cfg.SessionRule, validation.IsDNS1123Label},
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
	case cfg.Rule == cfg.CohortRule || cfg.CohortRule == cfg.TestRule:
		return nil, canary.Invalid("Config.CohortRule", cfg.CohortRule, "must differ from Config.Rule and Config.TestRule")
	case cfg.Rule == cfg.SessionRule || cfg.SessionRule == cfg.TestRule || cfg.SessionRule == cfg.CohortRule:
		return nil, canary.Invalid("Config.SessionRule", cfg.SessionRule, "must differ from Config.Rule, Config.TestRule and Config.CohortRule")
	case cfg.Rule != "" && cfg.RuleIndex != nil:
		return nil, canary.Invalid("Config.RuleIndex", *cfg.RuleIndex, "must be nil when Config.Rule is set")
	case cfg.RuleIndex != nil && *cfg.RuleIndex < 0:
		return nil, canary.Invalid("Config.RuleIndex", *cfg.RuleIndex, "must not be negative")
	}
	return &Driver{client: client, cfg: cfg}, nil
}

// RouterConfig returns the [traffic.Config] New uses: the route's name for
// errors and Config.Retries.
func (r *Driver) RouterConfig() traffic.Config {
	return traffic.Config{Name: r.object(), Retries: r.cfg.Retries}
}

func (r *Driver) object() string { return "HTTPRoute " + r.cfg.Namespace + "/" + r.cfg.Route }

func (r *Driver) routes() gwclient.HTTPRouteInterface {
	return r.client.GatewayV1().HTTPRoutes(r.cfg.Namespace)
}

// Read gets the route and the split in force (a [traffic.Driver] method).
// Weights that are not whole percentages of their sum are rounded.
func (r *Driver) Read(ctx context.Context) (traffic.Split, traffic.Revision, error) {
	route, err := r.routes().Get(ctx, r.cfg.Route, metav1.GetOptions{})
	if err != nil {
		return traffic.Split{}, nil, err
	}
	s, err := r.splitOf(route)
	if err != nil {
		// The object exists but carries no split the driver can read (a
		// router-owned part broken by someone else): return it with the
		// error, so that SetSplit, a rollback above all, can still write
		// over it (see [traffic.Driver]).
		return traffic.Split{}, route, err
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
func (r *Driver) Write(ctx context.Context, v traffic.Revision, s traffic.Split) (traffic.Split, traffic.Revision, error) {
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
		if r.isOwnRule(rule) {
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
	if t := r.ruleNamed(route, r.cfg.TestRule); t >= 0 {
		tr := route.Spec.Rules[t]
		if len(tr.Matches) > 0 && len(tr.Matches[0].Headers) > 0 {
			h := tr.Matches[0].Headers[len(tr.Matches[0].Headers)-1]
			s.TestRoute = traffic.HeaderRoute{Name: string(h.Name), Value: h.Value}
		}
	}
	if c := r.ruleNamed(route, r.cfg.CohortRule); c >= 0 {
		if s.Cohort, err = r.cohortOf(route, i, c); err != nil {
			return traffic.Split{}, err
		}
	}
	if k := r.ruleNamed(route, r.cfg.SessionRule); k >= 0 {
		if s.Affinity, err = r.affinityOf(route, i, ci, k); err != nil {
			return traffic.Split{}, err
		}
	}
	return s, nil
}

func (r *Driver) isCanary(ref gatewayv1.BackendObjectReference, ns string) bool {
	return isService(ref) && sameNamespace(ref, ns) && string(ref.Name) == r.cfg.Canary
}

// ruleNamed returns the index of the rule named name, or -1.
func (r *Driver) ruleNamed(route *gatewayv1.HTTPRoute, name string) int {
	for i, rule := range route.Spec.Rules {
		if rule.Name != nil && string(*rule.Name) == name {
			return i
		}
	}
	return -1
}

// isOwnRule reports whether rule is one the router adds: the test, cohort
// or session rule.
func (r *Driver) isOwnRule(rule gatewayv1.HTTPRouteRule) bool {
	if rule.Name == nil {
		return false
	}
	n := string(*rule.Name)
	return n == r.cfg.TestRule || n == r.cfg.CohortRule || n == r.cfg.SessionRule
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

	// Session affinity: a ResponseHeaderModifier filter of the router's on
	// the canary backendRef adds Set-Cookie to the responses the canary
	// serves through this rule (Flagger's shape for Gateway API).
	sessionRule := r.ruleNamed(route, r.cfg.SessionRule)
	ops, err = r.applyCookie(ops, rule, i, ci, sessionRule >= 0, s.Affinity)
	if err != nil {
		return nil, err
	}

	// The router's rules, first in the list in the order requests are
	// matched: test, cohort, session. Each one's matches are the managed
	// rule's, each with one header match added (the test header, a cohort
	// match, the session cookie), so each is more specific than the
	// managed rule for the same requests (Gateway API's precedence), and
	// among themselves the first in the list wins.
	type own struct {
		name string
		rule gatewayv1.HTTPRouteRule
	}
	var want []own
	exact, regex := gatewayv1.HeaderMatchExact, gatewayv1.HeaderMatchRegularExpression
	if s.HasTestRoute() {
		tr := s.TestRoute
		h := gatewayv1.HTTPHeaderMatch{Type: &exact, Name: gatewayv1.HTTPHeaderName(tr.Name), Value: tr.Value}
		want = append(want, own{r.cfg.TestRule, ownRule(r.cfg.TestRule, rule, canaryRef, h)})
	}
	if !s.Cohort.IsZero() {
		var hs []gatewayv1.HTTPHeaderMatch
		for _, m := range s.Cohort.Matches() {
			hs = append(hs, headerMatch(m))
		}
		want = append(want, own{r.cfg.CohortRule, ownRule(r.cfg.CohortRule, rule, canaryRef, hs...)})
	}
	if !s.Affinity.IsZero() {
		h := gatewayv1.HTTPHeaderMatch{Type: &regex, Name: cookieHeader, Value: traffic.CookieRegex(s.Affinity.Cookie, s.Affinity.Value)}
		want = append(want, own{r.cfg.SessionRule, ownRule(r.cfg.SessionRule, rule, canaryRef, h)})
	}
	wanted := map[string]bool{}
	for _, o := range want {
		wanted[o.name] = true
	}
	remove := func(k int) {
		route.Spec.Rules = append(route.Spec.Rules[:k:k], route.Spec.Rules[k+1:]...)
		ops = append(ops, patchOp{Op: "remove", Path: fmt.Sprintf("/spec/rules/%d", k)})
	}
	for _, n := range []string{r.cfg.TestRule, r.cfg.CohortRule, r.cfg.SessionRule} {
		if k := r.ruleNamed(route, n); k >= 0 && !wanted[n] {
			remove(k)
		}
	}
	// Those kept must be first, in order; otherwise they are taken out and
	// put back in place.
	var kept []string
	for _, o := range want {
		if r.ruleNamed(route, o.name) >= 0 {
			kept = append(kept, o.name)
		}
	}
	for k, n := range kept {
		if r.ruleNamed(route, n) != k {
			for _, n := range kept {
				remove(r.ruleNamed(route, n))
			}
			kept = nil
			break
		}
	}
	for k, o := range want {
		switch {
		case k < len(kept) && reflect.DeepEqual(route.Spec.Rules[k], o.rule):
		case k < len(kept):
			route.Spec.Rules[k] = o.rule
			ops = append(ops, patchOp{"replace", fmt.Sprintf("/spec/rules/%d", k), o.rule})
		default:
			route.Spec.Rules = append(route.Spec.Rules[:k:k], append([]gatewayv1.HTTPRouteRule{o.rule}, route.Spec.Rules[k:]...)...)
			ops = append(ops, patchOp{"add", fmt.Sprintf("/spec/rules/%d", k), o.rule})
		}
	}
	return ops, nil
}

// cookieHeader is the request header cookie matches are carried on.
const cookieHeader = "Cookie"

// ownRule returns a rule of the router's named name: the managed rule's
// matches, each combined with each of hs in turn, sending to the canary
// alone.
func ownRule(name string, managed *gatewayv1.HTTPRouteRule, canaryRef gatewayv1.BackendObjectReference, hs ...gatewayv1.HTTPHeaderMatch) gatewayv1.HTTPRouteRule {
	base := managed.Matches
	if len(base) == 0 {
		base = []gatewayv1.HTTPRouteMatch{{}}
	}
	var matches []gatewayv1.HTTPRouteMatch
	for _, b := range base {
		for _, h := range hs {
			m := *b.DeepCopy()
			m.Headers = append(m.Headers, h)
			matches = append(matches, m)
		}
	}
	n := gatewayv1.SectionName(name)
	return gatewayv1.HTTPRouteRule{
		Name:        &n,
		Matches:     matches,
		BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{BackendObjectReference: canaryRef}}},
	}
}

// headerMatch is a cohort match as an HTTPHeaderMatch: Exact, or
// RegularExpression for a regex and for a cookie (on the Cookie header).
func headerMatch(m traffic.Match) gatewayv1.HTTPHeaderMatch {
	exact, regex := gatewayv1.HeaderMatchExact, gatewayv1.HeaderMatchRegularExpression
	switch {
	case m.Cookie != "":
		return gatewayv1.HTTPHeaderMatch{Type: &regex, Name: cookieHeader, Value: traffic.CookieRegex(m.Cookie, m.Value)}
	case m.EffectiveKind() == traffic.Regex:
		return gatewayv1.HTTPHeaderMatch{Type: &regex, Name: gatewayv1.HTTPHeaderName(m.Header), Value: m.Value}
	}
	return gatewayv1.HTTPHeaderMatch{Type: &exact, Name: gatewayv1.HTTPHeaderName(m.Header), Value: m.Value}
}

// matchOf reads a header match back as a cohort match.
func matchOf(h gatewayv1.HTTPHeaderMatch) (traffic.Match, bool) {
	switch {
	case h.Type == nil || *h.Type == gatewayv1.HeaderMatchExact:
		return traffic.Match{Header: string(h.Name), Value: h.Value}, true
	case *h.Type == gatewayv1.HeaderMatchRegularExpression:
		if c, v, ok := traffic.CookieFromRegex(h.Value); ok && strings.EqualFold(string(h.Name), cookieHeader) {
			return traffic.Match{Cookie: c, Value: v}, true
		}
		return traffic.Match{Header: string(h.Name), Kind: traffic.Regex, Value: h.Value}, true
	}
	return traffic.Match{}, false
}

// cohortOf reads the cohort from rule c: the last header match of each of
// its first n matches, n being its matches per match of the managed rule
// i.
func (r *Driver) cohortOf(route *gatewayv1.HTTPRoute, i, c int) (traffic.Cohort, error) {
	field := fmt.Sprintf("%s spec.rules[%d].matches", r.object(), c)
	ms := route.Spec.Rules[c].Matches
	base := max(len(route.Spec.Rules[i].Matches), 1)
	n := len(ms) / base
	if n == 0 || n > traffic.MaxMatches || len(ms)%base != 0 {
		return traffic.Cohort{}, canary.Invalid(field, len(ms), "the cohort rule has %d matches; want 1 to %d for each of the managed rule's %d", len(ms), traffic.MaxMatches, base)
	}
	var out []traffic.Match
	for k := range n {
		hs := ms[k].Headers
		if len(hs) == 0 {
			return traffic.Cohort{}, canary.Invalid(fmt.Sprintf("%s[%d].headers", field, k), nil, "the cohort rule's match has no header match")
		}
		m, ok := matchOf(hs[len(hs)-1])
		if !ok {
			return traffic.Cohort{}, canary.Invalid(fmt.Sprintf("%s[%d].headers[%d].type", field, k, len(hs)-1), string(*hs[len(hs)-1].Type), "is not Exact or RegularExpression")
		}
		out = append(out, m)
	}
	co, err := traffic.NewCohort(out...)
	if err != nil {
		return traffic.Cohort{}, canary.Invalid(field, nil, "%v", err)
	}
	return co, nil
}

// affinityOf reads the affinity from the session rule k (its cookie
// match) and the router's ResponseHeaderModifier on the managed rule i's
// canary backendRef ci (its Max-Age).
func (r *Driver) affinityOf(route *gatewayv1.HTTPRoute, i, ci, k int) (traffic.Affinity, error) {
	field := fmt.Sprintf("%s spec.rules[%d].matches[0].headers", r.object(), k)
	ms := route.Spec.Rules[k].Matches
	if len(ms) == 0 || len(ms[0].Headers) == 0 {
		return traffic.Affinity{}, canary.Invalid(field, nil, "the session rule has no cookie match")
	}
	m, ok := matchOf(ms[0].Headers[len(ms[0].Headers)-1])
	if !ok || m.Cookie == "" {
		return traffic.Affinity{}, canary.Invalid(field, nil, "the session rule does not match a cookie")
	}
	a := traffic.Affinity{Cookie: m.Cookie, Value: m.Value}
	sc, _ := ownCookieFilter(route.Spec.Rules[i].BackendRefs[ci].Filters)
	rest, ok := strings.CutPrefix(sc, a.Cookie+"="+a.Value+"; Max-Age=")
	if ok {
		rest, ok = strings.CutSuffix(rest, "; Path=/")
	}
	if ok {
		n, err := strconv.Atoi(rest)
		a.MaxAge = n
		ok = err == nil && a.SetCookie() == sc
	}
	if !ok {
		return traffic.Affinity{}, canary.Invalid(fmt.Sprintf("%s spec.rules[%d].backendRefs[%d].filters", r.object(), i, ci), sc,
			"the canary backendRef does not add the session cookie %s=%s with a Max-Age", a.Cookie, a.Value)
	}
	return a, nil
}

// ownCookieFilter finds, among a backendRef's filters, a
// ResponseHeaderModifier that does nothing but add one Set-Cookie header
// (the router's shape), and returns that header's value and the filter's
// index; -1 when there is none, or when the first ResponseHeaderModifier
// has any other shape.
func ownCookieFilter(fs []gatewayv1.HTTPRouteFilter) (value string, at int) {
	for k, f := range fs {
		m := f.ResponseHeaderModifier
		if f.Type != gatewayv1.HTTPRouteFilterResponseHeaderModifier || m == nil {
			continue
		}
		if len(m.Set) == 0 && len(m.Remove) == 0 && len(m.Add) == 1 && strings.EqualFold(string(m.Add[0].Name), "Set-Cookie") {
			return m.Add[0].Value, k
		}
		return "", -1
	}
	return "", -1
}

func hasResponseModifier(fs []gatewayv1.HTTPRouteFilter) bool {
	for _, f := range fs {
		if f.Type == gatewayv1.HTTPRouteFilterResponseHeaderModifier {
			return true
		}
	}
	return false
}

// applyCookie puts the session cookie filter on the canary backendRef ci
// of rule i when a is set, and takes it off (the router's own, found while
// its session rule exists) when not.
func (r *Driver) applyCookie(ops []patchOp, rule *gatewayv1.HTTPRouteRule, i, ci int, owned bool, a traffic.Affinity) ([]patchOp, error) {
	ref := &rule.BackendRefs[ci]
	cur, at := ownCookieFilter(ref.Filters)
	path := fmt.Sprintf("/spec/rules/%d/backendRefs/%d/filters", i, ci)
	if a.IsZero() {
		if owned && at >= 0 {
			ref.Filters = append(ref.Filters[:at:at], ref.Filters[at+1:]...)
			if len(ref.Filters) == 0 {
				ref.Filters = nil
				return append(ops, patchOp{Op: "remove", Path: path}), nil
			}
			return append(ops, patchOp{Op: "remove", Path: fmt.Sprintf("%s/%d", path, at)}), nil
		}
		return ops, nil
	}
	want := a.SetCookie()
	switch {
	case at >= 0 && cur == want:
		return ops, nil
	case at >= 0 && owned:
		ref.Filters[at].ResponseHeaderModifier.Add[0].Value = want
		return append(ops, patchOp{"replace", fmt.Sprintf("%s/%d/responseHeaderModifier/add/0/value", path, at), want}), nil
	case hasResponseModifier(ref.Filters):
		return nil, canary.Invalid(fmt.Sprintf("%s spec.rules[%d].backendRefs[%d].filters", r.object(), i, ci), string(ref.Name),
			"the canary backendRef already has a ResponseHeaderModifier filter (only one is allowed); the router will not merge the session cookie of Split.Affinity into it")
	}
	f := gatewayv1.HTTPRouteFilter{
		Type:                   gatewayv1.HTTPRouteFilterResponseHeaderModifier,
		ResponseHeaderModifier: &gatewayv1.HTTPHeaderFilter{Add: []gatewayv1.HTTPHeader{{Name: "Set-Cookie", Value: want}}},
	}
	if len(ref.Filters) == 0 {
		ref.Filters = []gatewayv1.HTTPRouteFilter{f}
		return append(ops, patchOp{"add", path, ref.Filters}), nil
	}
	ref.Filters = append(ref.Filters, f)
	return append(ops, patchOp{"add", path + "/-", f}), nil
}

// checkTestRoute refuses a split whose own rules the route cannot carry:
// a test, cohort or session header the managed rule already matches (the
// same name, or one differing in case: header names are case-insensitive,
// so the API server refuses the first and the second makes the header
// ignored), a match that would exceed MaxHeaderMatches (or VPC Lattice's
// limit), or a route that would exceed MaxRules rules or MaxMatches
// matches.
func (r *Driver) checkTestRoute(route *gatewayv1.HTTPRoute, i int, s traffic.Split) error {
	type added struct {
		field, name string
		hint        string
	}
	var adds []added
	rules := 0
	if s.HasTestRoute() {
		adds = append(adds, added{"Split.TestRoute.Name", s.TestRoute.Name, "pick another test header than Split.TestRoute.Name"})
		rules++
	}
	for k, m := range s.Cohort.Matches() {
		name := m.Header
		if m.Cookie != "" {
			name = cookieHeader
		}
		adds = append(adds, added{fmt.Sprintf("Split.Cohort[%d]", k), name, "the cohort cannot match it too"})
	}
	if !s.Cohort.IsZero() {
		rules++
	}
	if !s.Affinity.IsZero() {
		adds = append(adds, added{"Split.Affinity", cookieHeader, "session affinity matches the Cookie header"})
		rules++
	}
	if len(adds) == 0 {
		return nil
	}
	if err := r.checkLatticeTestRoute(route, i); err != nil {
		return err
	}
	for k, m := range route.Spec.Rules[i].Matches {
		for h, hm := range m.Headers {
			for _, a := range adds {
				if strings.EqualFold(string(hm.Name), a.name) {
					return canary.Invalid(fmt.Sprintf("%s spec.rules[%d].matches[%d].headers[%d]", r.object(), i, k, h), string(hm.Name),
						"the managed rule already matches header %q; %s (%s: %q)", hm.Name, a.hint, a.field, a.name)
				}
			}
		}
		if len(m.Headers)+1 > MaxHeaderMatches {
			return canary.Invalid(fmt.Sprintf("%s spec.rules[%d].matches[%d].headers", r.object(), i, k), len(m.Headers),
				"the router's rules add a header match to the managed rule's %d, and a match takes at most %d", len(m.Headers), MaxHeaderMatches)
		}
	}
	others, matches := 0, 0
	for _, rule := range route.Spec.Rules {
		if !r.isOwnRule(rule) {
			others++
			matches += max(len(rule.Matches), 1)
		}
	}
	if others+rules > MaxRules {
		return canary.Invalid(r.object()+" spec.rules", len(route.Spec.Rules),
			"the route has %d rules of its own, and the router's rules for the split (test route, cohort, affinity) would make %d, more than the %d an HTTPRoute may have (remove a rule or split the route)", others, others+rules, MaxRules)
	}
	base := max(len(route.Spec.Rules[i].Matches), 1)
	matches += base * len(adds)
	if matches > MaxMatches {
		return canary.Invalid(r.object()+" spec.rules[].matches", matches,
			"the router's rules repeat the managed rule's %d matches for each added header match, making %d matches in the route, more than the %d an HTTPRoute may have", base, matches, MaxMatches)
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
