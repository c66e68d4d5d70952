// Package traffictest is the conformance suite every traffic.Driver must
// pass, run through the portable *traffic.Router, in the manner of
// gocloud.dev's drivertest: an adapter's test builds a Harness and calls
// Run, or calls the named test functions one by one. The Harness makes
// drivers; the suite builds a Router over each, and hands the hooks that
// act behind the Router's back (Delete, Break) the driver itself, so a
// test reaches its own type with a type assertion and keeps no map of
// its own:
//
//	func TestConformance(t *testing.T) {
//		traffictest.Run(t, traffictest.Harness{
//			New: func(ctx context.Context, t *testing.T) (traffic.Driver, traffic.Config) {
//				return newDriver(t), traffic.Config{Name: "my route"}
//			},
//			Delete: func(ctx context.Context, t *testing.T, d traffic.Driver) {
//				d.(*myDriver).deleteRoute()
//			},
//		})
//	}
//
// A driver whose hooks need more than the driver holds (the API client
// that a test can make fail, say) can be returned wrapped in a test type
// that embeds it by pointer, so that every method of the driver (and so
// every optional interface: traffic.Checker, traffic.Featurer,
// traffic.Preflighter) stays promoted.
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
