// Package rollback is the rollout state machine: it moves traffic from the
// stable version to the canary step by step, has the canary judged at every
// analysis interval, and rolls it back — all traffic to stable in one
// router write, the canary scaled to zero, the stable version restored —
// when the policy says so.
//
// # Driving a rollout
//
// The caller owns time. Build a Rollout with New and call Step(ctx, now)
// whenever Status.Next is due; each Step observes the metrics (when an
// analysis is due), asks the analyzer, decides, writes to the router and
// the scaler, and delivers the events to the audit sink. Nothing in the
// package starts a goroutine, reads the clock or sleeps, so a policy can be
// unit-tested in microseconds against the fakes in providers/fake, replayed
// offline (Replay), and resumed after a crash (Snapshot, Restore).
//
// The decision itself is Machine.Decide, a pure function of (State,
// Inputs, now) that tests can call directly; Rollout wraps it with the
// observing and the acting.
//
// # Phases
//
//	from               event                                         to
//	pending            first Step, plan has ZeroTraffic              validating
//	pending            first Step                                    progressing (first step) or awaiting-approval
//	validating         ZeroTraffic.Duration elapsed                  progressing (first step) or awaiting-approval
//	progressing        hold elapsed and PassesPerStep passes         progressing (next step), awaiting-approval or promoting
//	awaiting-approval  Approve, or Gate approves                     progressing (the gated step) or promoting
//	validating,
//	progressing,
//	awaiting-approval  failure limit reached, progress deadline      rolling-back (OnFailure RollBack, the default)
//	                   missed, or canary not ready by the deadline   or paused (OnFailure PauseOnFailure)
//	validating,
//	progressing,
//	awaiting-approval  Pause                                         paused
//	validating,
//	progressing,
//	awaiting-approval,
//	paused             SetWeight                                     paused at that weight
//	paused             Resume                                        the phase it was paused from
//	pending,
//	validating,
//	progressing,
//	awaiting-approval,
//	paused             Promote                                       promoting
//	promoting          full split written, read back and released    succeeded (final)
//	any but succeeded  Abort                                         rolling-back
//	validating,
//	progressing,
//	awaiting-approval  the router reports the route gone             rolling-back
//	rolling-back       all-stable split written and read back,       rolled-back (final)
//	                   canary scaled to 0, stable restored, released
//
// # Guarantees
//
//   - The router is written only when the split the state calls for
//     differs from the split last confirmed, and every write is verified
//     against what the mesh reports after it (traffic.Router's contract;
//     traffic.ErrVerify on a mismatch, and the write is retried). A weight
//     change is one router write, and so is the rollback.
//   - Before every analysis the split in force is read: a route someone
//     deleted rolls an active rollout back at once (and the canary is
//     scaled to zero even though the route cannot be written, since the
//     mesh's default routing would otherwise reach it); a split changed
//     outside the rollout is set again and not judged.
//   - After a rollback decision the state never calls for canary traffic:
//     SetWeight and Promote are refused with ErrNotAllowed, and every later
//     Step retries the rollback until the router and the scaler confirm it.
//     Aborting twice is harmless.
//   - A failure to act (router, scaler, sink) leaves the state consistent;
//     it is returned by Step and retried by the next one.
//   - Every transition, verdict (with the observations behind it), action,
//     manual operation and failure is an Event numbered without gaps. A
//     Sink that refuses an event gets it again, with the later ones, in
//     order; events not yet delivered are part of the snapshot.
//   - A promotion that fails to write keeps the last confirmed split (the
//     canary at its last weight, stable serving the rest) and is retried by
//     every Step; an operator can Abort instead.
//
// # Policy defaults
//
// The zero Policy rolls back after 2 failed analyses counted cumulatively
// over the rollout (Counting Consecutive resets on a pass), treats an
// inconclusive analysis (no data, too few requests) as neither pass nor
// fail (NoData Hold), and needs one passing analysis per step. The zero
// Plan.ProgressDeadline is 10 minutes; the zero Plan.Hold is the analysis
// interval.
//
// # Audit
//
// JSONLines writes events as one JSON object a line, times in UTC;
// NewChainedJSONLines makes the trail tamper-evident with a SHA-256 chain
// through its lines, which VerifyChain checks. Event's
// String method renders an event for people, with times in Europe/London
// (GMT or BST) and numbers in UK format (FormatTime, FormatNumber).
package rollback
