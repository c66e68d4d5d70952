// Package prometheus is a metrics.Provider that asks a Prometheus server
// (or anything that answers Prometheus's HTTP query API: Thanos, Mimir,
// VictoriaMetrics…) through client_golang's api/prometheus/v1 client. It
// is a driver of the portable metrics.Source (Provider.Source): the Source
// validates queries, reads no data, NaN and ±Inf as metrics.ErrNoData,
// refuses several series and gives every error its canary.Code; the
// driver sends the requests and decodes the answers.
//
// # Queries
//
// Query.Text is PromQL, normally rendered from one of the built-in
// templates (Istio and Envoy/App Mesh; see IstioQueries and EnvoyQueries),
// whose {{window}} is the rate window. Query.End is the evaluation instant.
// With Config.Step zero the provider sends one instant query at End; with
// Config.Step set it sends one range query over (End-Window, End] whose
// points become Result.Samples and whose point at End is Result.Value.
//
// Provider.Range sends one range query (/api/v1/query_range) from
// RangeQuery.Start to End at RangeQuery.Step and returns the points, with
// the same credentials, TLS and timeout as Query; canaryctl's backtest
// reads recorded data through it.
//
// The answer must be one number: a scalar, or one series (a vector for an
// instant query, a matrix for a range query; a range vector answered to an
// instant query is ErrRangeVector). Several series are an error
// (ErrSeveralSeries) naming their labels — the provider never keeps one
// of them at random; aggregate in the query (sum, max…) instead. An empty
// result, NaN and ±Inf are metrics.ErrNoData. Errors from the server keep
// client_golang's *v1.Error reachable with errors.As. A 429 answer is
// returned at once, as metrics.ErrRateLimited: the provider does not retry
// it (its Source has no rate-limit retries).
//
// Result.Count is 0 unless the provider is wrapped with WithCount, which
// runs a second query (for example Queries.RequestCount) at the same instant.
//
// # Credentials
//
// The bearer token, the basic-auth password (and its base64 form) and the
// values of Config.Headers (those of 6 characters or more; shorter ones
// would only hide ordinary words) never appear in an error's text, in a
// *v1.Error's Msg and Detail (where a server may echo a request header
// back), or in what fmt and log/slog print for Config and BasicAuth: they
// are replaced by "[REDACTED]". An Address carrying user:password@ is
// refused without being shown.
//
// # Tests
//
// The driver passes the metrics/metricstest conformance suite, instant and
// range queries, against a local server answering as Prometheus's API does
// and, in the integration test, against a real Prometheus started by
// internal/promtest with the built-in templates (skipped under -short; run
// bash scripts/test.sh).
package prometheus
