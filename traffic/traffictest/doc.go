// Package traffictest is the conformance suite every traffic.Driver must
// pass, run through the portable *traffic.Router, in the manner of
// gocloud.dev's drivertest: an adapter's test builds a Harness and calls
// Run, or calls the named test functions one by one.
//
//	func TestConformance(t *testing.T) {
//		traffictest.Run(t, traffictest.Harness{
//			New: func(ctx context.Context, t *testing.T) *traffic.Router {
//				return traffic.NewRouter(newDriver(t), traffic.Config{})
//			},
//		})
//	}
//
// The suite pins the contract of traffic.Router: a fresh route reads back as
// all-stable (TestFreshRouteIsAllStable); what is read back equals the last
// write (TestReadBackEqualsLastWrite); writes are idempotent
// (TestWritesAreIdempotent); invalid splits are refused before anything is
// written (TestInvalidSplitIsRefusedAndNothingWritten); mirrors and test
// routes are written or refused (TestMirror, TestTestRouteAndRelease);
// Release keeps the weights and drops the test route and mirror
// (TestReleaseKeepsWeights); a cancelled context is honoured
// (TestCancelledContext); a missing route gives traffic.ErrNotFound
// (TestMissingRouteIsNotFound); and the back end's native error stays
// reachable with errors.As (TestNativeErrorReachable).
//
// Each release shape has a named test: an A/B cohort by header
// (TestCohortHeaderExact, TestCohortHeaderPrefix, TestCohortHeaderRegex) or
// by cookie (TestCohortCookie), session affinity (TestAffinity), the mirror
// (TestMirror), and all of them at once (TestAllShapesTogether). A shape
// is written and read back only when the driver declares it
// (traffic.Featurer, learnt through the Router's Check, and compared with
// Harness.Features when that is set); otherwise the test checks that the
// Router refuses it with a *canary.FieldError naming the field before any
// I/O, and that the split in force stays.
package traffictest
