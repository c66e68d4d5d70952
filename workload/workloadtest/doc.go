// Package workloadtest is the conformance suite for the hooks of package
// workload, in the manner of gocloud.dev's drivertest and of
// traffic/traffictest: an adapter's test builds a harness and calls
// RunScaler, RunReadiness or RunGate. Each property is its own subtest,
// so a failure names the broken promise.
package workloadtest
