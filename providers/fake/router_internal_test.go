package fake

import (
	"context"
	"sync"
	"testing"

	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/traffic/traffictest"
)

// The fake's in-memory driver passes the conformance suite through the
// portable traffic.Router, as every mesh adapter's driver does.
func TestRouterConformance(t *testing.T) {
	var mu sync.Mutex
	drivers := map[*traffic.Router]*routeDriver{}
	driver := func(r *traffic.Router) *routeDriver {
		mu.Lock()
		defer mu.Unlock()
		return drivers[r]
	}
	traffictest.Run(t, traffictest.Harness{
		New: func(context.Context, *testing.T) *traffic.Router {
			d := &routeDriver{split: traffic.AllStable()}
			r := traffic.NewRouter(d, traffic.Config{Name: "fake route"})
			mu.Lock()
			drivers[r] = d
			mu.Unlock()
			return r
		},
		Delete: func(_ context.Context, _ *testing.T, r *traffic.Router) { driver(r).delete() },
		Break: func(_ context.Context, _ *testing.T, r *traffic.Router) any {
			driver(r).arm(&Error{Verb: "set", Msg: "injected"})
			return new(*Error)
		},
	})
}
