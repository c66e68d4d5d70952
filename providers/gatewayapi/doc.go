// Package gatewayapi is a traffic.Router over a Gateway API HTTPRoute
// (gateway.networking.k8s.io/v1), the object that Istio's ambient-mode
// waypoints, Linkerd, Envoy Gateway and Amazon VPC Lattice read. It uses
// the typed clientset of sigs.k8s.io/gateway-api.
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
// and the mirror filter. Every other rule and field is left as it was, so
// Helm, Argo CD or Flux can own the rest of the route.
//
// Each change is a read-modify-write guarded by the resourceVersion read: a
// conflict is retried from a fresh read a bounded number of times
// (Config.Retries), and the object the server stores is checked against
// the split written (traffic.ErrVerify). A weight change costs one GET and
// one PUT; a rollback to all-stable costs one PUT, written from the route as
// the router last saw it (a conflict falls back to a fresh read). Desired
// returns the route as it would be written, without writing, for GitOps
// pipelines.
//
// Errors: a bad Config or a route that cannot carry the split (no such rule,
// a missing backendRef, a third backend taking traffic, several unnamed
// rules) is a *canary.FieldError naming the object and the field, returned
// before anything is written; a missing route wraps traffic.ErrNotFound and
// exhausted conflicts wrap traffic.ErrConflict. The server's
// *apierrors.StatusError stays reachable with errors.As, with its message
// (for example a CRD validation failure) in the error text.
package gatewayapi
