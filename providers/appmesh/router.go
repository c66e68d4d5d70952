package appmesh

import (
	"context"
	"fmt"

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
	// Retries bounds the retries after a write conflict, each after a
	// pause and a fresh read. Zero means [traffic.DefaultRetries]; negative
	// means no retry.
	Retries int
}

// Driver is the [traffic.Driver] over one App Mesh VirtualRouter. Use it
// through the *[traffic.Router] that New returns (or traffic.NewRouter(d,
// d.Options())); its own method Desired is for GitOps. It is safe for
// concurrent use.
type Driver struct {
	client dynamic.Interface
	cfg    Config
}

var (
	_ traffic.Driver  = (*Driver)(nil)
	_ traffic.Checker = (*Driver)(nil)
)

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
	}
	return &Driver{client: client, cfg: cfg}, nil
}

// Options returns the [traffic.Options] New uses: the object's name for
// errors and Config.Retries.
func (r *Driver) Options() traffic.Options {
	return traffic.Options{Name: r.object(), Retries: r.cfg.Retries}
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
func (r *Driver) Read(ctx context.Context) (traffic.Split, traffic.Version, error) {
	obj, err := r.resource().Get(ctx, r.cfg.VirtualRouter, metav1.GetOptions{})
	if err != nil {
		return traffic.Split{}, nil, err
	}
	s, err := r.splitOf(obj)
	if err != nil {
		return traffic.Split{}, nil, err
	}
	return s, obj, nil
}

// Check refuses a mirror, which App Mesh cannot express (a
// [traffic.Checker] method).
func (r *Driver) Check(s traffic.Split) error {
	if s.Mirror != 0 {
		return canary.Invalid("Split.Mirror", s.Mirror, "App Mesh cannot mirror requests; use 0 (or the Gateway API router)")
	}
	return nil
}

// Write puts s in force on the VirtualRouter v (a [traffic.Driver] method):
// one PUT of the object as read, unstructured (so fields this module does
// not know are kept), with the managed route's two weights and the test
// route changed, guarded by v's resourceVersion.
func (r *Driver) Write(ctx context.Context, v traffic.Version, s traffic.Split) (traffic.Split, traffic.Version, error) {
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

func (r *Driver) withoutTestRoute(routes []any) []any {
	kept := make([]any, 0, len(routes))
	for _, rt := range routes {
		if m, _ := rt.(map[string]any); m["name"] == r.cfg.TestRoute {
			continue
		}
		kept = append(kept, rt)
	}
	return kept
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
		for _, k := range []string{"httpRoute", "http2Route", "grpcRoute"} {
			key := "headers"
			if k == "grpcRoute" {
				key = "metadata"
			}
			hs, _, _ := unstructured.NestedSlice(tr, k, "match", key)
			if len(hs) == 0 {
				continue
			}
			h, _ := hs[len(hs)-1].(map[string]any)
			name, _ := h["name"].(string)
			value, _, _ := unstructured.NestedString(h, "match", "exact")
			s.TestRoute = traffic.HeaderRoute{Name: name, Value: value}
		}
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
	ts[si].(map[string]any)["weight"] = int64(s.Stable)
	ts[ci].(map[string]any)["weight"] = int64(s.Canary)
	if err := unstructured.SetNestedSlice(route, ts, kind, "action", "weightedTargets"); err != nil {
		return err
	}
	canaryTarget := runtime.DeepCopyJSONValue(ts[ci]).(map[string]any)

	routes = r.withoutTestRoute(routes)
	if tr := s.TestRoute; s.HasTestRoute() {
		test, err := r.testRouteFor(route, kind, canaryTarget, tr)
		if err != nil {
			return err
		}
		routes = append([]any{test}, routes...)
	}
	return unstructured.SetNestedSlice(obj.Object, routes, "spec", "routes")
}

// testRouteFor builds the test route: the managed route's match with an
// exact header (gRPC: metadata) match added, all traffic to the canary, and
// priority 0, App Mesh's highest, so it is tried before the managed route.
func (r *Driver) testRouteFor(route map[string]any, kind string, canaryTarget map[string]any, tr traffic.HeaderRoute) (map[string]any, error) {
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
	hs = append(hs, map[string]any{"name": tr.Name, "match": map[string]any{"exact": tr.Value}})
	match[key] = hs
	canaryTarget["weight"] = int64(1)
	body := map[string]any{
		"match":  match,
		"action": map[string]any{"weightedTargets": []any{canaryTarget}},
	}
	return map[string]any{"name": r.cfg.TestRoute, "priority": int64(0), kind: body}, nil
}
