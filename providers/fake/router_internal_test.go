package fake

import (
	"context"
	"testing"

	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/traffic/traffictest"
)

// The fake's in-memory driver passes the conformance suite through the
// portable traffic.Router, as every mesh adapter's driver does.
func TestRouterConformance(t *testing.T) {
	traffictest.Run(t, traffictest.Harness{
		New: func(context.Context, *testing.T) (traffic.Driver, traffic.Config) {
			return &routeDriver{split: traffic.AllStable()}, traffic.Config{Name: "fake route"}
		},
		Delete: func(_ context.Context, _ *testing.T, d traffic.Driver) { d.(*routeDriver).delete() },
		Break: func(_ context.Context, _ *testing.T, d traffic.Driver) any {
			d.(*routeDriver).arm(&Error{Verb: "set", Msg: "injected"})
			return new(*Error)
		},
	})
}
