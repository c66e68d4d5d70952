// Package workload holds the hooks a rollout uses to reach the workloads
// themselves, as opposed to the traffic between them: Scaler (replica
// counts), Readiness (are the replicas ready) and Gate (may the rollout
// go ahead). It is a leaf package, importing only the standard library and
// the module's root, so that an adapter (providers/kubernetes,
// providers/fake) implements these interfaces without importing the
// rollout engine.
//
// Every implementation should pass the conformance suites in
// workload/workloadtest.
package workload
