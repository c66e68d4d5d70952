package istio

//lint:file-ignore SA1019 the deprecated mirrorPercent field is read, and replaced by mirrorPercentage, because manifests written for older Istio still carry it.

import (
	"fmt"
	"math"
	"strconv"
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
	cohort         int // index of the cohort route, -1 when absent
	session        int // index of the session (affinity) route, -1 when absent
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
	l := layout{route: -1, test: -1, cohort: -1, session: -1, stable: -1, canary: -1}
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
		case h.Name == r.cfg.cohortRoute():
			if l.cohort >= 0 {
				return l, r.vsErr(fmt.Sprintf("spec.http[%d].name", i), nil, "cohort route name %q is used twice", h.Name)
			}
			l.cohort = i
		case h.Name == r.cfg.sessionRoute():
			if l.session >= 0 {
				return l, r.vsErr(fmt.Sprintf("spec.http[%d].name", i), nil, "session route name %q is used twice", h.Name)
			}
			l.session = i
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
	if l.cohort >= 0 {
		c, err := r.parseCohort(vs, l)
		if err != nil {
			return s, l, err
		}
		s.Cohort = c
	}
	if l.session >= 0 {
		a, err := r.parseAffinity(vs, l)
		if err != nil {
			return s, l, err
		}
		s.Affinity = a
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
	for k, m := range s.Cohort.Matches() {
		field := fmt.Sprintf("Split.Cohort[%d]", k)
		switch {
		case m.Header != "" && m.Header != strings.ToLower(m.Header):
			return canary.Invalid(field+".Header", m.Header, "Istio matches header names in lower case; write it in lower case")
		case m.Header == "cookie" && m.EffectiveKind() == traffic.Regex:
			if _, _, ok := traffic.CookieFromRegex(m.Value); ok {
				// It would read back as a cookie match.
				return canary.Invalid(field+".Value", m.Value, "is the regular expression of a cookie match; write the cookie match instead")
			}
		}
	}
	return nil
}

// cookieHeader is the request header a cookie match is carried on.
const cookieHeader = "cookie"

// matchBlocks returns the managed route's match blocks, one nil block
// (matching everything) when it has none.
func matchBlocks(h *networkingv1alpha3.HTTPRoute) []*networkingv1alpha3.HTTPMatchRequest {
	if len(h.Match) == 0 {
		return []*networkingv1alpha3.HTTPMatchRequest{nil}
	}
	return h.Match
}

// added returns the header matches of m that base does not have.
func added(base, m *networkingv1alpha3.HTTPMatchRequest) map[string]*networkingv1alpha3.StringMatch {
	out := map[string]*networkingv1alpha3.StringMatch{}
	for name, sm := range m.GetHeaders() {
		if b, ok := base.GetHeaders()[name]; ok && proto.Equal(b, sm) {
			continue
		}
		out[name] = sm
	}
	return out
}

// parseCohort recovers the cohort from the cohort route: a copy of the
// managed route whose match blocks are the managed route's blocks, each
// combined with every cohort match in turn (Istio ORs the blocks).
func (r *Driver) parseCohort(vs *networkingv1.VirtualService, l layout) (traffic.Cohort, error) {
	t := vs.Spec.Http[l.cohort]
	base := matchBlocks(vs.Spec.Http[l.route])
	field := fmt.Sprintf("spec.http[%d].match", l.cohort)
	n := len(t.Match) / len(base)
	if n == 0 || n > traffic.MaxMatches || len(t.Match)%len(base) != 0 {
		return traffic.Cohort{}, r.vsErr(field, nil, "cohort route %q has %d match blocks; want 1 to %d for each of the managed route's %d",
			t.Name, len(t.Match), traffic.MaxMatches, len(base))
	}
	var ms []traffic.Match
	for j := 0; j < n; j++ {
		if t.Match[j] == nil {
			return traffic.Cohort{}, r.vsErr(fmt.Sprintf("%s[%d]", field, j), nil, "is null")
		}
		extra := added(base[0], t.Match[j])
		if len(extra) != 1 {
			return traffic.Cohort{}, r.vsErr(fmt.Sprintf("%s[%d].headers", field, j), nil,
				"cohort route %q adds %d header matches to the managed route's; want one", t.Name, len(extra))
		}
		for name, sm := range extra {
			m, ok := toMatch(name, sm)
			if !ok {
				return traffic.Cohort{}, r.vsErr(fmt.Sprintf("%s[%d].headers.%s", field, j, name), nil, "is not an exact, prefix or regex match")
			}
			ms = append(ms, m)
		}
	}
	c, err := traffic.NewCohort(ms...)
	if err != nil {
		return traffic.Cohort{}, r.vsErr(field, nil, "%v", err)
	}
	return c, nil
}

func toMatch(name string, sm *networkingv1alpha3.StringMatch) (traffic.Match, bool) {
	switch v := sm.GetMatchType().(type) {
	case *networkingv1alpha3.StringMatch_Exact:
		return traffic.Match{Header: name, Value: v.Exact}, true
	case *networkingv1alpha3.StringMatch_Prefix:
		return traffic.Match{Header: name, Kind: traffic.Prefix, Value: v.Prefix}, true
	case *networkingv1alpha3.StringMatch_Regex:
		if c, val, ok := traffic.CookieFromRegex(v.Regex); ok && name == cookieHeader {
			return traffic.Match{Cookie: c, Value: val}, true
		}
		return traffic.Match{Header: name, Kind: traffic.Regex, Value: v.Regex}, true
	}
	return traffic.Match{}, false
}

func fromMatch(m traffic.Match) (string, *networkingv1alpha3.StringMatch) {
	if m.Cookie != "" {
		return cookieHeader, &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Regex{Regex: traffic.CookieRegex(m.Cookie, m.Value)}}
	}
	switch m.EffectiveKind() {
	case traffic.Prefix:
		return m.Header, &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Prefix{Prefix: m.Value}}
	case traffic.Regex:
		return m.Header, &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Regex{Regex: m.Value}}
	}
	return m.Header, &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Exact{Exact: m.Value}}
}

