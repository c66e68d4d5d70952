// Package advice answers, before the first rollout, the question a plan
// raises: at this service's traffic and error rate, how long will a good
// canary take to be promoted, how long will a clear regression take to be
// rolled back, and how often will a person be asked to decide?
//
// [Advise] answers it by simulation, the same kind the decision-quality
// suite runs (BENCHMARKS.md): seeded rollouts of the plan driven through
// [rollback.Replay] with the chosen preset and its policy
// ([rollback.PresetPolicy]), over synthetic traffic — the requests per
// second split by the canary's weight, Poisson request and error counts,
// stable's history over the hour before each window given as
// Observation.Baseline — once with a canary as good as stable and once
// with a clear regression. Nothing reads the clock, and the same input
// gives the same advice.
//
// The figures are the evidence's own: a run that paused for a person
// (because the evidence could not come within the plan's budget,
// Plan.MaxDuration, or its progress deadline) is counted as paused, and
// its decision and minutes are those of the same run replayed with a
// progress deadline at the horizon and a budget far beyond it. Approval gates
// (Plan.ApproveIncrease, Plan.ApprovePromotion) are left out, since the
// time a person takes to approve cannot be simulated. Real traffic is
// burstier than Poisson noise; the suite's tables show by how much bursts,
// incidents and gaps change the figures.
//
// Advice.String writes the advice for people, numbers in UK format
// (package display); canaryctl advise prints it.
package advice
