// Package kubernetes adapts Kubernetes Deployments to the rollout engine:
// Deployments is a workload.Scaler and a workload.Readiness over the stable
// and the canary Deployment of one namespace, through client-go.
//
// Scaling writes spec.replicas with a JSON merge patch that carries the
// resourceVersion it read, so a concurrent change to the Deployment makes
// the server answer 409 Conflict instead of being overwritten; the patch is
// then retried, a bounded number of times, from a fresh read. Scaling to the
// current count writes nothing.
//
// Readiness follows what kubectl rollout status checks: the controller has
// observed the latest generation, the progress deadline has not been
// exceeded, every replica runs the latest template, no old replica is left
// and every updated replica is available.
//
// LeaseLock is a leader-election lock on a coordination.k8s.io Lease for
// client-go's leaderelection, as client-go's resourcelock.LeaseLock but
// naming the field manager "meshcanary" on every write and refusing to
// release a Lease another replica holds (ErrHeldByAnother).
//
// Every name is checked (DNS-1123) before any request is sent; a bad one is
// reported as a *canary.FieldError naming the field. Errors from the API
// server are wrapped, so *apierrors.StatusError stays reachable with
// errors.As, and a missing Deployment matches ErrNotFound.
package kubernetes
