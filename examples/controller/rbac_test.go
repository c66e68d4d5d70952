package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// The manifest is what makes the controller work: with one verb taken out
// of deploy/rbac.yaml's ClusterRole, the API server refuses the request
// that needs it (403 Forbidden), the controller reports an error naming
// the resource, and no traffic moves. (TestEndToEnd runs the whole
// manifest and fails on any Forbidden answer.)
func TestRBACTooNarrowRefused(t *testing.T) {
	for _, c := range []struct{ resource, verb, method string }{
		{"configmaps", "create", http.MethodPost},      // the state store: nothing may move before the decision is saved
		{"virtualservices", "patch", http.MethodPatch}, // the router
		{"rollouts/status", "update", http.MethodPut},  // the status
		{"events", "create", http.MethodPost},          // the Events sink
	} {
		t.Run(strings.ReplaceAll(c.resource, "/", "-")+"-"+c.verb, func(t *testing.T) {
			f := newFixture(t)
			f.app(t, "narrow", nil)
			cfg := f.applyRBAC(t, withoutVerb(c.resource, c.verb))
			w := newWire()
			cfg.WrapTransport = w.wrap
			o := f.controllerOptions(t, "replica-0", cfg)
			logs := &logCapture{}
			o.Log = slog.New(captureHandler{logs, o.Log.Handler()})
			start(t, o)
			want := fmt.Sprintf("cannot %s resource %q", c.verb, c.resource)
			poll(t, 2*time.Minute, "a Forbidden answer for "+c.verb+" "+c.resource+", reported", func() (bool, string) {
				refused := false
				for _, r := range w.snapshot() {
					refused = refused || r.Status == http.StatusForbidden && r.Method == c.method && resourceOf(r.Path) == c.resource
				}
				reported := false
				for _, err := range logs.errors() {
					reported = reported || apierrors.IsForbidden(err) && strings.Contains(err.Error(), want)
				}
				if c.resource == "events" {
					// The Events sink drops a refused Event (the rollout
					// goes on); the controller says so.
					reported = logs.count(eventsDroppedMsg) > 0
				}
				return refused && reported, fmt.Sprintf("refused on the wire %v, reported %v", refused, reported)
			})
			// Every other request the controller made was allowed.
			for _, r := range w.snapshot() {
				if r.Status == http.StatusForbidden && resourceOf(r.Path) != c.resource {
					t.Errorf("%s %s: Forbidden, though only %s %s was taken out", r.Method, r.Path, c.verb, c.resource)
				}
			}
			if c.resource == "configmaps" || c.resource == "virtualservices" {
				if wt := f.canaryWeight(t, "narrow", "narrow-canary"); wt != 0 {
					t.Errorf("canary weight %d with %s %s refused, want 0", wt, c.verb, c.resource)
				}
			}
		})
	}
}
