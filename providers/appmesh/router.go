package appmesh

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kuberoute"
	"github.com/meshcanary/canary/traffic"
)

// VirtualRouters is the resource the router manages.
var VirtualRouters = schema.GroupVersionResource{Group: "appmesh.k8s.aws", Version: "v1beta2", Resource: "virtualrouters"}

// DefaultTestRoute names the route added for a split's test route when
// Config.TestRoute is empty.
const DefaultTestRoute = "meshcanary-test"

// DefaultCohortRoute is the stem of the names of the routes added for a
// split's Cohort, one per match (meshcanary-cohort-0, -1…), when
// Config.CohortRoute is empty.
const DefaultCohortRoute = "meshcanary-cohort"

// Limits of an App Mesh header match (the CRD's and App Mesh's own): a
// header name of at most 50 characters, a value of at most 255, at most 10
// header matches per route.
const (
	MaxHeaderName    = 50
	MaxHeaderValue   = 255
	MaxHeaderMatches = 10
)

// Route kinds of an App Mesh route, as spec.routes[] spells them.
var routeKinds = []string{"httpRoute", "http2Route", "grpcRoute", "tcpRoute"}

// Config names the VirtualRouter, its managed route and the two
// VirtualNodes.
type Config struct {
	// Namespace and VirtualRouter name the object. Required.
	Namespace, VirtualRouter string
	// Route is the name (spec.routes[].name) of the route whose weighted
	// targets carry the split. Required: App Mesh routes always have names.
	Route string
	// Stable and Canary are the VirtualNode names in the route's
	// weightedTargets[].virtualNodeRef. Both targets must exist. Required.
	Stable, Canary string
	// TestRoute names the route added for a split's test route. Empty
	// means DefaultTestRoute.
	TestRoute string
	// CohortRoute is the stem of the names of the routes added for a
	// split's Cohort: CohortRoute-0, CohortRoute-1… Empty means
	// DefaultCohortRoute.
	CohortRoute string
	// Retries bounds the retries after a write conflict, each after a
	// pause and a fresh read. Zero means [traffic.DefaultRetries]; negative
	// means no retry.
	Retries int
}

// Driver is the [traffic.Driver] over one App Mesh VirtualRouter. Use it
// through the *[traffic.Router] that New returns (or traffic.NewRouter(d,
// d.RouterConfig())); its own method Desired is for GitOps. It is safe for
// concurrent use.
type Driver struct {
	client dynamic.Interface
	cfg    Config
}

var (
	_ traffic.Driver   = (*Driver)(nil)
	_ traffic.Checker  = (*Driver)(nil)
	_ traffic.Featurer = (*Driver)(nil)
)

// Features says what App Mesh carries beyond weights and a test route (a
// [traffic.Featurer] method): a cohort of header matches, exact, prefix or
// regex (an HttpRouteHeader's match; gRPC metadata for a grpcRoute), and
// of cookies (a regex on the cookie header, [traffic.CookieRegex]). App
// Mesh has no way to add a header to a response, so no session affinity,
// and no mirror (see Check).
func (r *Driver) Features() traffic.Features {
	return traffic.Features{HeaderMatch: true, PrefixMatch: true, RegexMatch: true, CookieMatch: true}
}

// New checks cfg and returns a *[traffic.Router] over the VirtualRouter. It
// sends no request.
func New(client dynamic.Interface, cfg Config) (*traffic.Router, error) {
	return kuberoute.Router(NewDriver(client, cfg))
}

