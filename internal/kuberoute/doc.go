// Package kuberoute is the read-modify-write machinery that the
// traffic.Router adapters over a Kubernetes object share (providers/gatewayapi
// over a typed HTTPRoute, providers/appmesh over an unstructured
// VirtualRouter): one Object per managed object, generic over its Go type.
//
// An Object reads the object (Read), keeps a private deep copy of the last
// version it read or wrote (Cached), and changes it with Modify: a bounded
// read-modify-write guarded by the resourceVersion read, in which a conflict
// is retried from a fresh read, the first attempt may start from the cached
// copy instead of a read (the routers' one-PUT rollback), and the object the
// server returns is checked against the split written.
//
// Errors name the object (Object.Name) and wrap the traffic sentinels:
// traffic.ErrNotFound for a 404, traffic.ErrConflict for a 409 or for
// conflicts that outlast the retries, traffic.ErrVerify when the stored
// split differs from the one written. The server's *apierrors.StatusError
// stays reachable with errors.As.
//
// The adapters keep everything that knows the object's layout (where the
// weights are, how the split is read and applied); this package knows only
// the functions it is given. JSON Patch adapters (providers/istio) do not
// use it.
package kuberoute
