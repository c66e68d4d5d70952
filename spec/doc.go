// Package spec is a rollout written down: a plain data type, Rollout, that
// holds everything a canary rollout is built from (name, target, router,
// metrics, plan, policy, analysis) in a form people write in files
// (durations as "2m", names instead of numbers) and that round-trips
// through JSON. It imports only the standard library and the core
// packages, so any tool — a CLI, a controller, a chat bot — can read the
// same rollout files.
//
// Decode reads a rollout strictly: an unknown field, a value of the wrong
// type or a duration that does not parse is a *canary.FieldError naming
// the field as written in the file ("plan.steps[2].weight"). Validate
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
// dualWindow, cost) combined with "all" or "any". The signals section
// configures notifications, Flagger-style webhooks and CloudWatch alarms.
package spec