// NewDriver checks cfg and returns the Driver that New wraps. It sends no
// request.
func NewDriver(client dynamic.Interface, cfg Config) (*Driver, error) {
	if client == nil {
		return nil, canary.Invalid("Client", nil, "must not be nil")
	}
	if cfg.TestRoute == "" {
		cfg.TestRoute = DefaultTestRoute
	}
	if cfg.CohortRoute == "" {
		cfg.CohortRoute = DefaultCohortRoute
	}
	for _, c := range []struct {
		field, value string
		check        func(string) []string
	}{
		{"Config.Namespace", cfg.Namespace, validation.IsDNS1123Label},
		{"Config.VirtualRouter", cfg.VirtualRouter, validation.IsDNS1123Subdomain},
		{"Config.Route", cfg.Route, validation.IsDNS1123Subdomain},
		{"Config.Stable", cfg.Stable, validation.IsDNS1123Subdomain},
		{"Config.Canary", cfg.Canary, validation.IsDNS1123Subdomain},
		{"Config.TestRoute", cfg.TestRoute, validation.IsDNS1123Subdomain},
		{"Config.CohortRoute", cfg.CohortRoute + "-0", validation.IsDNS1123Subdomain},
	} {
		if errs := c.check(c.value); len(errs) > 0 {
			return nil, canary.Invalid(c.field, c.value, "%s", errs[0])
		}
	}
	switch {
	case cfg.Stable == cfg.Canary:
		return nil, canary.Invalid("Config.Canary", cfg.Canary, "must differ from Config.Stable")
	case cfg.Route == cfg.TestRoute:
		return nil, canary.Invalid("Config.TestRoute", cfg.TestRoute, "must differ from Config.Route")
	case cohortIndex(cfg.CohortRoute, cfg.Route) >= 0 || cohortIndex(cfg.CohortRoute, cfg.TestRoute) >= 0:
		return nil, canary.Invalid("Config.CohortRoute", cfg.CohortRoute, "the cohort routes' names (%s-0, -1…) must differ from Config.Route and Config.TestRoute", cfg.CohortRoute)
	}
	return &Driver{client: client, cfg: cfg}, nil
}

// RouterConfig returns the [traffic.Config] New uses: the object's name for
// errors and Config.Retries.
func (r *Driver) RouterConfig() traffic.Config {
	return traffic.Config{Name: r.object(), Retries: r.cfg.Retries}
}

func (r *Driver) object() string {
	return "VirtualRouter " + r.cfg.Namespace + "/" + r.cfg.VirtualRouter
}

func (r *Driver) resource() dynamic.ResourceInterface {
	return r.client.Resource(VirtualRouters).Namespace(r.cfg.Namespace)
}

// Read gets the VirtualRouter and the split in force (a [traffic.Driver]
// method). Weights that are not whole percentages of their sum are
// rounded.
func (r *Driver) Read(ctx context.Context) (traffic.Split, traffic.Revision, error) {
	obj, err := r.resource().Get(ctx, r.cfg.VirtualRouter, metav1.GetOptions{})
	if err != nil {
		return traffic.Split{}, nil, err
	}
	s, err := r.splitOf(obj)
	if err != nil {
		// The object exists but carries no split the driver can read (a
		// router-owned part broken by someone else): return it with the
		// error, so that SetSplit, a rollback above all, can still write
		// over it (see [traffic.Driver]).
		return traffic.Split{}, obj, err
	}
	return s, obj, nil
}

// Check refuses a mirror, which App Mesh cannot express, and a cohort
// match longer than App Mesh takes (a header name over MaxHeaderName
// characters, a value, or a cookie match's regular expression, over
// MaxHeaderValue) (a [traffic.Checker] method).
func (r *Driver) Check(s traffic.Split) error {
	if s.Mirror != 0 {
		return canary.Invalid("Split.Mirror", s.Mirror, "App Mesh cannot mirror requests; use 0 (or the Gateway API router)")
	}
	for k, m := range s.Cohort.Matches() {
		field := fmt.Sprintf("Split.Cohort[%d]", k)
		name, value := headerOf(m)
		switch {
		case len(name) > MaxHeaderName:
			return canary.Invalid(field+".Header", m.Header, "App Mesh matches header names of at most %d characters", MaxHeaderName)
		case len(value) > MaxHeaderValue && m.Cookie != "":
			return canary.Invalid(field+".Value", m.Value, "the cookie match's regular expression would be %d characters, and App Mesh takes at most %d", len(value), MaxHeaderValue)
		case len(value) > MaxHeaderValue:
			return canary.Invalid(field+".Value", m.Value, "App Mesh matches header values of at most %d characters", MaxHeaderValue)
		}
	}
	return nil
}

