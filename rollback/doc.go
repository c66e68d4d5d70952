// Package rollback is the rollout state machine: it moves traffic from the
// stable version to the canary step by step, has the canary judged at every
// analysis interval, and rolls it back — all traffic to stable in one
// router write, the canary scaled to zero, the stable version restored —
// when the policy says so.
//
// # Driving a rollout
//
// The caller owns time. Build a Rollout with New (or Open, to resume one
// kept in a store) and call Step(ctx, now) whenever Status.Next is due;
// each Step reads what is due (the split in force and the metrics when an
// analysis is due, the canary's readiness, the gate), has the machine
// decide, and acts on the decision through the router and the scaler,
// delivering the events to the audit sink. Nothing in the package starts a
// goroutine, reads the clock or sleeps, so a policy can be unit-tested in
// microseconds against the fakes in providers/fake, replayed offline
// (Replay), and resumed after a crash ([Config.Store] and Open, or Snapshot
// and Restore).
//
// # One owner of the state
//
// The code is laid out as etcd-io/raft's is. machine.go is the machine: the
// only code that changes a State, a pure function of the state, what was
// observed or done, and the instant. It numbers every event (one place
// increments Seq) and hands back an outbox: the split to write, the
// scalings, the release, the events to deliver. rollout.go is the driver:
// it does the reads and the outbox's I/O without holding the state's lock
// and reports each result back to the machine. An Abort arriving while a
// Step waits on a slow metrics back end therefore acts at once, after at
// most the one router write already under way; the analysis, when it
// returns, is dropped because the state moved on. Replay is a driver like
// any other, over the in-memory router of providers/fake.
//
// # Write-ahead
//
// With [Config.Store], the driver saves the decided state — with the split it
// calls for ([State.Intent]) — before it writes anything, and the confirmed
// state after, each save a compare-and-swap on the version it last saw. A
// rollout resumed with Open after a crash finishes the decision it finds
// (a rollback stays a rollback; its own half-applied write is not taken
// for a change made outside), and a second driver of the same rollout is
// fenced off: its save fails with [store.ErrConflict], it acts on nothing,
// and it reloads the stored state. Events are handed to the sink only once
// the state holding them is saved, and dropped from the state once the sink
// acknowledged them and that is saved (see Sink for the exactly-once
// contract). The crash harness in the tests kills a driver with SIGKILL at
// random points over a thousand times and checks that no canary traffic is
// written after a saved rollback decision, that nothing is promoted twice,
// that no weight exceeds the plan, and that every event reaches the trail
// exactly once and in order.
//
// # Saves that fail
//
// A decision that cannot be saved is not acted on, with one exception: a
// move toward stable. A rollback (an Abort, a failure limit reached, a
// rollback being retried) writes the all-stable split, scales the canary
// down and releases the router even while every save fails; each later
// Step retries the save (with the back-off) until the store takes it, and
// only then are the rollback's events delivered. Any other decision that
// could not be saved is dropped: Status and State go back to the state
// saved last, with the failure recorded, and the next Step decides again,
// so neither ever reports a weight that the store and the router do not
// hold. A process that crashes while the rollback is acted on but not yet
// saved can lose the rollback decision, never more: the router is at
// stable, the stored state still holds the last saved weight, and a driver
// that resumes from it finds stable in force, reports a change made
// outside the rollout and writes the saved weight again (no weight above
// the saved one, no promotion); the failure that caused the rollback is
// seen again at the next analyses, and an Abort must be given again. A
// rollback that was saved is never undone by a crash.
//
// A value JSON cannot encode (NaN or ±Inf from an analyzer, a Memory that
// is not JSON) is a bug in whatever produced it, not a reason to stop: it
// is left out of the verdict (a Pass made with it counts as inconclusive),
// reported as a failure event wrapping [ErrNotFinite], and the state, the
// events and Snapshot stay encodable. A metric value that is not a number
// is no data ([metrics.Result.Check]).
//
// # Phases
//
//	from               event                                         to
//	pending            first Step, plan has ZeroTraffic              validating
//	pending            first Step                                    progressing (first stage) or awaiting-approval
//	validating         ZeroTraffic.Duration elapsed                  progressing (first stage) or awaiting-approval
//	progressing        hold elapsed and PassesPerStage passes at     progressing (next stage), awaiting-approval or
//	                   this stage                                    promoting
//	awaiting-approval  Approve, or Gate approves                     progressing (the gated stage) or promoting
//	validating,
//	progressing,
//	awaiting-approval  failure limit reached, or canary not ready    rolling-back (OnFailure RollBackOnFailure, the
//	                   by the progress deadline                      default) or paused (OnFailure PauseOnFailure)
//	progressing        progress deadline passed with the evidence    paused, asking a person (OnInconclusive
//	                   still inconclusive                            AskPerson, the default), or rolling-back
//	                                                                 (RollBackInconclusive)
//	paused             failure limit reached (analysis goes on       rolling-back (RollBackOnFailure), or an alert
//	                   while paused)                                 event and still paused (PauseOnFailure)
//	validating,
//	progressing,
//	awaiting-approval  Pause                                         paused
//	validating,
//	progressing,
//	awaiting-approval,
//	paused             SetWeight                                     paused at that weight
//	paused             Resume                                        the phase it was paused from (after a
//	                                                                 manual weight: the next stage above it)
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
//	rolling-back       the route is gone, canary scaled to 0 and     rolled-back (final): no request can reach the
//	                   stable restored                               canary
//
// Each row is exercised by a transcript in testdata/transcripts.
//
// # Guarantees
//
//   - The router is written only when the split the state calls for
//     differs from the split last confirmed, and every write is verified
//     against what the mesh reports after it (traffic.Router's contract;
//     [traffic.ErrVerify] on a mismatch, and the write is retried). A weight
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
//   - A failure to read or act (a query, the router, the scaler, the
//     sink) leaves the state consistent; it is returned by Step and
//     retried by the next one, with an exponential back-off capped at
//     [MaxRetryDelay]. A failure repeated without change is one event, then
//     one an hour with its count, so a route broken for a day does not
//     flood the trail. A query's failure is named in the reason of a
//     progress deadline it causes.
//   - Every transition, verdict (with the observations behind it, as
//     values and counts, never raw samples), action, manual operation,
//     failure and alert is an Event numbered without gaps. A Sink that
//     refuses an event gets it again, with the later ones, in order;
//     events not yet delivered are part of the state, at most
//     [MaxUndelivered] of them.
//   - A promotion that fails to write keeps the last confirmed split (the
//     canary at its last weight, stable serving the rest) and is retried by
//     every Step; an operator can Abort instead.
//
// # Policy defaults
//
// The zero Policy rolls back after 2 failed analyses counted cumulatively
// over the rollout (Counting Consecutive resets on a pass), treats an
// inconclusive analysis (no data, too few requests) as neither pass nor
// fail ([analysis.HoldOnNoData]), needs one passing analysis per stage, and
// pauses for a person when a stage's evidence is still inconclusive at the
// progress deadline, saying how many more canary requests (the most any
// metric's Evidence.More asks) and, at the current canary traffic, roughly
// how long a decision would need (Status.More, Status.Estimate). The zero
// Plan.ProgressDeadline is 10 minutes; the zero Plan.Hold is the analysis
// interval.
//
// New refuses what could never work: an analyzer that reads a metric no
// Metric measures, or none at all (analyzers report what they read by
// implementing [analysis.MetricReader], as every analyzer of package analysis does), and stable and canary named alike.
//
// # The zero Rollout
//
// Every method of the zero Rollout is safe and returns [ErrZeroRollout] (or
// a zero Status); build a Rollout with New, Open or Restore.
//
// # Audit
//
// Events go to a [Sink]; package audit has the JSON-lines trail (one event
// a line, times in UTC, exactly once by Seq, SHA-256 or HMAC chained,
// anchored). Event's String method renders an event for people through
// package display: times in Europe/London (GMT or BST) by default, numbers
// in UK format, and control characters from outside text (a back end's
// error message) escaped so that none can forge a line or drive a
// terminal. The package imports no time-zone database: a program's main
// package imports time/tzdata where the machine may lack one.
package rollback
