// Package metricstest is the conformance suite every metrics.Driver must
// pass, run through the portable *metrics.Source, in the manner of
// gocloud.dev's drivertest: an adapter's test builds a Fixture against its
// back end (a real server or a local one that answers as the documented
// API does) and calls Run, or calls the named test functions one by one.
//
//	func TestConformance(t *testing.T) {
//		metricstest.Run(t, func(ctx context.Context, t *testing.T) metricstest.Fixture {
//			return metricstest.Fixture{
//				Source: metrics.NewSource(newDriver(t), metrics.Config{Name: "mine"}),
//				Value:  valueQuery, Want: 0.015, Tolerance: 1e-9,
//				Empty:  emptyQuery,
//				Range:  rangeQuery,
//			}
//		})
//	}
//
// The suite pins the contract of a driver under metrics.Source: a known
// value comes back within tolerance and is never NaN or ±Inf
// (TestKnownValue); an empty result and a NaN result are metrics.ErrNoData,
// never zero (TestEmptyIsNoData, TestNaNIsNoData); several series are
// metrics.ErrSeveralSeries (TestSeveralSeries); invalid queries are refused
// with a *canary.FieldError (TestInvalidQueryRefused); a cancelled context
// and a deadline are honoured (TestCancelledContext, TestDeadline); the back
// end's native error stays reachable with errors.As
// (TestNativeErrorReachable); and range queries give points within
// tolerance, in order and inside the range, no data as metrics.ErrNoData,
// and refuse invalid ranges and cancelled contexts (TestRangeKnownValue,
// TestRangeEmptyIsNoData, TestRangeInvalidRefused, TestRangeCancelledContext).
//
// A metrics.Provider that is not a driver (Fixture.Provider) runs the same
// tests but the range ones.
package metricstest