// cookieHeader is the request header cookie matches are carried on.
const cookieHeader = "cookie"

// headerOf returns the header name and the value a cohort match is
// written with.
func headerOf(m traffic.Match) (name, value string) {
	if m.Cookie != "" {
		return cookieHeader, traffic.CookieRegex(m.Cookie, m.Value)
	}
	return m.Header, m.Value
}

// headerMatch is a cohort match as an App Mesh header match.
func headerMatch(m traffic.Match) map[string]any {
	name, value := headerOf(m)
	kind := "exact"
	switch {
	case m.Cookie != "" || m.EffectiveKind() == traffic.Regex:
		kind = "regex"
	case m.EffectiveKind() == traffic.Prefix:
		kind = "prefix"
	}
	return map[string]any{"name": name, "match": map[string]any{kind: value}}
}

// matchOf reads an App Mesh header match back as a cohort match.
func matchOf(h map[string]any) (traffic.Match, bool) {
	name, _ := h["name"].(string)
	if inv, _ := h["invert"].(bool); inv {
		return traffic.Match{}, false
	}
	m, _ := h["match"].(map[string]any)
	if v, ok := m["exact"].(string); ok {
		return traffic.Match{Header: name, Value: v}, true
	}
	if v, ok := m["prefix"].(string); ok {
		return traffic.Match{Header: name, Kind: traffic.Prefix, Value: v}, true
	}
	if v, ok := m["regex"].(string); ok {
		if c, cv, ok := traffic.CookieFromRegex(v); ok && strings.EqualFold(name, cookieHeader) {
			return traffic.Match{Cookie: c, Value: cv}, true
		}
		return traffic.Match{Header: name, Kind: traffic.Regex, Value: v}, true
	}
	return traffic.Match{}, false
}

// cohortIndex returns k when name is stem-k (a cohort route's name), and
// -1 otherwise.
func cohortIndex(stem, name string) int {
	rest, ok := strings.CutPrefix(name, stem+"-")
	if !ok || rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return -1
	}
	k, err := strconv.Atoi(rest)
	if err != nil || k < 0 || k >= traffic.MaxMatches {
		return -1
	}
	return k
}

// Write puts s in force on the VirtualRouter v (a [traffic.Driver] method):
// one PUT of the object as read, unstructured (so fields this module does
// not know are kept), with the managed route's two weights and the test
// route changed, guarded by v's resourceVersion.
func (r *Driver) Write(ctx context.Context, v traffic.Revision, s traffic.Split) (traffic.Split, traffic.Revision, error) {
	in, ok := v.(*unstructured.Unstructured)
	if !ok || in == nil {
		return traffic.Split{}, nil, fmt.Errorf("appmesh: Write with a version of type %T", v)
	}
	obj := in.DeepCopy()
	if err := r.apply(obj, s); err != nil {
		return traffic.Split{}, nil, err
	}
	out, err := r.resource().Update(ctx, obj, metav1.UpdateOptions{FieldManager: canary.FieldManager})
	if err != nil {
		return traffic.Split{}, nil, err
	}
	got, err := r.splitOf(out)
	return got, out, err
}

// ErrorCode classifies the API server's errors (a [traffic.Driver] method).
func (r *Driver) ErrorCode(err error) canary.ErrorCode { return kuberoute.Code(err) }

// Desired reads the VirtualRouter and returns it as a write of s would make
// it, without writing, for GitOps pipelines.
func (r *Driver) Desired(ctx context.Context, s traffic.Split) (*unstructured.Unstructured, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := r.Check(s); err != nil {
		return nil, err
	}
	obj, err := r.resource().Get(ctx, r.cfg.VirtualRouter, metav1.GetOptions{})
	if err != nil {
		return nil, kuberoute.Wrap(err)
	}
	if err := r.apply(obj, s); err != nil {
		return nil, err
	}
	return obj, nil
}

