// Package rollback is the rollout state machine: it moves traffic from the
// stable version to the canary stage by stage, has the canary judged at every
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
// increments Seq). A round takes three calls, as raft's Step, Ready and
// Advance: the machine decides from what the driver read, hands back one
// value saying everything the decision asks for in order (the states to
// save, the split to write, the scalings, the release, the events to
// deliver), and takes the driver's report on it back once. rollout.go is
// the driver: it does the reads and the round's I/O without holding the
// state's lock. An Abort arriving while a Step waits on a slow metrics
// back end therefore acts at once, after at most the one router write
// already under way; the analysis, when it returns, is dropped because
// the state moved on. Replay is a driver like any other, over the
// in-memory router of providers/fake.
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
// # Before traffic moves
//
// A router that implements [traffic.Preflighter] (providers/httpsplit and
// providers/fake's Router do) is asked once, at Open or at the first Step
// of a new rollout, whether it can carry the rollout's versions
// ([traffic.Versions], with Measured set when the router is also one of
// the rollout's metrics providers). A refusal stops a rollout that has
// not started before anything is written, where it would otherwise be
// found at the first analysis with the canary already at its first stage;
// a started rollout is driven regardless (a rollback must reach the
// router) and the refusal is returned by its next Step. A route that is
// ephemeral ([traffic.Facts], the in-process proxy, all-stable after a
// restart) is written again by a resumed rollout, which does not report
// it as a change made outside.
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
// # Release strategies
//
// A plan has one of three shapes ([Plan.Strategy]), each driven by the
// same machine, judged by the same analyzers under the same policy,
// persisted with the same write-ahead rule and recorded in the same audit
// trail; [Status] says which (Strategy) and where the rollout stands in it
// (Shape, with the instant WarmUntil for blue/green; display.Shape writes
// both in a zone the caller chooses).
//
//   - Canary ("" or [StrategyCanary]): the weight rises stage by stage
//     (Plan.Stages), after an optional zero-traffic validation
//     (Plan.ZeroTraffic: a header test route and a mirror, analysed with
//     no production traffic). With [Plan.SessionAffinity], every weighted
//     stage's split carries a cookie ([traffic.Affinity]): a user sent to
//     the canary stays on it while the weights move, and the weights apply
//     to new sessions. The cookie's value is derived once per rollout from
//     its name and start ([State.AffinityValue], saved with the state), so
//     it survives a restart and a later rollout does not inherit this
//     one's sessions. The promotion (100 %) and the rollback (all-stable,
//     one write) carry no cookie.
//   - A/B test ([StrategyABTest], [Plan.ABTest]): the requests of a cohort
//     (up to four header matches — exact, prefix, regular expression — or
//     cookie matches, any of which sends a request to the canary) go to the
//     canary and every other request to stable; no weight moves. The
//     cohort's canary is judged against stable over the same windows every
//     Plan.Interval (phase validating); a Pass after at least
//     ABTest.Iterations analyses promotes it in one write (100 %, the
//     cohort dropped), the failure limit rolls it back in one write
//     (all-stable, no cohort), and evidence that cannot come within
//     Plan.MaxDuration asks a person, as a stage's does. This is Flagger's
//     A/B testing (analysis.match, analysis.iterations).
//   - Blue/green ([StrategyBlueGreen], [Plan.BlueGreen]): the new version
//     runs beside the old with no production traffic, reachable through a
//     preview route (a header) and fed a mirror of production's requests
//     (their responses discarded): blue/green with mirroring when
//     BlueGreen.Mirror is set. It is analysed before the switch (phase
//     validating; a Pass, after PrePromotion at least; Plan.ApprovePromotion
//     holds the switch for an approval, as Argo Rollouts'
//     autoPromotionEnabled: false does). The switch is one write of 100 %
//     (an action event whose reason starts "switch:"), followed by the
//     post-promotion analysis (phase progressing, stage 1 of 1) with the
//     old version kept warm for max(PostPromotion, ScaleDownDelay): a
//     failure then switches back in one write of all-stable ("switch
//     back:"), the old version still running all its replicas. After that
//     window, and a Pass, the old version is scaled to zero through
//     [Config.Scaler] (an action event "scale-stable") and the rollout
//     finishes succeeded. Stable serves no request after the switch, so
//     [Config.PostPromotionAnalyzer] judges the new version on the
//     service's history ([Metric.Baseline], per window too where the
//     provider answers range queries) or on fixed bounds; an analyzer
//     that compares it with stable's short window can only be
//     inconclusive there. [analysis.HistoryRate] adds the windows after
//     the switch up into anytime-valid evidence against the history, so
//     it switches a version that turns bad back at low traffic too, where
//     a rule that judges each window alone has too few requests in every
//     one. This is Argo Rollouts' blueGreen (preview and active
//     services, pre- and post-promotion analysis, scaleDownDelaySeconds)
//     and Flagger's blue/green.
//
// A split the router cannot express is refused when the rollout is built:
// New and Open ask a router that has a Check method ([SplitChecker], as
// [traffic.Router] has) about every split the plan will write — the
// cohort, the preview route and the mirror, each stage with its cookie,
// 100 % and all-stable — and return its *[canary.FieldError] renamed to
// the plan's field ("Plan.ABTest.Cohort[0].Cookie: … cannot route by
// cookie"), the router's reason naming the router. A rollout that has
// started is still resumed by Open and Restore over such a router (a
// rollback must reach it, and all-stable is a split every router takes);
// its next Step reports the refusal. Which routers carry
// which shape is what each declares ([traffic.Featurer]) and checks; the
// README has the table.
//
// In a shape's state, SetWeight is refused ([ErrNotAllowed]); Pause,
// Resume, Approve, Promote and Abort work as in a canary (Promote switches
// at once and skips the post-promotion analysis; Abort rolls back in one
// write). The crash harness runs every shape, and checks also that no
// write rises to 100 % twice (no switch back and forth across restarts)
// and that a rollout's affinity value never changes.
//
// # Phases
//
//	from               event                                         to
//	pending            first Step, plan has ZeroTraffic              validating
//	pending            first Step                                    progressing (first stage) or awaiting-approval
//	validating         ZeroTraffic.Duration elapsed                  progressing (first stage) or awaiting-approval
//	progressing        hold elapsed and the latest PassesPerStage    progressing (next stage) or awaiting-approval
//	                   analyses of the stage lean towards no
//	                   regression (Policy.Advance AdvanceOnLeaning,
//	                   the default) or pass (AdvanceOnPass)
//	progressing        at the last stage: hold elapsed and the       promoting or awaiting-approval
//	(last stage)       latest PassesPerStage analyses pass
//	progressing        the evidence points to a regression not yet   progressing (first stage)
//	                   proven (Verdict.Regressing; AdvanceOnLeaning)
//	awaiting-approval  Approve, or Gate approves                     progressing (the gated stage) or promoting
//	validating,
//	progressing,
//	awaiting-approval  failure limit reached, or canary not ready    rolling-back (OnFailure RollBackOnFailure, the
//	                   by the progress deadline                      default) or paused (OnFailure PauseOnFailure)
//	progressing        the evidence cannot come within the budget    paused, asking a person (OnInconclusive
//	                   (Plan.MaxDuration; or, when set, the          AskPerson, the default), or rolling-back
//	                   progress deadline passed with the evidence    (RollBackInconclusive)
//	                   still inconclusive)
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
//	validating         A/B: a Pass after ABTest.Iterations analyses  promoting or awaiting-approval
//	(A/B test)         at least
//	validating         blue/green: a Pass after PrePromotion         progressing (the switch: 100 %, the
//	(blue/green)                                                     post-promotion analysis) or awaiting-approval
//	progressing        blue/green: max(PostPromotion,                promoting (the old version scaled down)
//	(blue/green)       ScaleDownDelay) elapsed and a Pass
//	promoting          full split written, read back and released    succeeded (final)
//	                   (blue/green: the old version scaled to 0)
//	any but succeeded  Abort                                         rolling-back
//	validating,
//	progressing,
//	awaiting-approval  the router reports the route gone             rolling-back
//	rolling-back       all-stable split written and read back,       rolled-back (final)
//	                   canary scaled to 0, stable restored, released
//	rolling-back       the route is gone, canary scaled to 0 and     rolled-back (final): no request can reach the
//	                   stable restored                               canary
//
// Each row is exercised by a transcript in testdata/transcripts or, for
// the advance on leaning evidence and the step back, by advance_test.go.
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
// # Advance on leaning evidence, promote on proof
//
// Three decisions need three strengths of evidence. Raising the canary's
// weight (advancing a stage) needs, after the stage's hold, that nothing
// failed and that the latest analysis leans towards "no regression"
// ([analysis.Verdict].Leaning, or a Pass): more users are exposed only to a
// canary that looks no worse so far, and the evidence is gathered at the
// higher weights, where it comes several times faster than at the first
// stage. The promotion to 100 % needs proof: a Pass at the last stage, by
// its latest analyses (a Pass followed by doubt does not promote). A roll
// back needs a Fail (or the failure limit). In between, an analysis whose
// evidence points to a regression that is not proven yet
// ([analysis.Verdict].Regressing) takes the canary back to the first
// stage's weight, where it does less harm while the evidence comes in. This
// is [AdvanceOnLeaning], the default; [AdvanceOnPass] keeps the earlier
// rule (every stage needs a Pass): the smallest exposure of a bad canary,
// at 1.5 to 4 times the minutes to promote a good one.
//
// With [analysis.Rates] (the presets), "leaning" means: no metric failed,
// the regression detector is quiet (Page's CUSUM of the regression's
// likelihood ratio against a canary like stable stays below 20), and the
// evidence so far favours "no regression" (the Pass e-process is at least
// 1). Its guarantees: P(Fail | the canary is no worse than stable) ≤ α and
// P(Pass | a regression from the start) ≤ β over every look of the rollout
// (Ville's inequality on e-processes); a regression that starts later is
// caught by the detector and by an e-detector on the Fail side whose
// evidence restarts at every window, so that earlier good windows cannot
// mask it — measured, not proven: in the decision-quality suite no clear
// regression was promoted, the canary that turns 5 × bad at minute 4 and
// issue 19's canary that turns bad late in the last stage included. The
// traffic needed is in BENCHMARKS.md: with the default preset and the plan
// 10 → 50 % in steps of 10 with a 1-minute interval, a good canary is
// promoted in a median of 5–7 minutes at 50 requests/s (14–17 with a
// traffic gap) and 6–57 at 5 requests/s: within 1.5 × the oracle's
// minutes (one SPRT over the whole rollout knowing the true rates) in 34
// of the suite's 35 cells where the oracle decides, and within 2 × in
// every one. At 0.5 requests/s most good canaries are not decided within
// four hours, and the rollout asks a person.
//
// # Asking a person
//
// A person is asked (the rollout pauses, per Policy.OnInconclusive) only
// when the evidence cannot come in time: when the budget
// (Plan.MaxDuration, 4 hours by default) is spent without a decision, or,
// from half the budget on, when the rollout's own estimate — Status.More
// canary requests at the traffic the canary will get (the last stage's,
// while the evidence leans) — is more than twice the budget that is left
// and the evidence does not lean. The reason says how many canary requests
// and roughly how long are missing; while paused, analyses go on, and the
// reason says when the evidence has arrived. A Plan.ProgressDeadline that
// is set also bounds each stage's inconclusive evidence, as before.
//
// # Policy defaults
//
// The zero Policy rolls back after 2 failed analyses counted cumulatively
// over the rollout (Counting Consecutive resets on a pass), treats an
// inconclusive analysis (no data, too few requests) as neither pass nor
// fail ([analysis.HoldOnNoData]), advances on leaning evidence and promotes
// on a Pass (one analysis each, the latest), and pauses for a person only
// when the evidence cannot come within the budget (above), saying how many
// more canary requests (the most any metric's Evidence.More asks; −1 when
// unknown, as before the first analysis) and roughly how long a decision
// would need (Status.More, Status.Estimate). The zero Plan.ProgressDeadline
// (how long the canary may stay not ready) is 10 minutes; the zero
// Plan.MaxDuration is 4 hours; the zero Plan.Hold is the analysis
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
// anchored). An Event holds data (weights, split, verdict, counts), not
// text for people: [github.com/meshcanary/canary/display.Event] renders
// one on a line in a time zone the caller chooses (Europe/London, GMT or
// BST, by default), numbers in UK format, and control characters from
// outside text (a back end's error message) escaped so that none can forge
// a line or drive a terminal. The package imports no time-zone database: a
// program's main package imports time/tzdata where the machine may lack
// one.
package rollback
