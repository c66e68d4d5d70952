// Package gatewayapi is a traffic driver over a Gateway API HTTPRoute
// (gateway.networking.k8s.io/v1), the object that Istio's ambient-mode
// waypoints, Linkerd, Envoy Gateway and Amazon VPC Lattice read. It uses
// the typed clientset of sigs.k8s.io/gateway-api. New returns the portable
// *traffic.Router over it; NewDriver returns the Driver, for Desired.
//
// The router manages one rule of the route, found by its name
// (spec.rules[].name), by its index, or as the route's only rule. In that
// rule it sets the weights of the backendRefs to the stable and the canary
// Service (as whole percentages) and, for a split with a mirror, adds a
// RequestMirror filter to the canary Service with that percentage. A split's
// test route becomes an extra rule, named Config.TestRule and placed first,
// whose matches are the managed rule's with an exact header match added, so
// it is more specific than the managed rule (Gateway API's precedence) and
// sends matching requests to the canary alone. Release removes the test rule
// and the mirror filter.
//
// An A/B cohort (traffic.Split's Cohort) becomes a rule named
// Config.CohortRule (default meshcanary-cohort) whose matches are the
// managed rule's, each combined with one cohort match as an HTTPHeaderMatch:
// Exact, or RegularExpression for a regex match and for a cookie (a regex on
// the Cookie header, traffic.CookieRegex). Gateway API has no prefix header
// match, so the driver's Features refuse a prefix match before any request.
// Session affinity (its Affinity) is Flagger's shape for Gateway API: a rule
// named Config.SessionRule (default meshcanary-session) matching the
// affinity cookie and sending to the canary, and a ResponseHeaderModifier
// filter on the managed rule's canary backendRef adding Set-Cookie, so the
// responses the canary serves by weight give the session its cookie (a
// canary backendRef with a ResponseHeaderModifier of its own is refused: the
// CRD allows one). The router's rules come first in the list, in the order
// requests are matched: test, cohort, session; each adds one header match
// to the managed rule's matches, so each is also more specific than it. The
// route's own limits are checked before writing (MaxRules rules,
// MaxMatches matches over all rules, MaxHeaderMatches per match). A
// rollback (traffic.AllStable()) or Release removes the router's rules and
// filter, leaving the route as it was. Linkerd and VPC Lattice declare less:
// see Driver.Features. Every other rule and field is left as it was, so
// Helm, Argo CD or Flux can own the rest of the route.
//
// Each change is one RFC 6902 JSON Patch of the managed paths only (the two
// weights, the router's mirror filter, its test rule), pinned to the
// resourceVersion read and made with the field manager canary.FieldManager,
// so fields of Gateway API versions newer than this module's Go types
// survive it. A conflict is retried from a fresh read after a pause, at
// most Config.Retries times, and the split the server stored is checked
// against the split written (traffic.ErrVerify). A weight change costs one
// GET and one PATCH; a split already in force the GET only; a rollback to
// all-stable one PATCH, on the route as the router last saw it (a conflict
// falls back to a fresh read). Driver.Desired returns the route as it would
// be written, without writing, for GitOps pipelines.
//
// Config.Implementation names the implementation that reads the route, and
// the router refuses up front, naming the field, what it does not support:
// for Linkerd (2.14+, an HTTPRoute whose parentRefs are Services, the GAMMA
// binding) a parent that is not a Service, a mirror (Linkerd's HTTPRoute
// has no RequestMirror filter) and session affinity; for Amazon VPC Lattice (the AWS Gateway API
// Controller, where AWS points App Mesh users since App Mesh ended on 30
// September 2026) a parent that is not a Gateway, a query-parameter match,
// more than five header matches in a rule (the test rule adds one), a
// mirror, regex and cookie cohort matches and session affinity. The empty Implementation checks only what Gateway API requires.
//
// Errors: a bad Config or a route that cannot carry the split (no such rule,
// a missing backendRef, a third backend taking traffic, several unnamed
// rules, a test header the managed rule already matches in any case, a
// route that already has MaxRules rules and so no room for the test rule)
// is a *canary.FieldError naming the object and the field, returned before
// anything is written; a missing route matches traffic.ErrNotFound and
// exhausted conflicts traffic.ErrConflict. The server's
// *apierrors.StatusError stays reachable with errors.As, with its message
// (for example a CRD validation failure) in the error text, and
// canary.Code classifies it.
package gatewayapi
