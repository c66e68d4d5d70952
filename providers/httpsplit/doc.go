// Package httpsplit is an in-process mesh: a weighted reverse proxy in front
// of two plain HTTP back ends (stable and canary) that is at once an
// http.Handler, a traffic.Router and a metrics.Provider measuring its own
// responses. It is the embedded default of the quickstart, and lets a team
// without a service mesh run canary rollouts.
//
//	p, err := httpsplit.New(httpsplit.Config{Stable: v1URL, Canary: v2URL})
//	…
//	go http.ListenAndServe("127.0.0.1:8080", p)        // the traffic
//	err = p.SetSplit(ctx, traffic.Weighted(10))          // the Router
//	res, err := p.Query(ctx, metrics.Query{              // the Provider
//		Text: "error_rate canary", Window: time.Minute, End: time.Now()})
//
// # Routing
//
// Each request is routed on its own; a split change is an atomic pointer
// swap, so requests in flight keep the split they started with and the next
// one sees the new split. The order of the rules:
//
//  1. Test route: a request with a value of header TestRoute.Name equal to
//     TestRoute.Value goes to the canary, whatever the weights.
//  2. Cohort: a request that satisfies any match of the split's Cohort goes
//     to the canary (an A/B test). A header match compares each value of
//     the header on its own (a header sent twice matches if either value
//     does): exactly, by prefix, or by a regular expression that must
//     match the whole value, as Envoy's safe_regex does. A cookie match
//     wants a cookie of that name with exactly that value in the request's
//     Cookie headers.
//  3. Affinity: a request carrying the split's Affinity cookie
//     (Cookie=Value) goes to the canary.
//  4. Weights: the other requests are numbered 0, 1, 2… from the moment the
//     split was set (writing the split already in force does not restart
//     the count), and request n goes to the canary when
//     ⌊(n mod 100 + 1)·c/100⌋ > ⌊(n mod 100)·c/100⌋ for canary weight c.
//     This is deterministic and smooth, not random: exactly c of any 100
//     consecutive requests reach the canary, spread evenly (at 10 %,
//     exactly one in every ten; at 20 %, requests 4, 9, 14…). When the
//     split has an Affinity, the canary's response to a request sent to it
//     by weight carries Set-Cookie: Affinity.SetCookie(), after the back
//     end's own headers, so the session's later requests follow rule 3
//     whatever the weights become; responses of rules 1 to 3 and of the
//     stable version never set it. A rollback (AllStable) has no affinity:
//     the cookie is then ignored.
//  5. Mirror: requests routed to the stable version are numbered the same
//     way and Mirror percent of them are copied to the canary, in the
//     background, after the stable response has been written. The copy
//     carries the header X-Httpsplit-Mirror: 1 and its response is
//     discarded. A request body is captured as the stable back end reads
//     it, up to Config.MirrorMaxBody; a larger body, or one the stable back
//     end did not read to its end, is not mirrored. At most
//     Config.MirrorConcurrency copies are in flight; further copies are
//     dropped, never queued, so the mirror cannot slow the primary traffic.
//     Requests already routed to the canary are not copied to it again.
//     Stats counts copies sent, dropped and failed.
//
// Requests are forwarded by httputil.ReverseProxy: the path is joined to
// the back end's URL, the Host header becomes the back end's host, and the
// client's address and host are passed in X-Forwarded-For (appended to),
// X-Forwarded-Host and X-Forwarded-Proto. A back end that cannot be reached
// answers 502 Bad Gateway, measured as a 5xx of that version.
//
// Every proxied request is bounded by Config.UpstreamTimeout (15 s by
// default, Envoy's default route timeout): when it expires before the back
// end has answered, the proxy answers 504 Gateway Timeout, and when the
// response had begun it is aborted; either way the request is measured as
// a 5xx of that version, as Envoy measures an "upstream request timeout".
// A request whose client gives up before the whole response has been
// written (a client timeout shorter than UpstreamTimeout, a closed
// connection) is measured as an error of the version that held it, as
// nginx counts its 499 "client closed request". So a canary that never
// answers is read as failing, not as healthy, whichever side gives up
// first. A negative UpstreamTimeout disables the timeout; set it above the
// slowest response the service may legitimately take, streaming included.
//
// Close stops the proxy at once (ServeHTTP then answers 503 and copies in
// flight are cancelled); Shutdown lets copies in flight finish until its
// context ends. Neither waits for primary requests: shut down the
// http.Server in front first.
//
// # Router
//
// SetSplit, Split, Release and Check are those of the proxy's
// *traffic.Router (Proxy.Router), over an in-memory driver that declares
// every traffic.Features (header matches of each kind, cookie matches,
// affinity), so every valid split is carried. They never fail but for an
// invalid split (a *canary.FieldError), a done context, or a closed proxy:
// Close makes them return an error matching ErrClosed, whose code is
// canary.FailedPrecondition and which does not match traffic.ErrNotFound,
// so shutting a process down never reads as a deleted route (which would
// roll a canary back). There is no remote back end, so no native back-end
// error exists to surface.
//
// # Metrics
//
// The proxy stamps each request with Config.Now (time.Now by default) when
// it arrives and when its response has been written, and records, per
// version, the end time, the latency and whether the response was a server
// error (a 5xx, a response aborted half way, or a request whose client went
// away before the whole response was written: the version held it too
// long for its client). Such a request's latency is the time until the
// client went away, so latency and slow queries see it too.
//
// A Query's Text is "<metric> <version>", or the PromQL-like
// `<metric>{version="<version>"}` so that a metrics.Template can render it
// (for example "error_rate canary" or `latency_p99{version="stable"}`).
// The slow metric takes a bound in seconds: "slow:0.25 canary", or
// `slow{version="canary",le="0.25"}` (le as in Prometheus's histogram
// buckets).
// Versions: stable, canary (requests the canary served to clients: weighted
// and test-route traffic) and mirror (the canary's responses to mirrored
// copies). Metrics:
//
//	requests       requests that ended in the window
//	request_rate   requests per second over the window's whole seconds
//	error_rate     fraction (0–1) of them that were server errors
//	success_rate   1 − error_rate
//	latency_mean   mean latency, seconds (exact)
//	latency_p50, latency_p90, latency_p95, latency_p99, latency_p999
//	               latency percentile (nearest rank), seconds, from a histogram
//	slow           fraction (0–1) of the requests slower than the bound
//
// Durations are in seconds everywhere, as in Prometheus and in the
// module's presets (latency was reported in milliseconds before).
//
// Result.Count is the number of requests in the window, so a slow query
// gives latency as counts: Value·Count requests were slower than the bound,
// out of Count, which an analyzer can judge as it judges errors.
// Result.Samples are per-second request counts (requests, request_rate;
// every second of the window), per-second error, success or slow fractions
// (seconds with requests), or the per-request latencies in seconds still
// held (latency metrics; at most Config.LatencySamples, the most recent),
// oldest first. A window in which no request of the version ended answers
// metrics.ErrNoData, for every metric: never 0/0, and never NaN.
//
// Resolution is one second. A request that ended at t belongs to the second
// ending at ⌈t⌉ (the smallest whole Unix second ≥ t), and a query reads the
// whole seconds in (⌊End − Window⌋, ⌊End⌋]. Consecutive windows, each
// starting where the one before ended, therefore count every request
// exactly once, whatever instants they end at: the requests that end
// between an analysis at End and the next whole second are left to the
// next window, which reads that second once it is complete. (Before, a
// window read the second End falls in while it was still filling, and the
// next window skipped it, losing up to a second of requests.) A window
// whose ends are whole seconds is exact. A window with no whole second in
// it answers metrics.ErrNoData. To include requests served just now, end
// the window at the end of the current second. A window longer than
// Config.Retention, or one reaching back past the history still held, is
// refused with a *canary.FieldError rather than answered from partial
// data.
//
// A request's end is stamped by Config.Now while the proxy holds the lock
// that queries read under, so a request is either seen by a query or
// stamped after it ran: none can land in a window already read.
//
// Latency percentiles come from a log-linear histogram of whole
// microseconds (one bin per µs below 16 µs, then 16 bins per power of two
// up to about 18 minutes). A reported percentile is the midpoint of its bin,
// within 1/32 (3.125 %) of the latency at that rank, after truncation to
// whole microseconds. A slow query counts the requests whose bin's midpoint
// is above the bound: exact for a bound on a bin edge (a power of two of
// microseconds, for example), and otherwise wrong only for latencies within
// 1/32 of the bound, the same way for both versions.
//
// # Memory
//
// Memory is bounded and allocated as traffic arrives. Per version (three):
// a ring of Retention+60 one-second buckets of 40 bytes each, plus, once a
// second has seen a request, its 1792-byte histogram (448 uint32 bins),
// reused when the ring comes round; and a ring of Config.LatencySamples
// 16-byte latency samples. With the defaults (10 min, 4096 samples) that
// is at most 3 × (660 × 1832 B + 64 KiB) ≈ 3.8 MB; with a Retention of an
// hour, about 20 MB. A query holds its version's lock while it reads (tens
// of µs for a rate, a fraction of a millisecond for a percentile over the
// full default window; see docs/benchmarks/httpsplit.md).
//
// # Test back end
//
// Backend is a small handler standing for one version in examples and
// tests: it answers with its version, waits a fixed latency and fails a
// deterministic fraction of requests (for example exactly every 20th at an
// ErrorRate of 0.05).
package httpsplit
