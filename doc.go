// Package canary is the root of an embeddable SDK for canary rollouts with
// automatic rollback in service meshes. It holds only what every other
// package shares: the FieldError type and the ErrInvalid sentinel that every
// validator in the module returns.
//
// The work is done in the sub-packages:
//
//   - rollback: the Rollout state machine the caller drives with Step(ctx, now)
//   - traffic: the Router interface and the Split type
//   - metrics: the Provider interface, query templates and ErrNoData
//   - analysis: the Analyzer interface and the analyzers
//   - providers/...: adapters (fake, httpsplit, istio, appmesh, gatewayapi,
//     kubernetes, prometheus, datadog, newrelic)
package canary
