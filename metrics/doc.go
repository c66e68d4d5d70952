// Package metrics defines how a rollout observes the two versions: the
// Provider interface that metric back ends implement, the Query and Result
// types, and Template, which renders queries from validated variables so
// that a hostile label value cannot change what a query means.
//
// No data is not zero: a Provider returns ErrNoData for an empty result, a
// NaN (0/0 from a rate over no requests) or an infinity, and never returns
// NaN or ±Inf as a Value.
//
// Every adapter in this module, and the fake in providers/fake, passes the
// conformance suite in metrics/metricstest.
package metrics