func (r *Driver) routes(obj *unstructured.Unstructured) ([]any, error) {
	routes, found, err := unstructured.NestedSlice(obj.Object, "spec", "routes")
	if err != nil {
		return nil, canary.Invalid(r.object()+" spec.routes", nil, "%v", err)
	}
	if !found || len(routes) == 0 {
		return nil, canary.Invalid(r.object()+" spec.routes", r.cfg.Route, "the VirtualRouter has no routes")
	}
	return routes, nil
}

// managed returns the index of the managed route and its kind
// ("httpRoute"…).
func (r *Driver) managed(routes []any) (int, string, error) {
	for i, rt := range routes {
		m, _ := rt.(map[string]any)
		if m["name"] != r.cfg.Route {
			continue
		}
		var kinds []string
		for _, k := range routeKinds {
			if _, ok := m[k].(map[string]any); ok {
				kinds = append(kinds, k)
			}
		}
		if len(kinds) != 1 {
			return 0, "", canary.Invalid(fmt.Sprintf("%s spec.routes[%d]", r.object(), i), kinds, "must have exactly one of %v", routeKinds)
		}
		return i, kinds[0], nil
	}
	return 0, "", canary.Invalid(r.object()+" spec.routes", r.cfg.Route, "no route with this name")
}

func (r *Driver) testRoute(routes []any) int {
	for i, rt := range routes {
		if m, _ := rt.(map[string]any); m["name"] == r.cfg.TestRoute {
			return i
		}
	}
	return -1
}

// isOwn reports whether route rt is one the router adds: the test route
// or a cohort route.
func (r *Driver) isOwn(rt any) bool {
	m, _ := rt.(map[string]any)
	name, _ := m["name"].(string)
	return name == r.cfg.TestRoute || cohortIndex(r.cfg.CohortRoute, name) >= 0
}

func (r *Driver) withoutOwnRoutes(routes []any) []any {
	kept := make([]any, 0, len(routes))
	for _, rt := range routes {
		if r.isOwn(rt) {
			continue
		}
		kept = append(kept, rt)
	}
	return kept
}

// lastHeader returns the last header (gRPC: metadata) match of route rt.
func lastHeader(rt map[string]any) (map[string]any, bool) {
	for _, k := range []string{"httpRoute", "http2Route", "grpcRoute"} {
		key := "headers"
		if k == "grpcRoute" {
			key = "metadata"
		}
		hs, _, _ := unstructured.NestedSlice(rt, k, "match", key)
		if len(hs) == 0 {
			continue
		}
		h, ok := hs[len(hs)-1].(map[string]any)
		return h, ok
	}
	return nil, false
}

func toInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case float64:
		return int64(n), float64(int64(n)) == n
	}
	return 0, false
}

// targets returns the managed route's weightedTargets and the indexes of
// the stable and the canary target.
func (r *Driver) targets(route map[string]any, kind, field string) ([]any, int, int, error) {
	field += "." + kind + ".action.weightedTargets"
	ts, _, err := unstructured.NestedSlice(route, kind, "action", "weightedTargets")
	if err != nil {
		return nil, 0, 0, canary.Invalid(field, nil, "%v", err)
	}
	stable, canaryTarget := -1, -1
	for j, t := range ts {
		m, _ := t.(map[string]any)
		ref, _ := m["virtualNodeRef"].(map[string]any)
		name, _ := ref["name"].(string)
		ns, hasNS := ref["namespace"].(string)
		local := !hasNS || ns == "" || ns == r.cfg.Namespace
		switch {
		case local && name == r.cfg.Stable && stable < 0:
			stable = j
		case local && name == r.cfg.Canary && canaryTarget < 0:
			canaryTarget = j
		default:
			if w, _ := toInt(m["weight"]); w != 0 {
				return nil, 0, 0, canary.Invalid(fmt.Sprintf("%s[%d]", field, j), name,
					"a third target takes traffic; the router can only split between VirtualNode %s and VirtualNode %s", r.cfg.Stable, r.cfg.Canary)
			}
		}
	}
	if stable < 0 {
		return nil, 0, 0, canary.Invalid(field, r.cfg.Stable, "no weighted target with virtualNodeRef to the stable VirtualNode")
	}
	if canaryTarget < 0 {
		return nil, 0, 0, canary.Invalid(field, r.cfg.Canary, "no weighted target with virtualNodeRef to the canary VirtualNode")
	}
	return ts, stable, canaryTarget, nil
}

