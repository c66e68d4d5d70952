// Package traffic defines how a rollout moves requests between the stable
// and the canary version: the Split value, and Router, the one portable
// type every mesh adapter is used through, over a small Driver each adapter
// implements — the shape of gocloud.dev's blob.Bucket over driver.Bucket.
//
// A Split is in whole percent: Stable+Canary is always 100. Mirror copies a
// share of the stable version's requests to the canary (responses from the
// copy are discarded); TestRoute sends only requests that carry a given
// header to the canary, whatever the weights say, which is how a
// zero-traffic canary receives test requests. A Split is a comparable
// value: == compares two splits, and the zero HeaderRoute means "no test
// route". The zero Split is not valid (its weights sum to 0); use
// [AllStable].
//
// # Router and Driver
//
// A Router holds, once for every adapter, what a router must do besides
// talking to its back end: it validates a split before any I/O (and asks
// the driver's Check for what the back end cannot express), honours a done
// context, skips a write when the split in force is already the one asked
// for, pins each write to the version it read and retries a conflict after
// a pause that grows with each attempt, with jitter ([Options.Backoff],
// [DefaultBackoff] as client-go's util/retry), compares what the back end
// stored with what was written ([ErrVerify]), writes a rollback
// (SetSplit(ctx, [AllStable]())) with one request on the version it saw last,
// and wraps every driver error once in an *Error that names the object,
// carries a [canary.Code], matches [ErrNotFound] or [ErrConflict], and unwraps to
// the back end's native error.
//
// A Driver does only the I/O and the translation: Read returns the split
// in force with a Version (the object as read), Write puts a split in force
// pinned to a Version, and ErrorCode classifies its back end's errors. The
// adapters in this module build their Router with New (istio.New,
// gatewayapi.New, appmesh.New); httpsplit's Proxy has one (Proxy.Router);
// providers/fake wraps one for tests.
//
// A Driver that can tell, before a rollout writes anything, whether it can
// carry the rollout's versions, or that its route starts all-stable after
// a restart, implements [Preflighter]; the Router's Preflight asks it
// (httpsplit's in-process route and providers/fake's do).
//
// Every driver in this module passes the conformance suite in
// traffic/traffictest through a Router.
package traffic
