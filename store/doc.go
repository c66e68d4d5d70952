// Package store keeps a rollout's state between calls and across
// processes, with compare-and-swap on a revision so that two drivers of one
// rollout cannot both win.
//
// A [Store] holds opaque records (the rollout's snapshot) by key. Every Save
// names the revision it read; a Save against a revision that moved fails with
// an error wrapping [ErrConflict], so a driver that lost its lease, or a
// second process acting on the same rollout, is fenced off instead of
// overwriting newer state.
//
// [Memory] is the in-memory implementation, for tests and single-process
// tools. Other implementations (a file, a Kubernetes object) live beside
// it or in the adapters; every one passes the conformance suite in
// store/storetest.
package store
