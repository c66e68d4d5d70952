// Package promtest starts a real Prometheus server on loopback for
// integration tests, scraping a synthetic exporter (Exporter) that reports
// Istio-shaped and Envoy-shaped metrics with known rates, error rates and
// latency distributions. Before Prometheus starts, the exporter's last
// minute is loaded into its storage with `promtool tsdb create-blocks-from
// openmetrics`, one point a second on an exact grid; Server.WaitForData
// returns the end of that history, so tests query data that no scrape
// timing can disturb (a late scrape on a loaded machine once turned an
// expected 1000 req/s into 801.75). Prometheus also scrapes the exporter
// live, which continues the same counters; the exporter stamps those
// samples with the instant it computed them for.
//
// Start skips the test under -short with a message saying how to run it
// (bash scripts/test.sh), and fails it in a non-short run when the
// prometheus binary is missing, so that CI cannot pass by skipping. The
// binary is $MESHCANARY_PROMETHEUS, or prometheus on PATH (the Debian
// package; scripts/testenv.sh installs it); promtool is
// $MESHCANARY_PROMTOOL, else the one next to the prometheus binary, else
// promtool on PATH.
package promtest