// setCookieKey is the key under which the router adds the affinity
// cookie to the canary destination's response headers.
const setCookieKey = "Set-Cookie"

// setCookieOf returns the key and value of the Set-Cookie header that d
// adds to its responses (headers.response.add), if any.
func setCookieOf(d *networkingv1alpha3.HTTPRouteDestination) (key, value string) {
	for k, v := range d.GetHeaders().GetResponse().GetAdd() {
		if strings.EqualFold(k, setCookieKey) {
			return k, v
		}
	}
	return "", ""
}

// parseAffinity recovers the affinity from the session route (its cookie
// match) and the Set-Cookie header of the managed route's canary
// destination (its Max-Age).
func (r *Driver) parseAffinity(vs *networkingv1.VirtualService, l layout) (traffic.Affinity, error) {
	t := vs.Spec.Http[l.session]
	field := fmt.Sprintf("spec.http[%d].match[0].headers", l.session)
	if len(t.Match) == 0 || t.Match[0] == nil {
		return traffic.Affinity{}, r.vsErr(field, nil, "session route %q has no cookie match", t.Name)
	}
	extra := added(matchBlocks(vs.Spec.Http[l.route])[0], t.Match[0])
	m, ok := toMatch(cookieHeader, extra[cookieHeader])
	if len(extra) != 1 || extra[cookieHeader] == nil || !ok || m.Cookie == "" {
		return traffic.Affinity{}, r.vsErr(field, nil, "session route %q does not match one cookie", t.Name)
	}
	a := traffic.Affinity{Cookie: m.Cookie, Value: m.Value}
	dfield := fmt.Sprintf("spec.http[%d].route", l.route)
	if l.canary < 0 {
		return traffic.Affinity{}, r.vsErr(dfield, nil, "has no canary destination to set the session cookie %q", a.Cookie)
	}
	dfield = fmt.Sprintf("%s[%d].headers.response.add", dfield, l.canary)
	_, sc := setCookieOf(vs.Spec.Http[l.route].Route[l.canary])
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
		return traffic.Affinity{}, r.vsErr(dfield, nil, "Set-Cookie %q is not the session cookie %s=%s with a Max-Age", sc, a.Cookie, a.Value)
	}
	return a, nil
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
	if l.canary < 0 && (s.Canary > 0 || !s.Affinity.IsZero()) {
		// Session affinity needs the canary destination listed (at weight
		// 0 if need be) to carry its Set-Cookie header.
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

	// Session affinity, Flagger's shape for Istio: the canary destination
	// of the weighted route adds Set-Cookie to its responses
	// (headers.response.add), and the session route below sends requests
	// carrying the cookie to the canary.
	wantCookie := ""
	if !s.Affinity.IsZero() {
		wantCookie = s.Affinity.SetCookie()
	}
	if l.canary >= 0 {
		key, cur := setCookieOf(h.Route[l.canary])
		switch {
		case wantCookie != "" && key != "" && cur != wantCookie && l.session < 0:
			return nil, nil, r.vsErr(fmt.Sprintf("%s.route[%d].headers.response.add", field, l.canary), nil,
				"already adds a Set-Cookie header (%q); the router will not replace it with its session cookie", cur)
		case wantCookie != "" && cur != wantCookie:
			e.setCookie(i, l.canary, key, wantCookie)
		case wantCookie == "" && key != "" && l.session >= 0:
			e.dropCookie(i, l.canary, key)
		}
	}

	// The router's own routes sit immediately before the managed route in
	// spec.http, in the order a request is matched: the test route, the
	// cohort route, the session route. Each is a copy of the managed route
	// that matches only its requests (the managed route's match blocks
	// combined with its header or cookie matches) and sends them to the
	// canary. Istio takes the first route that matches, so the routes
	// before the managed one keep their traffic whatever the requests
	// carry.
	type aux struct {
		name  string
		route *networkingv1alpha3.HTTPRoute
	}
	var want []aux
	if s.HasTestRoute() {
		exact := &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Exact{Exact: s.TestRoute.Value}}
		t, err := r.auxRoute(e.route(i), field, r.cfg.testRoute(), wantCookie,
			[]map[string]*networkingv1alpha3.StringMatch{{s.TestRoute.Name: exact}}, "pick another test header")
		if err != nil {
			return nil, nil, err
		}
		want = append(want, aux{r.cfg.testRoute(), t})
	}
	if !s.Cohort.IsZero() {
		var blocks []map[string]*networkingv1alpha3.StringMatch
		for _, m := range s.Cohort.Matches() {
			name, sm := fromMatch(m)
			blocks = append(blocks, map[string]*networkingv1alpha3.StringMatch{name: sm})
		}
		t, err := r.auxRoute(e.route(i), field, r.cfg.cohortRoute(), wantCookie, blocks, "the cohort cannot match it too")
		if err != nil {
			return nil, nil, err
		}
		want = append(want, aux{r.cfg.cohortRoute(), t})
	}
	if !s.Affinity.IsZero() {
		_, sm := fromMatch(traffic.Match{Cookie: s.Affinity.Cookie, Value: s.Affinity.Value})
		t, err := r.auxRoute(e.route(i), field, r.cfg.sessionRoute(), wantCookie,
			[]map[string]*networkingv1alpha3.StringMatch{{cookieHeader: sm}}, "session affinity matches the cookie header")
		if err != nil {
			return nil, nil, err
		}
		want = append(want, aux{r.cfg.sessionRoute(), t})
	}
	wanted := map[string]bool{}
	for _, a := range want {
		wanted[a.name] = true
	}
	// Drop the routes no longer wanted.
	for _, n := range []string{r.cfg.testRoute(), r.cfg.cohortRoute(), r.cfg.sessionRoute()} {
		if k := e.find(n); k >= 0 && !wanted[n] {
			e.removeRoute(k)
			if k < i {
				i--
			}
		}
	}
	// Those kept must sit right before the managed route, in order;
	// elsewhere (first, as older versions placed the test route) they are
	// taken out and put back in place.
	var kept []string
	for _, a := range want {
		if e.find(a.name) >= 0 {
			kept = append(kept, a.name)
		}
	}
	for k, n := range kept {
		if e.find(n) != i-len(kept)+k {
			for _, n := range kept {
				k := e.find(n)
				e.removeRoute(k)
				if k < i {
					i--
				}
			}
			kept = nil
			break
		}
	}
	pos := i - len(kept)
	for _, a := range want {
		if pos < i && e.vs.Spec.Http[pos].Name == a.name {
			if !proto.Equal(e.vs.Spec.Http[pos], a.route) {
				e.replaceRoute(pos, a.route)
			}
		} else {
			e.insertRoute(pos, a.route)
			i++
		}
		pos++
	}
	return e.vs, e.ops, nil
}

