// Package hook calls webhooks at the points of a rollout where Flagger
// calls them, with Flagger's payload (name, namespace, phase, checksum,
// metadata) and meaning, as documented at
// https://docs.flagger.app/usage/webhooks:
//
//	confirm-rollout           before the rollout starts; it waits for a yes    Set.ConfirmRollout
//	pre-rollout               before the canary gets traffic; a no is a         Set.Metric + Limit
//	                          failed check
//	rollout                   at every analysis (a load test); a no is a        Set.Metric + Limit
//	                          failed check
//	confirm-traffic-increase  before the weight rises; it holds until a yes     Set.Gate (workload.Gate)
//	confirm-promotion         before the promotion; it holds until a yes        Set.Gate (workload.Gate)
//	post-rollout              once promoted or rolled back; a no is reported    Set.Sink
//	rollback                  while analysing or waiting; a yes rolls back      Set.CheckRollback
//	event                     every event of the audit trail                    Set.Sink
//
// A hook answers yes with a 2xx status; any other status, a transport
// error or its timeout is a no (a hook that hangs is cut at its Timeout,
// 60 s by default, and retried Retries times on a timeout, a transport
// error, a 429 or a 5xx). A hook's answer is read up to 64 KiB and only
// its first line, escaped, goes into an error; a hook's URL never does.
// Nothing here starts a goroutine of its own apart from the calls of a
// [LoadTest] and of an in-process hook's Func, which end with the call.
//
// [LoadTest] is an in-process rollout hook that sends a bounded number of
// requests to the canary at every analysis, in place of Flagger's load
// tester, for quickstarts and tests.
//
// The pre-rollout hooks are called at each analysis until they have all
// said yes once; with rollback.Plan.ZeroTraffic that happens while the
// canary has no production traffic, which is Flagger's order.
package hook
