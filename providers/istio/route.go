package istio

//lint:file-ignore SA1019 the deprecated mirrorPercent field is read, and replaced by mirrorPercentage, because manifests written for older Istio still carry it.

import (
	"fmt"
	"math"
	"strings"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
	"google.golang.org/protobuf/proto"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// ErrSubsetMissing is wrapped by the error a Router returns when a
// DestinationRule subset it routes to does not exist and Config.CreateSubsets
// is off.
// Its code is [canary.FailedPrecondition].
var ErrSubsetMissing = canary.NewError(canary.FailedPrecondition, "istio: subset missing")

// ObjectError reports a mesh object the router cannot work with, naming the
// object and the field, for example
//
//	istio: VirtualService prod/reviews: spec.http[1].route[2]: destination "ratings" is neither stable (reviews/v1) nor canary (reviews/v2)
//
// Err, when not nil, is the sentinel it wraps: [traffic.ErrNotFound] for a
// missing route, ErrSubsetMissing, or [canary.ErrInvalid] when the Config
// does not fit the object (several routes and no Config.Route).
type ObjectError struct {
	Kind      string // "VirtualService" or "DestinationRule"
	Namespace string
	Name      string // empty when the error is about every object of Kind in Namespace
	Field     string // e.g. "spec.http[1].route"
	Reason    string
	Err       error
}

func (e *ObjectError) Error() string {
	obj := e.Namespace + "/" + e.Name
	if e.Name == "" {
		obj = "in namespace " + e.Namespace
	}
	return fmt.Sprintf("istio: %s %s: %s: %s", e.Kind, obj, e.Field, e.Reason)
}

// Unwrap returns Err.
func (e *ObjectError) Unwrap() error { return e.Err }

// ErrorCode returns the code of Err (see [canary.Code]), or
// [canary.InvalidArgument] when Err is nil: the object does not fit the
// Config.
func (e *ObjectError) ErrorCode() canary.ErrorCode {
	if e.Err == nil {
		return canary.InvalidArgument
	}
	return canary.Code(e.Err)
}

// layout is where the router's pieces sit in one VirtualService.
type layout struct {
	route          int // index of the managed route in spec.http
	test           int // index of the test route, -1 when absent
	stable, canary int // indices in the managed route's route[], -1 when absent
}

func (r *Driver) vsErr(field string, err error, format string, args ...any) *ObjectError {
	return &ObjectError{Kind: "VirtualService", Namespace: r.cfg.Namespace, Name: r.cfg.VirtualService,
		Field: field, Reason: fmt.Sprintf(format, args...), Err: err}
}

func (r *Driver) is(d *networkingv1alpha3.Destination, want Destination) bool {
	return d != nil && r.cfg.fqdn(d.Host) == r.cfg.fqdn(want.Host) && d.Subset == want.Subset
}

func describe(d *networkingv1alpha3.Destination) string {
	if d == nil {
		return "(none)"
	}
	if d.Subset == "" {
		return d.Host
	}
	return d.Host + "/" + d.Subset
}

// locate finds the managed route, the test route and the two destinations.
func (r *Driver) locate(vs *networkingv1.VirtualService) (layout, error) {
	l := layout{route: -1, test: -1, stable: -1, canary: -1}
	test := r.cfg.testRoute()
	var unnamed []int
	for i, h := range vs.Spec.Http {
		if h == nil {
			return l, r.vsErr(fmt.Sprintf("spec.http[%d]", i), nil, "is null")
		}
		switch {
		case h.Name == test:
			if l.test >= 0 {
				return l, r.vsErr(fmt.Sprintf("spec.http[%d].name", i), nil, "test route name %q is used twice", test)
			}
			l.test = i
		case r.cfg.Route != "" && h.Name == r.cfg.Route:
			if l.route >= 0 {
				return l, r.vsErr(fmt.Sprintf("spec.http[%d].name", i), nil, "route name %q is used twice", h.Name)
			}
			l.route = i
		case r.cfg.Route == "":
			unnamed = append(unnamed, i)
		}
	}
	if r.cfg.Route == "" {
		switch len(unnamed) {
		case 0:
			return l, r.vsErr("spec.http", traffic.ErrNotFound, "has no HTTP route")
		case 1:
			l.route = unnamed[0]
		default:
			return l, r.vsErr("spec.http[].name", canary.ErrInvalid,
				"has %d HTTP routes and no route name is configured; name the route to manage and set Config.Route", len(unnamed))
		}
	}
	if l.route < 0 {
		return l, r.vsErr("spec.http[].name", traffic.ErrNotFound, "no HTTP route is named %q", r.cfg.Route)
	}
	h := vs.Spec.Http[l.route]
	field := fmt.Sprintf("spec.http[%d]", l.route)
	if h.Delegate != nil || h.Redirect != nil || h.DirectResponse != nil {
		return l, r.vsErr(field, nil, "delegates, redirects or answers directly; the router manages weighted route destinations only")
	}
	for j, d := range h.Route {
		if d == nil {
			return l, r.vsErr(fmt.Sprintf("%s.route[%d]", field, j), nil, "is null")
		}
		switch {
		case r.is(d.Destination, r.cfg.Stable):
			if l.stable >= 0 {
				return l, r.vsErr(fmt.Sprintf("%s.route[%d]", field, j), nil, "stable destination %s appears twice", r.cfg.Stable)
			}
			l.stable = j
		case r.is(d.Destination, r.cfg.Canary):
			if l.canary >= 0 {
				return l, r.vsErr(fmt.Sprintf("%s.route[%d]", field, j), nil, "canary destination %s appears twice", r.cfg.Canary)
			}
			l.canary = j
		default:
			return l, r.vsErr(fmt.Sprintf("%s.route[%d].destination", field, j), nil,
				"%s is neither stable (%s) nor canary (%s)", describe(d.Destination), r.cfg.Stable, r.cfg.Canary)
		}
	}
	if l.stable < 0 && l.canary < 0 {
		return l, r.vsErr(field+".route", nil, "has neither the stable (%s) nor the canary (%s) destination", r.cfg.Stable, r.cfg.Canary)
	}
	return l, nil
}

// parse reads the split in force from vs.
func (r *Driver) parse(vs *networkingv1.VirtualService) (traffic.Split, layout, error) {
	l, err := r.locate(vs)
	if err != nil {
		return traffic.Split{}, l, err
	}
	h := vs.Spec.Http[l.route]
	field := fmt.Sprintf("spec.http[%d]", l.route)
	var s traffic.Split
	switch {
	case l.stable >= 0 && l.canary >= 0:
		s.Stable, s.Canary = int(h.Route[l.stable].Weight), int(h.Route[l.canary].Weight)
		if s.Stable < 0 || s.Canary < 0 || s.Stable+s.Canary != 100 {
			return s, l, r.vsErr(field+".route[].weight", nil, "stable %d + canary %d do not sum to 100", s.Stable, s.Canary)
		}
	case l.stable >= 0:
		s.Stable = 100
	default:
		s.Canary = 100
	}
	if r.is(h.Mirror, r.cfg.Canary) {
		switch {
		case h.MirrorPercentage != nil:
			v := h.MirrorPercentage.Value
			if v < 0 || v > 100 || v != math.Trunc(v) {
				return s, l, r.vsErr(field+".mirrorPercentage.value", nil, "%v is not a whole percentage", v)
			}
			s.Mirror = int(v)
		case h.MirrorPercent != nil:
			s.Mirror = int(min(h.MirrorPercent.Value, 100))
		default:
			s.Mirror = 100 // Istio mirrors everything when no percentage is set
		}
	}
	if l.test >= 0 {
		hr, err := r.testHeader(vs, l)
		if err != nil {
			return s, l, err
		}
		s.TestRoute = hr
	}
	return s, l, nil
}

// testHeader recovers the header the test route matches on: the exact header
// match of its first match block that the managed route's first match block
// does not have.
func (r *Driver) testHeader(vs *networkingv1.VirtualService, l layout) (traffic.HeaderRoute, error) {
	t := vs.Spec.Http[l.test]
	field := fmt.Sprintf("spec.http[%d].match[0].headers", l.test)
	if len(t.Match) == 0 || t.Match[0] == nil {
		return traffic.HeaderRoute{}, r.vsErr(field, nil, "test route %q has no header match", t.Name)
	}
	var base map[string]*networkingv1alpha3.StringMatch
	if m := vs.Spec.Http[l.route].Match; len(m) > 0 && m[0] != nil {
		base = m[0].Headers
	}
	var found traffic.HeaderRoute
	for name, sm := range t.Match[0].Headers {
		if b, ok := base[name]; ok && proto.Equal(b, sm) {
			continue
		}
		ex, ok := sm.GetMatchType().(*networkingv1alpha3.StringMatch_Exact)
		if !ok {
			continue
		}
		if found != (traffic.HeaderRoute{}) {
			return traffic.HeaderRoute{}, r.vsErr(field, nil, "test route %q matches several headers (%s, %s); cannot tell which is the test header", t.Name, found.Name, name)
		}
		found = traffic.HeaderRoute{Name: name, Value: ex.Exact}
	}
	if found == (traffic.HeaderRoute{}) {
		return traffic.HeaderRoute{}, r.vsErr(field, nil, "test route %q has no exact header match", t.Name)
	}
	return found, nil
}

// validateSplit checks s, including what Istio cannot express.
func validateSplit(s traffic.Split) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.HasTestRoute() && s.TestRoute.Name != strings.ToLower(s.TestRoute.Name) {
		return canary.Invalid("Split.TestRoute.Name", s.TestRoute.Name, "Istio matches header names in lower case; write it in lower case")
	}
	return nil
}