// find returns the index in spec.http of the route named name, or -1.
func (e *editor) find(name string) int {
	for k, h := range e.vs.Spec.Http {
		if h.Name == name {
			return k
		}
	}
	return -1
}

// auxRoute returns a route of the router's own: a copy of the managed
// route h named name, sending to the canary alone (no mirror, and without
// the session cookie, which only the weighted route sets), whose match
// blocks are each of h's blocks combined with each of blocks in turn (so
// Istio, which ORs the blocks, takes a request h takes that satisfies any
// of blocks).
func (r *Driver) auxRoute(h *networkingv1alpha3.HTTPRoute, field, name, cookie string, blocks []map[string]*networkingv1alpha3.StringMatch, hint string) (*networkingv1alpha3.HTTPRoute, error) {
	t := proto.Clone(h).(*networkingv1alpha3.HTTPRoute)
	t.Name = name
	canaryDest := &networkingv1alpha3.HTTPRouteDestination{Destination: r.dest(r.cfg.Canary)}
	for _, d := range h.Route {
		if r.is(d.Destination, r.cfg.Canary) {
			canaryDest = proto.Clone(d).(*networkingv1alpha3.HTTPRouteDestination)
			canaryDest.Weight = 0
			if key, v := setCookieOf(canaryDest); key != "" && v == cookie {
				stripCookie(canaryDest, key)
			}
		}
	}
	t.Route = []*networkingv1alpha3.HTTPRouteDestination{canaryDest}
	t.Mirror, t.MirrorPercentage, t.MirrorPercent, t.Mirrors = nil, nil, nil, nil
	base := matchBlocks(h)
	t.Match = nil
	for k, b := range base {
		for _, extra := range blocks {
			m := &networkingv1alpha3.HTTPMatchRequest{}
			if b != nil {
				m = proto.Clone(b).(*networkingv1alpha3.HTTPMatchRequest)
			}
			if m.Headers == nil {
				m.Headers = map[string]*networkingv1alpha3.StringMatch{}
			}
			for hn, sm := range extra {
				if _, ok := m.Headers[hn]; ok {
					return nil, r.vsErr(fmt.Sprintf("%s.match[%d].headers", field, k), nil, "already matches header %q; %s", hn, hint)
				}
				m.Headers[hn] = proto.Clone(sm).(*networkingv1alpha3.StringMatch)
			}
			t.Match = append(t.Match, m)
		}
	}
	return t, nil
}

