package promtest_test

import (
	"fmt"

	"github.com/meshcanary/canary/internal/promtest"
)

// The exporter's known truth that tests compare Prometheus's answers with.
func ExampleDefaultWorkloads() {
	for _, w := range promtest.DefaultWorkloads()[:2] {
		fmt.Printf("%s: %.0f req/s, error rate %.2f, p50 %.0f ms, p95 %.0f ms, p99 %.0f ms\n",
			w.Version, w.RPS, w.ErrorRate(), w.Latency.Quantile(0.5), w.Latency.Quantile(0.95), w.Latency.Quantile(0.99))
	}
	// Output:
	// v1: 1000 req/s, error rate 0.01, p50 50 ms, p95 95 ms, p99 99 ms
	// v2: 400 req/s, error rate 0.10, p50 100 ms, p95 375 ms, p99 475 ms
}
