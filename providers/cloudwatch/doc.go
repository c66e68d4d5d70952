// Package cloudwatch is a metrics.Provider for Amazon CloudWatch, built on
// the official AWS SDK for Go v2 (service/cloudwatch, GetMetricData). It
// is its own module, so that the core packages need no AWS dependency.
// The Provider is a metrics.Source over this package's driver, so
// validation, no data, several series and error codes are handled as for
// every other back end.
//
// # Queries
//
// A query's text is a JSON array of GetMetricData MetricDataQuery objects
// with the API's field names — the shape Flagger's and Argo Rollouts'
// CloudWatch providers take:
//
//	[{"Id": "errors", "MetricStat": {"Metric": {"Namespace": "AWS/VpcLattice",
//	    "MetricName": "HTTPCode_5XX_Count",
//	    "Dimensions": [{"Name": "TargetGroup", "Value": "tg-0123"}]}, "Stat": "Sum"} },
//	 {"Id": "count", "MetricStat": {"Metric": {"Namespace": "AWS/VpcLattice",
//	    "MetricName": "TotalRequestCount",
//	    "Dimensions": [{"Name": "TargetGroup", "Value": "tg-0123"}]}, "Stat": "Sum"} },
//	 {"Id": "value", "Expression": "FILL(errors, 0) / count"}]
//
// The query with Id "value" (ValueID) is Result.Value; without one, the
// only query not marked "ReturnData": false is. A query with Id "count"
// (CountID) gives Result.Count, the number of requests the value rests on.
// The provider sets ReturnData itself (true for those two, false for the
// rest). Unknown fields, duplicate or malformed ids, and a query with both
// or neither of MetricStat and Expression are refused with a
// *canary.FieldError before any request is sent. LatticeQueries and
// AppMeshQueries build such queries as metrics.Template values for Amazon
// VPC Lattice target groups and for App Mesh's Envoy metrics.
//
// # Periods
//
// CloudWatch aggregates datapoints per period (60 s for AWS services'
// standard-resolution metrics, Config.Period). A window shorter than the
// period (or than a query's own MetricStat.Period) is refused with a
// *canary.FieldError on Query.Window: no complete period fits in it. The
// provider asks for ONE period spanning the window, aligned to end at the
// latest period boundary at or before Query.End-Config.Delay, so the
// statistic (Sum, Average, p99…) and the metric math are computed by
// CloudWatch over exactly the complete periods of the window, and a period
// still in progress is never read. A window that is not a whole number of
// periods is shortened to one. Only the datapoint stamped with the start
// of that period is read.
//
// Range answers a range query: when each point's window is the step (a
// whole number of the metric's periods), with one request at a period of
// the step, each complete period's datapoint a point at the period's end;
// otherwise with one Query per point.
//
// # No data
//
// An empty result, a missing datapoint, NaN or ±Inf, a result whose
// status is PartialData (wrapping ErrPartial too) and a missing "value"
// result are all errors wrapping metrics.ErrNoData, never zero. A status of
// InternalError or Forbidden is an error, not no data.
//
// # Credentials, retries and errors
//
// Credentials come only from the SDK: with a nil Config.AWS the provider
// loads the default chain (environment, shared config and credentials
// files, web identity for IRSA, EKS Pod Identity, container and instance
// roles). No key is a field of Config, and no credential appears in any
// error (tested by walking every error chain).
//
// Throttling (ThrottlingException, or 400 with the query code Throttling)
// and other retryable errors are retried by the SDK's standard retryer
// (exponential back-off with jitter, DefaultMaxAttempts attempts unless
// Config.AWS.Retryer says otherwise). A back-off that would end after the
// context's deadline is not slept: Query returns at once with an error
// wrapping ErrThrottled and the SDK's error. The SDK's errors stay
// reachable with errors.As (smithy.APIError,
// *types.InvalidParameterValueException…), and canary.Code classifies
// them: throttling is canary.RateLimited (matching metrics.ErrRateLimited),
// otherwise the code of the answer's HTTP status (403 canary.Unauthorized,
// matching metrics.ErrUnauthorized; 400 canary.InvalidArgument…).
//
// # Wire protocol
//
// The SDK in use (service/cloudwatch v1.76) speaks Smithy RPC v2 CBOR by
// default (since v1.53.0 of December 2025, replacing the query protocol);
// AWS JSON 1.1 can be chosen with Config.ClientOptions. The tests run the
// conformance suite against a local server in both.
package cloudwatch
