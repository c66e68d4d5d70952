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

// DefaultRetries is how many times a write is retried after a conflict when
// Config.Retries is zero.
const DefaultRetries = 5

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
	// Retries bounds the retries after a write conflict. Zero means
	// DefaultRetries; negative means no retry.
	Retries int
}

// Router is a traffic.Router over one App Mesh VirtualRouter. Create it with
// New; the zero value is not usable. It is safe for concurrent use.
type Router struct {
	client dynamic.Interface
	cfg    Config

	// rw reads and writes the VirtualRouter and keeps it as last read or
	// written, for the one-write rollback.
	rw kuberoute.Object[unstructured.Unstructured]
}

var _ traffic.Router = (*Router)(nil)

// New checks cfg and returns a Router. It sends no request.
func New(client dynamic.Interface, cfg Config) (*Router, error) {
	if client == nil {
		return nil, canary.Invalid("Client", nil, "must not be nil")
	}
	if cfg.TestRoute == "" {
		cfg.TestRoute = DefaultTestRoute
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
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
	r := &Router{client: client, cfg: cfg}
	r.rw = kuberoute.Object[unstructured.Unstructured]{
		Name: r.object(),
		Get: func(ctx context.Context) (*unstructured.Unstructured, error) {
			return r.resource().Get(ctx, r.cfg.VirtualRouter, metav1.GetOptions{})
		},
		Update: func(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
			return r.resource().Update(ctx, obj, metav1.UpdateOptions{})
		},
		SplitOf:  r.splitOf,
		DeepCopy: (*unstructured.Unstructured).DeepCopy,
		Retries:  r.cfg.Retries,
	}
	return r, nil
}

func (r *Router) object() string {
	return "VirtualRouter " + r.cfg.Namespace + "/" + r.cfg.VirtualRouter
}

func (r *Router) resource() dynamic.ResourceInterface {
	return r.client.Resource(VirtualRouters).Namespace(r.cfg.Namespace)
}

// Split reads the VirtualRouter and returns the split in force. Weights
// that are not whole percentages of their sum are rounded.
func (r *Router) Split(ctx context.Context) (traffic.Split, error) {
	obj, err := r.rw.Read(ctx)
	if err != nil {
		return traffic.Split{}, err
	}
	return r.splitOf(obj)
}

// Desired reads the VirtualRouter and returns it as SetSplit would write
// it, without writing, for GitOps pipelines.
func (r *Router) Desired(ctx context.Context, s traffic.Split) (*unstructured.Unstructured, error) {
	if err := checkSplit(s); err != nil {
		return nil, err
	}
	obj, err := r.rw.Read(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.apply(obj, s); err != nil {
		return nil, err
	}
	return obj, nil
}

func checkSplit(s traffic.Split) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.Mirror != 0 {
		return canary.Invalid("Split.Mirror", s.Mirror, "App Mesh cannot mirror requests; use 0 (or the Gateway API router)")
	}
	return nil
}

// SetSplit writes s into the managed route: one GET and one PUT when nothing
// else writes the VirtualRouter at the same time. A rollback (all stable, no
// test route) is written from the object as this Router last saw it in a
// single PUT guarded by its resourceVersion; only if it changed since is it
// read again. Conflicts are retried from a fresh read up to Config.Retries
// times, and the object the server returns is checked against s.
func (r *Router) SetSplit(ctx context.Context, s traffic.Split) error {
	if err := checkSplit(s); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var start *unstructured.Unstructured
	if s.Canary == 0 && s.TestRoute == nil {
		start = r.rw.Cached()
	}
	return r.rw.Modify(ctx, start, func(obj *unstructured.Unstructured) (bool, error) {
		return true, r.apply(obj, s)
	}, &s)
}

// Release removes the test route and keeps the weights. It writes nothing
// when there is no test route.
func (r *Router) Release(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.rw.Modify(ctx, nil, func(obj *unstructured.Unstructured) (bool, error) {
		routes, err := r.routes(obj)
		if err != nil {
			return false, err
		}
		if _, _, err := r.managed(routes); err != nil {
			return false, err
		}
		kept := r.withoutTestRoute(routes)
		if len(kept) == len(routes) {
			return false, nil
		}
		return true, unstructured.SetNestedSlice(obj.Object, kept, "spec", "routes")
	}, nil)
}

func (r *Router) routes(obj *unstructured.Unstructured) ([]any, error) {
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
func (r *Router) managed(routes []any) (int, string, error) {
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

func (r *Router) testRoute(routes []any) int {
	for i, rt := range routes {
		if m, _ := rt.(map[string]any); m["name"] == r.cfg.TestRoute {
			return i
		}
	}
	return -1
}

func (r *Router) withoutTestRoute(routes []any) []any {
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
func (r *Router) targets(route map[string]any, kind, field string) ([]any, int, int, error) {
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

func (r *Router) splitOf(obj *unstructured.Unstructured) (traffic.Split, error) {
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
			s.TestRoute = &traffic.HeaderRoute{Name: name, Value: value}
		}
	}
	return s, nil
}

// apply changes obj in place so that it carries s: the two weights of the
// managed route and the test route, nothing else.
func (r *Router) apply(obj *unstructured.Unstructured, s traffic.Split) error {
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
	if s.TestRoute != nil && kind == "tcpRoute" {
		return canary.Invalid("Split.TestRoute", s.TestRoute.Name, "%s.tcpRoute cannot match headers", field)
	}
	ts[si].(map[string]any)["weight"] = int64(s.Stable)
	ts[ci].(map[string]any)["weight"] = int64(s.Canary)
	if err := unstructured.SetNestedSlice(route, ts, kind, "action", "weightedTargets"); err != nil {
		return err
	}
	canaryTarget := runtime.DeepCopyJSONValue(ts[ci]).(map[string]any)

	routes = r.withoutTestRoute(routes)
	if tr := s.TestRoute; tr != nil {
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
func (r *Router) testRouteFor(route map[string]any, kind string, canaryTarget map[string]any, tr *traffic.HeaderRoute) (map[string]any, error) {
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
