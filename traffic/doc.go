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
// # Cohorts and session affinity
//
// A Split's Cohort sends the requests that match any of its matches (a
// header compared exactly, by prefix or by an RE2 regular expression, or a
// cookie) to the canary whatever the weights say: the cohort of an A/B
// test. Its Affinity keeps a session on the canary once the weights sent a
// request of it there: the canary's responses to weighted requests carry a
// Set-Cookie header, and every request carrying that cookie goes to the
// canary. A router applies them in this order: TestRoute, Cohort, the
// affinity cookie, the weights; the mirror copies requests bound for stable.
//
// Not every back end can express them. A Driver declares what it carries
// with [Featurer]; one that does not implement it carries neither, and the
// Router refuses such a split before any I/O with a *[canary.FieldError]
// naming the field and the object. [Router.Check] answers without I/O, so a
// rollout refuses a plan its router cannot carry when it is built
// (rollback.New and Open ask it for every split the plan will write). What
// the drivers in this module declare:
//
//	driver                         test route  mirror  header: exact prefix regex  cookie  affinity
//	providers/httpsplit            yes         yes     yes    yes    yes           yes     yes
//	providers/istio                yes         yes     yes    yes    yes           yes     yes
//	providers/gatewayapi (generic) yes         yes     yes    no     yes           yes     yes
//	  Implementation: linkerd      yes         no      yes    no     yes           yes     no
//	  Implementation: vpc-lattice  yes         no      yes    no     no            no      no
//	providers/appmesh              yes         no      yes    yes    yes           yes     no
//	providers/kubernetes (SMI,     no          no      no     no     no            no      no
//	  ALB, ReplicaRatio)
//	providers/fake                 yes         yes     yes    yes    yes           yes     yes
//
// Every router carries a weighted canary, and so a blue/green switch (one
// write of [Weighted](100)) and its switch back ([AllStable]).
//
// # Router and Driver
//
// A Router holds, once for every adapter, what a router must do besides
// talking to its back end: it validates a split before any I/O (and asks
// the driver's Check for what the back end cannot express), honours a done
// context, skips a write when the split in force is already the one asked
// for, pins each write to the version it read and retries a conflict after
// a pause that grows with each attempt, with jitter ([Config.Backoff],
// [DefaultBackoff] as client-go's util/retry), compares what the back end
// stored with what was written ([ErrVerify]), writes a rollback
// (SetSplit(ctx, [AllStable]())) with one request on the version it saw last,
// and wraps every driver error once in an *Error that names the object,
// carries a [canary.Code], matches [ErrNotFound] or [ErrConflict], and unwraps to
// the back end's native error.
//
// A Driver does only the I/O and the translation: Read returns the split
// in force with a Revision (the object as read), Write puts a split in force
// pinned to a Revision, and ErrorCode classifies its back end's errors. The
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