func (r *Driver) splitOf(obj *unstructured.Unstructured) (traffic.Split, error) {
	routes, err := r.routes(obj)
	if err != nil {
		return traffic.Split{}, err
	}
	i, kind, err := r.managed(routes)
	if err != nil {
		return traffic.Split{}, err
	}
	field := fmt.Sprintf("%s spec.routes[%d]", r.object(), i)
	ts, si, ci, err := r.targets(routes[i].(map[string]any), kind, field)
	if err != nil {
		return traffic.Split{}, err
	}
	sw, _ := toInt(ts[si].(map[string]any)["weight"])
	cw, _ := toInt(ts[ci].(map[string]any)["weight"])
	if sw+cw <= 0 {
		return traffic.Split{}, fmt.Errorf("%s.%s.action.weightedTargets: every weight is 0, the route sends no traffic", field, kind)
	}
	c := int((cw*100 + (sw+cw)/2) / (sw + cw))
	s := traffic.Split{Stable: 100 - c, Canary: c}
	if t := r.testRoute(routes); t >= 0 {
		tr, _ := routes[t].(map[string]any)
		if h, ok := lastHeader(tr); ok {
			name, _ := h["name"].(string)
			value, _, _ := unstructured.NestedString(h, "match", "exact")
			s.TestRoute = traffic.HeaderRoute{Name: name, Value: value}
		}
	}
	var ms [traffic.MaxMatches]*traffic.Match
	for j, rt := range routes {
		m, _ := rt.(map[string]any)
		name, _ := m["name"].(string)
		k := cohortIndex(r.cfg.CohortRoute, name)
		if k < 0 {
			continue
		}
		h, ok := lastHeader(m)
		var mt traffic.Match
		if ok {
			mt, ok = matchOf(h)
		}
		if !ok {
			return traffic.Split{}, canary.Invalid(fmt.Sprintf("%s spec.routes[%d]", r.object(), j), name, "the cohort route has no exact, prefix or regex header match")
		}
		ms[k] = &mt
	}
	var cohort []traffic.Match
	for k, m := range ms {
		switch {
		case m != nil && len(cohort) < k:
			return traffic.Split{}, canary.Invalid(r.object()+" spec.routes", fmt.Sprintf("%s-%d", r.cfg.CohortRoute, k),
				"the cohort routes are not numbered from 0 without a gap")
		case m != nil:
			cohort = append(cohort, *m)
		}
	}
	if s.Cohort, err = traffic.NewCohort(cohort...); err != nil {
		return traffic.Split{}, err
	}
	return s, nil
}

