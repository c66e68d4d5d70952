// Package promtest starts a real Prometheus server on loopback for
// integration tests, scraping a synthetic exporter (Exporter) that reports
// Istio-shaped and Envoy-shaped metrics with known rates, error rates and
// latency distributions. The exporter stamps every sample with the instant
// its counters were computed for, so what Prometheus stores is exact even
// when a scrape runs late on a loaded machine.
//
// Start skips the test under -short with a message saying how to run it
// (bash scripts/test.sh), and fails it in a non-short run when the
// prometheus binary is missing, so that CI cannot pass by skipping. The
// binary is $MESHCANARY_PROMETHEUS, or prometheus on PATH (the Debian
// package; scripts/testenv.sh installs it).
package promtest
