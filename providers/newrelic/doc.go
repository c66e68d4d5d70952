// Package newrelic is a metrics.Provider for New Relic: it runs NRQL through
// NerdGraph with the official client, github.com/newrelic/newrelic-client-go/v2
// (package pkg/nrdb), as
//
//	actor { account(id: $accountId) { nrql(query: $query) { results … } } }
//
// The Provider is a metrics.Source over this package's driver, so
// validation, the rate-limit budget, no data and several rows are handled
// as for every other back end.
//
// The adapter owns the time range: it appends "SINCE <start> UNTIL <end>"
// (epoch milliseconds) from Query.End and Query.Window to the query text,
// and refuses a text that sets its own (SINCE, UNTIL, COMPARE WITH,
// TIMESERIES) or holds a comment (--, //, /*, which could swallow the
// appended range and leave New Relic's default hour) with a
// *canary.FieldError before any request is sent. Words inside quotes do not
// count.
//
// Range answers a range query: when each point's window is the step, with
// one query ending in "TIMESERIES <step> seconds" (each bucket a point at
// its end); otherwise with one Query per point.
//
// One result row gives the value; several are an error wrapping
// ErrMultipleRows (QueryFacets reads a FACET query as a map instead); none,
// or a null value, is metrics.ErrNoData. A row's value is its only numeric
// field, or its field named "value" (write AS 'value') when it has several;
// a field named "count" beside "value" becomes Result.Count.
//
// Units: the module reads every duration in seconds. APM's Transaction
// duration attribute is in seconds already; a query over an attribute in
// milliseconds must convert it (write average(x) / 1000 AS 'value'), since
// NRQL's answer carries no unit for the adapter to check. The package has
// no built-in latency template.
//
// Regions: RegionUS (the default) and RegionEU; Config.BaseURL replaces the
// NerdGraph URL for tests and proxies. The user key is sent as the Api-Key
// header and appears in no error or log line.
//
// Two behaviours of the client are worked around. Its QueryWithContext does
// not pass the context to the HTTP request (the retryablehttp request's
// WithContext result is dropped), so the adapter binds the context in the
// transport and returns as soon as the context ends. And its retries sleep
// without watching the context, so the adapter handles 429 answers,
// TOO_MANY_REQUESTS errors, 5xx answers and server-side timeouts before the
// client sees them: rate limits are retried (by the Source; by the
// transport itself for QueryFacets) after the wait that Retry-After or
// X-RateLimit-Reset asks for, up to Config.MaxRetries times and never for
// longer than Config.MaxWait or past the context's deadline; the others fail
// at once. A query abandoned this way may leave the client's goroutine
// running for a few seconds, but it sends nothing more.
//
// Queries are usually rendered from a metrics.Template in the NRQL dialect,
// where every label variable stands inside a single-quoted string and
// values are restricted to letters, digits, '-', '_' and '.'; Render checks
// the dialect and renders it.
package newrelic
