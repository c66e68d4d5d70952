// Package storetest is the conformance suite every store.Store must pass,
// in the manner of gocloud.dev's drivertest: an implementation's test
// builds a Harness and calls Run.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			New: func(ctx context.Context, t *testing.T) store.Store { return new(store.Memory) },
//		})
//	}
//
// The suite pins the contract of store.Store: a missing record is
// store.ErrNotFound; Save and Delete are compare-and-swap on the revision
// (a stale or invented revision is store.ErrConflict and changes nothing);
// every Save makes a new revision, and a revision is never given again to a
// record deleted and created anew (so a driver holding a revision from
// before the delete cannot overwrite the new record); among concurrent
// savers holding the same revision exactly one wins; bad keys are refused
// with a *canary.FieldError naming "key" before anything is written; a
// cancelled context is honoured; records are opaque bytes (binary, empty
// and large ones come back unchanged); and a store with a size limit
// refuses a record over it with a *canary.FieldError naming "data".
package storetest
