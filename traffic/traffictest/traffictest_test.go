package traffictest_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/traffic/traffictest"
)

// memDriver is an in-memory traffic.Driver that counts its I/O. Its
// route can be deleted (then every call is canary.NotFound) and its back
// end broken (then every call fails with a *memError).
type memDriver struct {
	mu      sync.Mutex
	split   traffic.Split
	gen     int
	reads   int
	writes  int
	deleted bool
	broken  bool
}

// memError is memDriver's native error.
type memError struct{ op string }

func (e *memError) Error() string { return "memory back end: " + e.op + " failed" }

// fault is the error of the next call, if any.
func (d *memDriver) fault(op string) error {
	switch {
	case d.broken:
		return &memError{op}
	case d.deleted:
		return canary.NewError(canary.NotFound, "no such route")
	}
	return nil
}

func (d *memDriver) Read(context.Context) (traffic.Split, traffic.Revision, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reads++
	if err := d.fault("read"); err != nil {
		return traffic.Split{}, nil, err
	}
	return d.split, d.gen, nil
}

func (d *memDriver) Write(_ context.Context, v traffic.Revision, s traffic.Split) (traffic.Split, traffic.Revision, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.fault("write"); err != nil {
		return traffic.Split{}, nil, err
	}
	if v != traffic.Revision(d.gen) {
		return traffic.Split{}, nil, canary.NewError(canary.Conflict, "stale")
	}
	d.writes++
	d.gen++
	d.split = s
	return s, d.gen, nil
}

func (*memDriver) ErrorCode(err error) canary.ErrorCode {
	if _, ok := errors.AsType[*memError](err); ok {
		return canary.Unavailable
	}
	return canary.Unknown
}

// mem is the memDriver behind d, a driver the harness's New returned
// (a *memDriver, or one wrapped in featured).
func mem(t *testing.T, d traffic.Driver) *memDriver {
	switch d := d.(type) {
	case *memDriver:
		return d
	case featured:
		return d.memDriver
	}
	t.Fatalf("the hook got a %T, not a driver New returned", d)
	return nil
}

// deleteRoute and breakBackEnd are the suite's Delete and Break hooks:
// they act on the driver they are handed, with no map from the Router.
func deleteRoute(_ context.Context, t *testing.T, d traffic.Driver) {
	m := mem(t, d)
	m.mu.Lock()
	m.deleted = true
	m.mu.Unlock()
}

func breakBackEnd(_ context.Context, t *testing.T, d traffic.Driver) any {
	m := mem(t, d)
	m.mu.Lock()
	m.broken = true
	m.mu.Unlock()
	return new(*memError)
}

func (d *memDriver) io() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reads + d.writes
}

// featured declares f.
type featured struct {
	*memDriver
	f traffic.Features
}

func (d featured) Features() traffic.Features { return d.f }

var all = traffic.Features{HeaderMatch: true, PrefixMatch: true, RegexMatch: true, CookieMatch: true, Affinity: true}

// The suite passes for a driver that declares every feature, one that
// declares some (Gateway API's: no prefix match) and one that declares
// none, with and without Harness.Features.
func TestSuiteOverMemoryDrivers(t *testing.T) {
	for _, c := range []struct {
		name string
		f    *traffic.Features
	}{
		{"none", nil},
		{"all", &all},
		{"noPrefix", &traffic.Features{HeaderMatch: true, RegexMatch: true, CookieMatch: true, Affinity: true}},
	} {
		for _, declare := range []bool{false, true} {
			name := c.name
			if declare {
				name += "/declared"
			}
			t.Run(name, func(t *testing.T) {
				h := traffictest.Harness{
					New: func(context.Context, *testing.T) (traffic.Driver, traffic.Config) {
						d := &memDriver{split: traffic.AllStable()}
						if c.f == nil {
							return d, traffic.Config{Name: "memory"}
						}
						return featured{d, *c.f}, traffic.Config{Name: "memory"}
					},
					Delete: deleteRoute,
					Break:  breakBackEnd,
				}
				if declare {
					h.Features = c.f
					if h.Features == nil {
						h.Features = &traffic.Features{}
					}
				}
				traffictest.Run(t, h)
			})
		}
	}
}

// A shape the driver does not declare costs no I/O at all: the suite's
// refusal test reads before and after, but the refused SetSplit calls
// themselves reach the driver neither to read nor to write.
func TestUndeclaredShapeCostsNoIO(t *testing.T) {
	d := &memDriver{split: traffic.AllStable()}
	r := traffic.NewRouter(d, traffic.Config{Name: "memory"})
	cohort, err := traffic.NewCohort(traffic.Match{Cookie: "c", Value: "v"})
	if err != nil {
		t.Fatal(err)
	}
	before := d.io()
	for _, s := range []traffic.Split{
		{Stable: 100, Cohort: cohort},
		{Stable: 100, Affinity: traffic.Affinity{Cookie: "c", Value: "v", MaxAge: 1}},
	} {
		if err := r.SetSplit(context.Background(), s); err == nil {
			t.Fatalf("SetSplit(%v) taken by a driver that declares nothing", s)
		}
	}
	if n := d.io() - before; n != 0 {
		t.Fatalf("refused splits cost %d driver calls, want 0", n)
	}
}
