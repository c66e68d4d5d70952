// Package analysis judges a canary from observations: the Analyzer
// interface, the Verdict it returns, and the analyzers that ship with the
// module.
//
// A verdict is never better than its evidence. The zero Outcome is
// Inconclusive; a metric with no data, or with fewer requests than the
// analyzer's minimum, makes the verdict Inconclusive unless another metric
// fails. What an Inconclusive verdict does to a rollout is the rollout
// policy's choice (see rollback.Policy).
//
// Threshold holds each metric's canary value against fixed bounds, for
// example error rate ≤ 2 % and success rate ≥ 99 %.
package analysis
