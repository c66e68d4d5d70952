// Package istio is a traffic driver over the HTTP routes of Istio
// VirtualServices (networking.istio.io/v1), through istio.io/client-go's
// typed clientset. New returns the portable *traffic.Router over it, which
// does the validation, no-op skip, conflict retries with back-off,
// verification and error wrapping every router shares; NewDriver returns
// the Driver itself, for Desired, Render and EnsureSubsets.
//
// The router manages one named route of one VirtualService (Config.Route;
// spec.http[].name). It writes the weights of the stable and canary
// destinations, a mirror to the canary with a percentage (mirror and
// mirrorPercentage), and a test route: a copy of the managed route, placed
// immediately before it, that matches only requests carrying a header
// (match.headers with an exact value) and sends them to the canary, so a
// canary at zero weight can receive test requests. Istio takes the first
// route that matches, so the routes placed before the managed one keep
// their requests, test header or not. Release removes the test route and
// the mirror.
//
// The driver declares every traffic.Features. An A/B cohort
// (traffic.Split's Cohort) is a second copy of the managed route, named
// Route+"-canary-cohort", sending to the canary, whose match blocks are
// the managed route's blocks each combined with one cohort match
// (HTTPMatchRequest.headers with exact, prefix or regex; a cookie match is
// a regex on the cookie header, traffic.CookieRegex, the form Flagger
// writes). Session affinity (its Affinity) is Flagger's shape for Istio: a
// third copy, Route+"-canary-session", matching the affinity cookie on the
// cookie header and sending to the canary, and on the managed route's
// canary destination headers.response.add Set-Cookie:
// <Affinity.SetCookie()>, so that the responses the canary serves by
// weight give the session its cookie (the canary destination is listed at
// weight 0 when need be). The router's routes sit immediately before the
// managed route in the order requests are matched: test, cohort, session.
// Header names must be in lower case, as Istio matches them; a canary
// destination that already adds another Set-Cookie is refused. A rollback
// (traffic.AllStable()) or Release removes all three and the cookie,
// leaving the object as it was before them. Every other route and field, including fields this client's
// types do not know, is left as it was: writes are RFC 6902 JSON Patches
// of the managed paths only, made with the field manager
// canary.FieldManager.
//
// Two layouts are supported. In subset mode Stable and Canary share a host
// and differ by DestinationRule subset (v1 and v2, keyed by a version pod
// label); the router checks that the subsets exist before its first write,
// or creates them with Config.CreateSubsets. In host mode they are two
// hosts (two Kubernetes Services) and no DestinationRule is involved. Short
// host names are expanded with the namespace and Config.ClusterDomain
// (default cluster.local), as Istio does.
//
// # Costs and consistency
//
// A weight change is one GET and one PATCH; the PATCH is pinned to the
// resourceVersion read, so an edit by another client in between makes the
// server answer 409 Conflict and the router reads again and re-applies
// its change on top of theirs after a pause (traffic.DefaultBackoff, with
// jitter), at most Config.Retries times (then the error matches
// traffic.ErrConflict). A split already in force costs the GET only.
// A rollback, SetSplit(ctx, traffic.AllStable()), is one PATCH pinned to the
// version the router saw last, with no GET unless that version is stale.
// The object the server returns from the write is parsed and compared with
// the split written (traffic.ErrVerify).
//
// # Errors
//
// A bad Config or Split is a *canary.FieldError and nothing is sent. A
// VirtualService the router cannot manage (several unnamed routes and no
// Config.Route, a third destination in the route, weights that do not sum
// to 100…) is an *ObjectError naming the object and field, and nothing is
// written. A missing VirtualService or route wraps traffic.ErrNotFound; a
// missing subset wraps ErrSubsetMissing. The API server's
// *k8s.io/apimachinery/pkg/api/errors.StatusError stays reachable with
// errors.As, so the server's own message is never lost.
//
// # GitOps
//
// When Argo CD or Flux owns the VirtualService, Driver.Desired (read, no
// write) and Driver.Render (no I/O at all) return the object as SetSplit
// would write it, to be committed to the repository instead. When the
// router writes the object itself, list canary.FieldManager in Argo CD's
// ignoreDifferences.managedFieldsManagers.
package istio
