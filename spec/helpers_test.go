package spec_test

import "github.com/meshcanary/canary/analysis"

func analysisMetrics() analysis.PresetMetrics {
	return analysis.PresetMetrics{ErrorRate: "error-rate", Latency: "latency-p99"}
}
