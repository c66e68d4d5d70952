// Package traffictest is the conformance suite every traffic.Router must
// pass, in the manner of gocloud.dev's drivertest: an adapter's test builds
// a Harness and calls Run.
//
//	func TestConformance(t *testing.T) {
//		traffictest.Run(t, traffictest.Harness{
//			New: func(ctx context.Context, t *testing.T) traffic.Router { … },
//		})
//	}
//
// The suite pins the contract of traffic.Router: a fresh route reads back as
// all-stable; writes are idempotent; what is read back equals the last
// write; invalid splits are refused before anything is written; Release
// keeps the weights and drops the test route and mirror; a cancelled
// context is honoured; a missing route gives traffic.ErrNotFound; and the
// back end's native error stays reachable with errors.As.
package traffictest
