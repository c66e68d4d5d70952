// Package notify tells people what a rollout decided: a [rollback.Sink]
// wrapper ([Notifier]) that turns the decisions in the audit trail —
// started, stage advanced, waiting for a person, failed check, rolled
// back, promoted — into one message each, with the reason, the evidence
// of the last analysis (each metric's value against its bound, the
// requests behind it, how far it stands from a fail and from a pass) and
// a link to the report, and delivers them to
//
//   - Slack, through an incoming webhook, as Block Kit blocks ([Slack]);
//   - Microsoft Teams, through a Workflows webhook, as an Adaptive Card
//     ([Teams]);
//   - any HTTP endpoint, as the Message in JSON signed with HMAC-SHA256
//     the way package trigger checks signatures ([Webhook]).
//
// Times are shown in Europe/London and numbers in UK format, as
// everywhere else (package display).
//
// # Never in the rollout's way
//
// Record only queues: each destination has a bounded queue and its own
// delivery goroutine, started by [Notifier.Run] in a goroutine the caller
// owns, so a destination that is slow or down delays neither the rollout
// nor the other destinations. Deliveries are rate limited per destination
// (one a second by default, Slack's documented limit for an incoming
// webhook), retried with exponential back-off (and the destination's
// Retry-After), and a message given up on — its attempts exhausted, or
// its queue full — is reported through Config.Failed and kept in
// [Notifier.Failures], never dropped silently. An incoming webhook's URL
// is its credential: no error or report quotes it.
package notify