// patchOp is one RFC 6902 JSON Patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// editor changes a copy of a VirtualService and records the same change as
// JSON Patch operations, so that the write touches only the managed paths
// and leaves every other byte of the stored object as it was.
type editor struct {
	vs  *networkingv1.VirtualService
	ops []patchOp
}

func (e *editor) route(i int) *networkingv1alpha3.HTTPRoute { return e.vs.Spec.Http[i] }

func (e *editor) setWeight(i, j int, w int) {
	e.route(i).Route[j].Weight = int32(w)
	e.ops = append(e.ops, patchOp{"add", fmt.Sprintf("/spec/http/%d/route/%d/weight", i, j), w})
}

func (e *editor) appendDest(i int, d *networkingv1alpha3.HTTPRouteDestination) {
	h := e.route(i)
	h.Route = append(h.Route, d)
	e.ops = append(e.ops, patchOp{"add", fmt.Sprintf("/spec/http/%d/route/-", i), d})
}

func (e *editor) setMirror(i int, d *networkingv1alpha3.Destination, pct int) {
	h := e.route(i)
	if !proto.Equal(h.Mirror, d) {
		h.Mirror = d
		e.ops = append(e.ops, patchOp{"add", fmt.Sprintf("/spec/http/%d/mirror", i), d})
	}
	if h.MirrorPercentage == nil || h.MirrorPercentage.Value != float64(pct) {
		h.MirrorPercentage = &networkingv1alpha3.Percent{Value: float64(pct)}
		e.ops = append(e.ops, patchOp{"add", fmt.Sprintf("/spec/http/%d/mirrorPercentage", i), map[string]float64{"value": float64(pct)}})
	}
	if h.MirrorPercent != nil {
		h.MirrorPercent = nil
		e.ops = append(e.ops, patchOp{Op: "remove", Path: fmt.Sprintf("/spec/http/%d/mirrorPercent", i)})
	}
}

