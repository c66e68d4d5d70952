// Package traffic defines how a rollout moves requests between the stable
// and the canary version: the Split type and the Router interface that mesh
// adapters implement.
//
// A Split is in whole percent: Stable+Canary is always 100. Mirror copies a
// share of the stable version's requests to the canary (responses from the
// copy are discarded); TestRoute sends only requests that carry a given
// header to the canary, whatever the weights say, which is how a
// zero-traffic canary receives test requests.
//
// The zero Split is not valid (its weights sum to 0); use AllStable.
//
// Every adapter in this module, and the fake in providers/fake, passes the
// conformance suite in traffic/traffictest.
package traffic
