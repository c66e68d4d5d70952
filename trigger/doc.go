// Package trigger lets signals from outside a rollout — an alert from
// Prometheus Alertmanager, a script, another controller — pause a rollout
// or roll it back, each signal exactly once, with who sent it and why in
// the rollout's audit trail.
//
// # Signals and the ledger
//
// A [Signal] names a rollout, an [Action] ([Pause] or [RollBack]), an
// actor and a reason, and carries an ID. An [Applier] applies it through
// the rollout's own manual operations ([rollback.Rollout.Pause] and
// [rollback.Rollout.Abort]), so the action is recorded as a manual event
// with the signal's actor and reason, and it keeps a ledger of the IDs it
// applied in a [store.Store], written with the store's compare-and-swap
// as canaryctl's operator commands are: a signal delivered twice, to this
// process or to another sharing the store, acts once.
//
// # Alertmanager
//
// [Alertmanager] is an http.Handler for Alertmanager's webhook receiver
// (webhook_config, payload version "4", documented at
// https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
// Its [Route] list maps firing alerts to rollouts by their labels (a
// service and namespace, or an explicit label naming the rollout) and to
// an action. Every firing alert is one signal per rollout, identified by
// the alert's fingerprint and start, so Alertmanager's repeats of an alert
// act once; a resolved alert does nothing (a paused rollout stays paused
// until a person resumes it). Requests are authenticated by a bearer
// token ([Bearer], what Alertmanager's http_config.authorization sends) or
// by an HMAC signature with a timestamp and a nonce that stop a replay
// ([HMAC]); malformed, unauthenticated, replayed and oversized requests
// are refused with a clear status before anything is applied, and no
// answer or log line holds a credential.
//
// A minimal Alertmanager configuration for a receiver listening on
// https://canary.example/alerts:
//
//	route:
//	  receiver: canary
//	  group_wait: 10s
//	receivers:
//	  - name: canary
//	    webhook_configs:
//	      - url: https://canary.example/alerts
//	        send_resolved: true
//	        http_config:
//	          authorization:
//	            credentials_file: /etc/alertmanager/canary-token
//
// The end-to-end test starts a real Prometheus, whose rule fires on a
// metric the test sets, and a real Alertmanager (Debian's
// prometheus-alertmanager, found through $MESHCANARY_ALERTMANAGER, which
// scripts/testenv.sh sets) delivering to this receiver.
package trigger
