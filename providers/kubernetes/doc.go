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
// Three traffic routers, each a traffic.Driver behind the *traffic.Router
// its constructor returns, passing the traffic/traffictest suite on a real
// kube-apiserver:
//
//   - NewReplicaRatio: a canary with no traffic router. One Service selects
//     the pods of a stable and a canary Deployment, and the canary weight
//     is realised as the share of ready canary pods (as Argo Rollouts'
//     basic canary does), rounded to whole pods (RoundWeight; Status says
//     what a weight became). A write scales both Deployments and waits
//     until their ready counts match; a rollback is the canary to zero and
//     the stable to the total, one patch each, verified the same way.
//   - NewTrafficSplit: an SMI TrafficSplit (split.smi-spec.io v1alpha2 to
//     v1alpha4), read by Open Service Mesh and Linkerd's SMI extension.
//   - NewALB: the AWS Load Balancer Controller's weighted forward action on
//     an Ingress (the annotation alb.ingress.kubernetes.io/actions.<name>),
//     its JSON checked against the controller's documented schema.
//
// None of the three can mirror requests or route by header; such splits are
// refused before any request. Each writes with the field manager
// "meshcanary", pinned to the resourceVersion it read, and only its own
// fields (spec.replicas and one annotation, two weights, one annotation).
//
// Every name is checked (DNS-1123) before any request is sent; a bad one is
// reported as a *canary.FieldError naming the field. Errors from the API
// server are wrapped, so *apierrors.StatusError stays reachable with
// errors.As, and a missing Deployment matches ErrNotFound.
package kubernetes