func (e *editor) dropMirror(i int) {
	h := e.route(i)
	for _, f := range []struct {
		set  bool
		path string
	}{{h.Mirror != nil, "mirror"}, {h.MirrorPercentage != nil, "mirrorPercentage"}, {h.MirrorPercent != nil, "mirrorPercent"}} {
		if f.set {
			e.ops = append(e.ops, patchOp{Op: "remove", Path: fmt.Sprintf("/spec/http/%d/%s", i, f.path)})
		}
	}
	h.Mirror, h.MirrorPercentage, h.MirrorPercent = nil, nil, nil
}

func (e *editor) insertRoute(at int, h *networkingv1alpha3.HTTPRoute) {
	s := &e.vs.Spec
	s.Http = append(s.Http[:at:at], append([]*networkingv1alpha3.HTTPRoute{h}, s.Http[at:]...)...)
	e.ops = append(e.ops, patchOp{"add", fmt.Sprintf("/spec/http/%d", at), h})
}

func (e *editor) replaceRoute(at int, h *networkingv1alpha3.HTTPRoute) {
	e.vs.Spec.Http[at] = h
	e.ops = append(e.ops, patchOp{"replace", fmt.Sprintf("/spec/http/%d", at), h})
}

func (e *editor) removeRoute(at int) {
	s := &e.vs.Spec
	s.Http = append(s.Http[:at:at], s.Http[at+1:]...)
	e.ops = append(e.ops, patchOp{Op: "remove", Path: fmt.Sprintf("/spec/http/%d", at)})
}

func (r *Driver) dest(d Destination) *networkingv1alpha3.Destination {
	return &networkingv1alpha3.Destination{Host: d.Host, Subset: d.Subset}
}

