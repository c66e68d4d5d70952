// Package canary is the root of an embeddable SDK for canary rollouts with
// automatic rollback in service meshes. It holds only what every other
// package shares: the FieldError type and the ErrInvalid sentinel that every
// validator in the module returns, the error codes that classify every error
// the module returns (Code), and the field manager name of every Kubernetes
// write (FieldManager).
//
// The work is done in the sub-packages:
//
//   - rollback: the Rollout state machine the caller drives with Step(ctx, now)
//   - traffic: the portable Router over mesh drivers, and the Split type
//   - metrics: the Provider interface, query templates and ErrNoData
//   - analysis: the Analyzer interface and the analyzers
//   - providers/...: adapters (fake, httpsplit, istio, appmesh, gatewayapi,
//     kubernetes, prometheus, datadog, newrelic)
//
// # Errors
//
// Code(err) tells what kind of failure an error is, the same way for every
// adapter, as gocloud.dev's gcerrors.Code does: InvalidArgument, NotFound,
// Conflict, Unauthorized, RateLimited, Unavailable, DeadlineExceeded,
// FailedPrecondition, Canceled, or Unknown. Each adapter wraps its back
// end's native error once, with its code, and errors.As still reaches the
// native error (a Kubernetes *StatusError, a Datadog or New Relic *Error,
// Prometheus's *v1.Error). The sentinels (traffic.ErrNotFound,
// metrics.ErrNoData, store.ErrConflict…) keep working with errors.Is and
// have codes too.
//
//	switch canary.Code(err) {
//	case canary.Conflict, canary.Unavailable, canary.RateLimited:
//		// try again at the next step
//	case canary.Unauthorized:
//		// page someone: the credentials are wrong
//	}
package canary

// FieldManager is the field manager name of every write this module makes
// to the Kubernetes API (metadata.managedFields[].manager), so that Argo CD
// users can list it in ignoreDifferences.managedFieldsManagers and the
// router's changes do not show as drift.
const FieldManager = "meshcanary"
