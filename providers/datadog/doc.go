// Package datadog is a metrics.Provider for Datadog, built on the official
// client, github.com/DataDog/datadog-api-client-go/v2: a metrics.Source
// over this package's driver, so validation, the rate-limit budget, no
// data and several series are handled as for every other back end.
//
// Query sends the query text to the v2 scalar API (POST /api/v2/query/scalar)
// with from and to set to exactly the window asked for, [End-Window, End] in
// epoch milliseconds — never a wider window — and reads the one number it
// answers. With Config.Samples it also asks the v2 timeseries API
// (POST /api/v2/query/timeseries) for the same window at Config.Resolution
// and returns the complete points as Result.Samples. With
// Config.Value = LatestPoint the value is the latest complete point of that
// timeseries instead: a point whose bucket starts before the window or ends
// after it is partial and is never read, so neither the oldest point nor a
// half-filled newest point can stand for the window.
//
// Every duration is in seconds, the module's unit: a value Datadog reports
// in a time unit (its answers carry each series' unit, such as
// millisecond) is converted to seconds, so a latency bound means the same whatever unit a
// metric was submitted in. Values in other units, or in none, are read as
// they are.
//
// Range answers a range query: when each point's window is the step, with
// one timeseries request at an interval of the step (each complete bucket
// a point at its end); otherwise with one Query per point.
//
// JSON nulls are no data, not zero: a null value, an empty answer and NaN
// all return an error wrapping metrics.ErrNoData. A query that answers
// several series (one per tag group) is an error wrapping ErrMultipleSeries:
// aggregate it, for example with sum:…{…}.
//
// The API and application keys travel in the client's context
// (datadog.ContextAPIKeys) and never appear in an error or a log line; an
// error body that echoes one is redacted. A 401 or 403 answer wraps
// ErrUnauthorized. A 429 answer is retried after the wait the rate-limit
// headers ask for (X-RateLimit-Reset, else Retry-After), up to
// Config.MaxRetries times and never for longer than Config.MaxWait or past
// the context's deadline; after that the error wraps ErrRateLimited.
//
// Queries are usually rendered from a metrics.Template in the Datadog
// dialect, where every label variable stands inside a {…} tag scope; Render
// checks the dialect and renders it.
package datadog
