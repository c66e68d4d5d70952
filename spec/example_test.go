package spec_test

import (
	"fmt"
	"strings"

	"github.com/meshcanary/canary/spec"
)

func Example() {
	ro, err := spec.Decode(strings.NewReader(`{
	  "name": "checkout",
	  "router": {"httpsplit": {"listen": "127.0.0.1:8080", "stable": "http://127.0.0.1:9001", "canary": "http://127.0.0.1:9002"}},
	  "provider": {"httpsplit": {}},
	  "metrics": [{"name": "error-rate", "builtin": "httpsplit/error-rate"}],
	  "plan": {"stageWeight": 20, "maxWeight": 60, "interval": "1m"},
	  "analysis": {"preset": "strict"}
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg, err := ro.Core(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Name, cfg.Plan.StageWeight, cfg.Plan.MaxWeight, cfg.Plan.Interval, cfg.Policy.FailureLimit)

	// A mistake is reported with the field as written in the file.
	ro.Plan.MaxWeight = 120
	fmt.Println(ro.Validate(nil))
	// Output:
	// checkout 20 60 1m0s 1
	// invalid plan.maxWeight (120): must be between stageWeight (20) and 100
}