// render computes the VirtualService that puts s in force, and the patch
// that turns vs into it. vs is not modified. No operations means vs already
// has s in force.
func (r *Driver) render(vs *networkingv1.VirtualService, s traffic.Split) (*networkingv1.VirtualService, []patchOp, error) {
	l, err := r.locate(vs)
	if err != nil {
		return nil, nil, err
	}
	e := &editor{vs: vs.DeepCopy()}
	i := l.route
	h := e.route(i)
	field := fmt.Sprintf("spec.http[%d]", i)

	// Weights: both destinations stay listed once present, with explicit
	// weights; a lone destination receives everything whatever its weight.
	if l.canary < 0 && s.Canary > 0 {
		e.appendDest(i, &networkingv1alpha3.HTTPRouteDestination{Destination: r.dest(r.cfg.Canary), Weight: int32(s.Canary)})
		l.canary = len(h.Route) - 1
		h = e.route(i)
	}
	if l.stable < 0 && s.Stable > 0 {
		e.appendDest(i, &networkingv1alpha3.HTTPRouteDestination{Destination: r.dest(r.cfg.Stable), Weight: int32(s.Stable)})
		l.stable = len(h.Route) - 1
		h = e.route(i)
	}
	if l.stable >= 0 && l.canary >= 0 {
		if int(h.Route[l.stable].Weight) != s.Stable {
			e.setWeight(i, l.stable, s.Stable)
		}
		if int(h.Route[l.canary].Weight) != s.Canary {
			e.setWeight(i, l.canary, s.Canary)
		}
	}

	// Mirror: only a mirror to the canary is the router's to change.
	ours := r.is(h.Mirror, r.cfg.Canary)
	switch {
	case s.Mirror > 0 && h.Mirror != nil && !ours:
		return nil, nil, r.vsErr(field+".mirror", nil, "already mirrors to %s; the router mirrors only to the canary (%s) and will not replace it", describe(h.Mirror), r.cfg.Canary)
	case s.Mirror > 0 && len(h.Mirrors) > 0:
		return nil, nil, r.vsErr(field+".mirrors", nil, "is set; Istio does not allow mirror and mirrors together")
	case s.Mirror > 0:
		e.setMirror(i, r.dest(r.cfg.Canary), s.Mirror)
	case ours:
		e.dropMirror(i)
	}

	// Test route: immediately before the managed route in spec.http, a
	// copy of it that matches only requests with the test header and sends
	// them to the canary. Istio takes the first route that matches, so the
	// routes before the managed one keep their traffic, test header or not.
	switch {
	case !s.HasTestRoute() && l.test >= 0:
		e.removeRoute(l.test)
	case s.HasTestRoute():
		t, err := r.testRouteFor(e.route(i), field, s.TestRoute)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case l.test < 0:
			e.insertRoute(i, t)
		case l.test != i-1:
			// Elsewhere (first, as older versions placed it): move it.
			e.removeRoute(l.test)
			if l.test < i {
				i--
			}
			e.insertRoute(i, t)
		case !proto.Equal(e.vs.Spec.Http[l.test], t):
			e.replaceRoute(l.test, t)
		}
	}
	return e.vs, e.ops, nil
}

func (r *Driver) testRouteFor(h *networkingv1alpha3.HTTPRoute, field string, hr traffic.HeaderRoute) (*networkingv1alpha3.HTTPRoute, error) {
	t := proto.Clone(h).(*networkingv1alpha3.HTTPRoute)
	t.Name = r.cfg.testRoute()
	canaryDest := &networkingv1alpha3.HTTPRouteDestination{Destination: r.dest(r.cfg.Canary)}
	for _, d := range h.Route {
		if r.is(d.Destination, r.cfg.Canary) {
			canaryDest = proto.Clone(d).(*networkingv1alpha3.HTTPRouteDestination)
			canaryDest.Weight = 0
		}
	}
	t.Route = []*networkingv1alpha3.HTTPRouteDestination{canaryDest}
	t.Mirror, t.MirrorPercentage, t.MirrorPercent, t.Mirrors = nil, nil, nil, nil
	exact := &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Exact{Exact: hr.Value}}
	if len(t.Match) == 0 {
		t.Match = []*networkingv1alpha3.HTTPMatchRequest{{}}
	}
	for k, m := range t.Match {
		if m == nil {
			m = &networkingv1alpha3.HTTPMatchRequest{}
			t.Match[k] = m
		}
		if _, ok := m.Headers[hr.Name]; ok {
			return nil, r.vsErr(fmt.Sprintf("%s.match[%d].headers", field, k), nil, "already matches header %q; pick another test header", hr.Name)
		}
		if m.Headers == nil {
			m.Headers = map[string]*networkingv1alpha3.StringMatch{}
		}
		m.Headers[hr.Name] = proto.Clone(exact).(*networkingv1alpha3.StringMatch)
	}
	return t, nil
}
