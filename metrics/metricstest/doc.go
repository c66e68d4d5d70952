// Package metricstest is the conformance suite every metrics.Provider must
// pass, in the manner of gocloud.dev's drivertest. An adapter's test builds
// a Fixture against its back end (a real server or a local one that answers
// as the documented API does) and calls Run.
//
// The suite pins the contract of metrics.Provider: a known value comes back
// within tolerance and is never NaN or ±Inf; an empty result and a NaN
// result are metrics.ErrNoData, never zero; invalid queries are refused with
// a *canary.FieldError; a cancelled context and a deadline are honoured; and
// the back end's native error stays reachable with errors.As.
package metricstest
