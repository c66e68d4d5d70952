// Package appmesh is a traffic driver over an AWS App Mesh VirtualRouter
// (appmesh.k8s.aws/v1beta2, the App Mesh controller for Kubernetes),
// through client-go's dynamic client, so that it needs no App Mesh Go
// module. New returns the portable *traffic.Router over it; NewDriver
// returns the Driver, for Desired.
//
// AWS ended support for App Mesh on 30 September 2026. This adapter is kept
// for rollouts still running on it, isolated from the rest of the module;
// new work should use providers/gatewayapi, whose HTTPRoute router drives
// Amazon VPC Lattice, the AWS way out of App Mesh.
//
// The router manages one route of the VirtualRouter, found by name
// (spec.routes[].name), of any kind: httpRoute, http2Route, grpcRoute or
// tcpRoute. It sets the weights of the two weightedTargets whose
// virtualNodeRef names the stable and the canary VirtualNode, and touches
// nothing else. A split's test route becomes an extra route, named
// Config.TestRoute, placed first with priority 0 (App Mesh's highest),
// whose match is the managed route's plus an exact header match (gRPC
// metadata for grpcRoute) and whose only target is the canary; tcp routes
// cannot match headers, so a test route on one is refused. App Mesh has no
// request mirroring: a split with a mirror is refused with a
// *canary.FieldError on Split.Mirror.
//
// An A/B cohort (traffic.Split's Cohort) becomes one route per match (an
// App Mesh route has a single match, so the cohort's OR is several
// routes), named Config.CohortRoute-0, -1… (default meshcanary-cohort-0…),
// placed first after the test route with priority 0, whose match is the
// managed route's plus the cohort's header match (exact, prefix or regex;
// gRPC metadata for a grpcRoute) and whose only target is the canary. A
// cookie match is a regex on the cookie header (traffic.CookieRegex), on
// http and http2 routes. App Mesh's limits are checked before any write:
// header names of at most 50 characters, values of at most 255 (a cookie
// match's expression included), at most 10 header matches per route. App
// Mesh cannot add a header to a response, so it has no session affinity:
// the driver's Features leave it out and the Router refuses a split with
// an Affinity before any request. A rollback (traffic.AllStable()) or
// Release removes the cohort routes with the test route.
//
// Writes are PUTs of the object as read, unstructured (so fields this
// module does not know are kept), guarded by the resourceVersion read, made
// with the field manager canary.FieldManager, retried after a pause from a
// fresh read on conflict (Config.Retries), and checked against the object
// the server stores (traffic.ErrVerify). A weight change costs one GET and
// one PUT, a rollback to all-stable one PUT. Driver.Desired returns the
// object as it would be written, without writing. Errors follow
// providers/gatewayapi: *canary.FieldError naming the object and field for
// what the VirtualRouter cannot carry, traffic.ErrNotFound and
// traffic.ErrConflict wrapping the server's *apierrors.StatusError.
package appmesh
