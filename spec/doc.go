// Package spec is a rollout written down: a plain data type, Rollout, that
// holds everything a canary rollout is built from (name, target, router,
// metrics, plan, policy, analysis) in a form people write in files
// (durations as "2m", names instead of numbers) and that round-trips
// through JSON. It imports only the standard library and the core
// packages, so any tool — a CLI, a controller, a chat bot — can read the
// same rollout files.
//
// Decode reads a rollout strictly: an unknown field, a key given twice, a
// value of the wrong type, a number that is not finite, a duration that
// does not parse or is implausible, and a document beyond MaxSize,
// MaxNodes or MaxDepth are each a *canary.FieldError naming the field as
// written in the file ("plan.stages[2].weight"). A rollout's stages are
// "stages" in a file; the older "steps", "stepWeight" and "passesPerStep",
// and an Istio destination's "version" (now "labelValue", the value of the
// pod label that selects the subset's pods), are still read, and Rollout.Warnings says so for the caller to show (an
// old key given beside its new one is a warning when both hold the same
// value, and a FieldError naming both when they differ).
// DecodeValue does the same for a rollout another format (YAML) has read,
// whose reader bounds its bytes and values first. Validate
// checks everything that can be checked without connecting anywhere, and
// Build turns a valid Rollout into a rollback.Config with routers and
// metric providers made by the caller's Factories (the Kubernetes routers
// and the vendor providers live in their own modules, so the caller
// chooses which it links).
//
// Analysis is either a preset by name (LookupPreset: "default", "strict",
// "lenient", "fixed-threshold") with the policy it was tuned with, which
// the rollout's policy block overrides field by field and extra analyzers
// extend, or analyzers spelled out (threshold, compare, sequential,
// dualWindow, cost; historyRate after a blue/green switch) combined with
// "all" or "any". The signals section
// configures notifications, Flagger-style webhooks and CloudWatch alarms.
//
// The top-level timeZone key ("Asia/Tokyo", "UTC"; Europe/London when
// absent) is the zone of the times in the notifications and webhook
// event messages the signals section configures (Rollout.Location); a
// name the time-zone database does not know is a FieldError naming
// timeZone. A tool may let its user override it (canaryctl run -tz).
package spec
