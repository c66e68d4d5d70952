// Package fake holds real in-memory implementations of the module's
// interfaces — traffic.Router, metrics.Provider, workload.Scaler,
// workload.Readiness and workload.Gate — for unit-testing rollout policies
// without a mesh, a metrics back end or a cluster.
//
// They are not mocks: the Router works through a *traffic.Router over an in-memory
// driver that passes the same conformance suite (traffic/traffictest) as
// the mesh adapters' drivers, and the
// Provider answers scripted series and passes metrics/metricstest. Like
// client-go's fakes, each records every call (Actions) and accepts injected
// errors (Fail), so a test can check what a rollout did and how it copes
// when a back end breaks.
//
// All fakes are safe for concurrent use. Their zero values are not usable;
// build them with NewRouter, NewProvider, NewScaler and NewGate.
package fake