// stripCookie removes the response header key from d's additions, and the
// header operations left empty by it.
func stripCookie(d *networkingv1alpha3.HTTPRouteDestination, key string) {
	ho := d.Headers.Response
	delete(ho.Add, key)
	switch {
	case len(ho.Add) > 0:
	case len(ho.Set) > 0 || len(ho.Remove) > 0:
		ho.Add = nil
	case d.Headers.Request != nil:
		d.Headers.Response = nil
	default:
		d.Headers = nil
	}
}

// setCookie makes destination j of route i add Set-Cookie: v to its
// responses, under key (or "Set-Cookie" when empty), creating the header
// operations it needs.
func (e *editor) setCookie(i, j int, key, v string) {
	d := e.route(i).Route[j]
	path := fmt.Sprintf("/spec/http/%d/route/%d/headers", i, j)
	if key == "" {
		key = setCookieKey
	}
	switch {
	case d.Headers == nil:
		d.Headers = &networkingv1alpha3.Headers{Response: &networkingv1alpha3.Headers_HeaderOperations{Add: map[string]string{key: v}}}
		e.ops = append(e.ops, patchOp{"add", path, map[string]any{"response": map[string]any{"add": map[string]string{key: v}}}})
	case d.Headers.Response == nil:
		d.Headers.Response = &networkingv1alpha3.Headers_HeaderOperations{Add: map[string]string{key: v}}
		e.ops = append(e.ops, patchOp{"add", path + "/response", map[string]any{"add": map[string]string{key: v}}})
	case d.Headers.Response.Add == nil:
		d.Headers.Response.Add = map[string]string{key: v}
		e.ops = append(e.ops, patchOp{"add", path + "/response/add", map[string]string{key: v}})
	default:
		d.Headers.Response.Add[key] = v
		e.ops = append(e.ops, patchOp{"add", path + "/response/add/" + pointerToken(key), v})
	}
}

// dropCookie removes what setCookie added: the key, and the header
// operations it leaves empty.
func (e *editor) dropCookie(i, j int, key string) {
	d := e.route(i).Route[j]
	path := fmt.Sprintf("/spec/http/%d/route/%d/headers", i, j)
	ho := d.Headers.Response
	switch {
	case len(ho.Add) > 1:
		path += "/response/add/" + pointerToken(key)
	case len(ho.Set) > 0 || len(ho.Remove) > 0:
		path += "/response/add"
	case d.Headers.Request != nil:
		path += "/response"
	}
	stripCookie(d, key)
	e.ops = append(e.ops, patchOp{Op: "remove", Path: path})
}

// pointerToken escapes a map key for a JSON Pointer (RFC 6901).
func pointerToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}
