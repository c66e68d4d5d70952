// Package resourcequality_test replays whole rollouts judged on resource
// use alone (analysis.Resources through rollback.Replay), the rollout-level
// check of issue 13: a canary that uses 2× the CPU per request or leaks
// memory is rolled back before promotion, and one at 10 % of the traffic
// that uses less CPU in total but the same per request is promoted.
package resourcequality_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

// family is one kind of canary.
type family struct {
	name       string
	cpuPerReq  float64 // × stable's CPU per request
	leakPerMin float64 // canary working set grows by this fraction a minute
	bad        bool
}

var families = []family{
	{name: "same use per request (less in total at 10 %)", cpuPerReq: 1},
	{name: "2× CPU per request", cpuPerReq: 2, bad: true},
	{name: "memory leak, +3 % a minute", cpuPerReq: 1, leakPerMin: 0.03, bad: true},
}

const (
	rps          = 50.0  // both versions together
	coresPerReq  = 0.002 // stable's CPU seconds per request
	memPerPod    = 200e6 // bytes
	stablePods   = 3
	canaryPods   = 1
	noiseSigma   = 0.05 // log-normal jitter of each version's figures
	runsPerCase  = 40
	interval     = time.Minute
	replayLength = 4 * time.Hour
)

// recording answers the resource metrics of one run of f.
func recording(f family, seed uint64, start time.Time) rollback.Recording {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	jitter := func() float64 { return math.Exp(noiseSigma * rng.NormFloat64()) }
	return func(now time.Time, split traffic.Split) []analysis.Observation {
		minutes := now.Sub(start).Minutes()
		reqC := rps * float64(split.Canary) / 100 * interval.Seconds()
		reqS := rps * float64(split.Stable) / 100 * interval.Seconds()
		cpuC := reqC * coresPerReq * f.cpuPerReq / interval.Seconds() * jitter()
		cpuS := reqS * coresPerReq / interval.Seconds() * jitter()
		memC := canaryPods * memPerPod * (1 + f.leakPerMin*minutes) * jitter()
		memS := stablePods * memPerPod * jitter()
		obs := func(name string, c, s float64) analysis.Observation {
			return analysis.Observation{Metric: name,
				Canary: analysis.Observed(c, int64(reqC)), Stable: analysis.Observed(s, int64(reqS))}
		}
		return []analysis.Observation{
			obs("cpu", cpuC, cpuS),
			obs("memory", memC, memS),
			obs("replicas", canaryPods, stablePods),
			obs("requests", reqC, reqS),
			obs("restarts", 0, 0),
		}
	}
}

var judge = analysis.Resources{
	Usage: []analysis.ResourceUsage{
		{Metric: "cpu", Per: analysis.ResourcePerRequest},
		{Metric: "memory", Per: analysis.ResourcePerReplica},
	},
	Faults:   []string{"restarts"},
	Replicas: "replicas",
	Requests: "requests",
	Alpha:    0.01,
	Beta:     0.01,
}

// TestResourceRollouts replays runsPerCase seeded rollouts of each family
// (plan 10 → 50 % in steps of 10, 1-minute interval) and checks the
// decisions: every bad canary rolled back and never promoted, the good one
// promoted in all but a few runs and rolled back in at most 2 of 40 (the
// analyzer's α of 1 % applies per stage, over five stages).
func TestResourceRollouts(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC)
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			var promoted, rolledBack int
			var minutes []float64
			for seed := uint64(1); seed <= runsPerCase; seed++ {
				cfg := rollback.Config{Name: "resources",
					Plan:     rollback.Plan{StageWeight: 10, MaxWeight: 50, Interval: interval, ProgressDeadline: replayLength},
					Policy:   rollback.Policy{FailureLimit: 1},
					Analyzer: judge,
					Metrics: []rollback.Metric{{Name: "cpu"}, {Name: "memory"}, {Name: "replicas"},
						{Name: "requests"}, {Name: "restarts"}},
				}
				res, err := rollback.Replay(ctx, cfg, start, start.Add(replayLength), recording(f, seed, start))
				if err != nil {
					t.Fatal(err)
				}
				switch res.Final.Phase {
				case rollback.RolledBack, rollback.RollingBack:
					rolledBack++
				case rollback.Succeeded, rollback.Promoting:
					promoted++
				}
				if !res.Decided.IsZero() {
					minutes = append(minutes, res.Decided.Sub(start).Minutes())
				}
			}
			t.Logf("%s: %d of %d promoted, %d rolled back, decided after %v minutes (each run)", f.name, promoted, runsPerCase, rolledBack, minutes)
			if f.bad {
				if promoted > 0 || rolledBack != runsPerCase {
					t.Errorf("bad canary: %d promoted, %d of %d rolled back; want none promoted, all rolled back", promoted, rolledBack, runsPerCase)
				}
				return
			}
			if rolledBack > 2 || promoted < runsPerCase-2 {
				t.Errorf("good canary: %d rolled back, %d of %d promoted; want at most 2 rolled back", rolledBack, promoted, runsPerCase)
			}
		})
	}
}
