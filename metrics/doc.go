// Package metrics defines how a rollout observes the two versions: the
// Provider interface that analysers consume, the Query and Result types,
// Source, the one portable type every metric back end is used through,
// over a small Driver each back end implements — the shape of
// gocloud.dev's blob.Bucket over driver.Bucket, and of traffic.Router over
// traffic.Driver — and Template, which renders queries from validated
// variables so that a hostile label value cannot change what a query
// means.
//
// No data is not zero: a Provider returns ErrNoData for an empty result, a
// NaN (0/0 from a rate over no requests) or an infinity, and never returns
// NaN or ±Inf as a Value.
//
// # Source and Driver
//
// A [Source] holds, once for every back end, what a metric provider must do
// besides talking to its back end: it validates a query before any I/O
// (and refuses a window shorter than the back end's resolution), refuses a
// done context, retries an answer refused for the back end's rate limit
// within a budget ([Config.MaxRetries], [Config.MaxWait], the context's
// deadline, and the wait the back end asked for through [RetryDelayer]),
// reads an empty answer, NaN and ±Inf as [ErrNoData], refuses several
// series with [ErrSeveralSeries] naming them, gives every error a
// [canary.Code] (matching [ErrUnauthorized] and [ErrRateLimited] where they
// apply) while the back end's native error stays reachable with
// errors.As, and checks a template's dialect ([Source.Render]). It
// answers instant queries ([Source.Query], which makes it a Provider) and
// range queries ([Source.Range]) over every driver.
//
// A [Driver] does only the I/O and the translation, in two methods:
// Instant sends one query and returns the [Series] the back end answered
// (none, one or several, values as given, NaN included), and ErrorCode
// classifies its back end's errors. A driver whose back end evaluates a
// query at many instants in one request also implements [Ranger]; for one
// that does not, the Source sends one instant query per point. Writing a
// driver is therefore writing the request and the decoding: see
// Example_writeADriver, and run metrics/metricstest against it.
//
// Every driver in this repository (providers/prometheus, providers/datadog,
// providers/newrelic, providers/cloudwatch, providers/fake's Provider,
// providers/httpsplit's measurements) passes the conformance suite in
// metrics/metricstest through a Source; CloudWatch's local test server
// skips the two cases it cannot produce (several series, and NaN, which
// JSON cannot carry).
package metrics
