package kubernetes_test

import (
	"fmt"

	"github.com/meshcanary/canary/providers/kubernetes"
)

// With five replicas a plan of 10 %, 25 % and 50 % runs 1, 2 and 3 canary
// pods: 20 %, 40 % and 60 % of the ready pods.
func ExampleRoundWeight() {
	for _, w := range []int{10, 25, 50, 100} {
		pods, realised := kubernetes.RoundWeight(w, 5)
		fmt.Printf("weight %d %%: %d of 5 pods (%d %%)\n", w, pods, realised)
	}
	// Output:
	// weight 10 %: 1 of 5 pods (20 %)
	// weight 25 %: 2 of 5 pods (40 %)
	// weight 50 %: 3 of 5 pods (60 %)
	// weight 100 %: 5 of 5 pods (100 %)
}

// The status line of a replica-ratio canary.
func ExampleRatioStatus_String() {
	st := kubernetes.RatioStatus{Requested: 10, Realised: 20, Total: 5, ReadyStable: 4, ReadyCanary: 1}
	fmt.Println(st)
	// Output:
	// canary weight 10 % is 1 of 5 pods (20 %); ready: 4 stable, 1 canary
}
