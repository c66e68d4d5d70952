package analysis_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/meshcanary/canary/analysis"
)

// A canary at 10 % of the traffic (one pod against nine) that uses twice
// the CPU per request, though less in total than stable: each look's
// verdict carries its Memory to the next, as a rollout does, and the
// evidence reaches a Fail at the sixth look. Its memory per pod is the
// same as stable's, which is evidence towards a Pass for that metric.
func ExampleResources() {
	a := analysis.Resources{
		Usage: []analysis.ResourceUsage{
			{Metric: "cpu", Per: analysis.ResourcePerRequest},
			{Metric: "memory", Per: analysis.ResourcePerReplica},
		},
		Faults:   []string{"restarts"},
		Replicas: "replicas",
		Requests: "requests",
	}
	look := func(memory json.RawMessage) analysis.Input {
		obs := func(name string, canary, stable float64) analysis.Observation {
			return analysis.Observation{Metric: name, Canary: analysis.Observed(canary, 0), Stable: analysis.Observed(stable, 0)}
		}
		return analysis.Input{Memory: memory, Observations: []analysis.Observation{
			obs("cpu", 0.2, 0.9),          // cores, in total
			obs("memory", 200e6, 9*200e6), // bytes, in total
			obs("replicas", 1, 9),         // pods
			obs("requests", 1000, 9000),   // requests in the window
			obs("restarts", 0, 0),         // in the window
		}}
	}
	var memory json.RawMessage
	for i := range 6 {
		v, err := a.Analyze(context.Background(), look(memory))
		if err != nil {
			fmt.Println(err)
			return
		}
		memory = v.Memory
		fmt.Printf("look %d: %s (cpu: fail %.2f, pass %.2f)\n", i+1, v.Outcome, v.Evidence[1].Fail, v.Evidence[1].Pass)
	}
	// Output:
	// look 1: inconclusive (cpu: fail 0.16, pass 0.00)
	// look 2: inconclusive (cpu: fail 0.35, pass 0.00)
	// look 3: inconclusive (cpu: fail 0.55, pass 0.00)
	// look 4: inconclusive (cpu: fail 0.76, pass 0.00)
	// look 5: inconclusive (cpu: fail 0.98, pass 0.00)
	// look 6: fail (cpu: fail 1.00, pass 0.00)
}