// apply changes obj in place so that it carries s: the two weights of the
// managed route and the test route, nothing else.
func (r *Driver) apply(obj *unstructured.Unstructured, s traffic.Split) error {
	routes, err := r.routes(obj)
	if err != nil {
		return err
	}
	i, kind, err := r.managed(routes)
	if err != nil {
		return err
	}
	field := fmt.Sprintf("%s spec.routes[%d]", r.object(), i)
	route := routes[i].(map[string]any)
	ts, si, ci, err := r.targets(route, kind, field)
	if err != nil {
		return err
	}
	if s.HasTestRoute() && kind == "tcpRoute" {
		return canary.Invalid("Split.TestRoute", s.TestRoute.Name, "%s.tcpRoute cannot match headers", field)
	}
	for k, m := range s.Cohort.Matches() {
		switch {
		case kind == "tcpRoute":
			return canary.Invalid("Split.Cohort", s.Cohort.String(), "%s.tcpRoute cannot match headers", field)
		case kind == "grpcRoute" && m.Cookie != "":
			return canary.Invalid(fmt.Sprintf("Split.Cohort[%d].Cookie", k), m.Cookie, "%s.grpcRoute matches gRPC metadata, not cookies", field)
		}
	}
	key := "headers"
	if kind == "grpcRoute" {
		key = "metadata"
	}
	if hs, _, _ := unstructured.NestedSlice(route, kind, "match", key); s.HasTestRoute() || !s.Cohort.IsZero() {
		if len(hs)+1 > MaxHeaderMatches {
			return canary.Invalid(fmt.Sprintf("%s.%s.match.%s", field, kind, key), len(hs),
				"the router's routes add a header match to the managed route's %d, and App Mesh takes at most %d", len(hs), MaxHeaderMatches)
		}
		for _, h := range hs {
			hm, _ := h.(map[string]any)
			name, _ := hm["name"].(string)
			if s.HasTestRoute() && strings.EqualFold(name, s.TestRoute.Name) {
				return canary.Invalid("Split.TestRoute.Name", s.TestRoute.Name, "%s already matches header %q; pick another test header", field, name)
			}
			for k, m := range s.Cohort.Matches() {
				if n, _ := headerOf(m); strings.EqualFold(name, n) {
					return canary.Invalid(fmt.Sprintf("Split.Cohort[%d]", k), n, "%s already matches header %q; the cohort cannot match it too", field, name)
				}
			}
		}
	}
	ts[si].(map[string]any)["weight"] = int64(s.Stable)
	ts[ci].(map[string]any)["weight"] = int64(s.Canary)
	if err := unstructured.SetNestedSlice(route, ts, kind, "action", "weightedTargets"); err != nil {
		return err
	}
	canaryTarget := runtime.DeepCopyJSONValue(ts[ci]).(map[string]any)

	// The router's routes, first, all at priority 0 (App Mesh's highest):
	// the test route, then one route per cohort match (an App Mesh route
	// has one match, so the cohort's OR is several routes). Each sends to
	// the canary alone, so their order among themselves does not matter.
	var own []any
	if tr := s.TestRoute; s.HasTestRoute() {
		own = append(own, r.ownRoute(r.cfg.TestRoute, route, kind, canaryTarget,
			map[string]any{"name": tr.Name, "match": map[string]any{"exact": tr.Value}}))
	}
	for k, m := range s.Cohort.Matches() {
		own = append(own, r.ownRoute(fmt.Sprintf("%s-%d", r.cfg.CohortRoute, k), route, kind, canaryTarget, headerMatch(m)))
	}
	routes = append(own, r.withoutOwnRoutes(routes)...)
	return unstructured.SetNestedSlice(obj.Object, routes, "spec", "routes")
}

// ownRoute builds a route of the router's named name: the managed route's
// match with header (gRPC: metadata) match h added, all traffic to the
// canary, and priority 0, App Mesh's highest, so it is tried before the
// managed route.
func (r *Driver) ownRoute(name string, route map[string]any, kind string, canaryTarget, h map[string]any) map[string]any {
	canaryTarget = runtime.DeepCopyJSONValue(canaryTarget).(map[string]any)
	match, _, _ := unstructured.NestedMap(route, kind, "match")
	if match == nil {
		match = map[string]any{}
	}
	if kind == "httpRoute" || kind == "http2Route" {
		if _, ok := match["prefix"]; !ok {
			if _, ok := match["path"]; !ok {
				match["prefix"] = "/"
			}
		}
	}
	key := "headers"
	if kind == "grpcRoute" {
		key = "metadata"
	}
	hs, _, _ := unstructured.NestedSlice(match, key)
	hs = append(hs, h)
	match[key] = hs
	canaryTarget["weight"] = int64(1)
	body := map[string]any{
		"match":  match,
		"action": map[string]any{"weightedTargets": []any{canaryTarget}},
	}
	return map[string]any{"name": name, "priority": int64(0), kind: body}
}
