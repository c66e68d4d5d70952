// Package kuberoute is what the adapters over the Kubernetes API share
// besides the portable traffic.Router: the classification of the API
// server's errors into canary error codes (Code, Wrap), used by the
// traffic drivers of providers/istio, providers/gatewayapi and
// providers/appmesh (their ErrorCode method) and by providers/kubernetes.
//
// The read-modify-write loop, conflict retries with back-off, the no-op
// skip, the one-write rollback and the read-back verification that this
// package used to hold are now done once, for every router, by
// traffic.Router.
package kuberoute
