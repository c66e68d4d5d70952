package traffictest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/traffic/traffictest"
)

// memDriver is an in-memory traffic.Driver that counts its I/O.
type memDriver struct {
	mu     sync.Mutex
	split  traffic.Split
	gen    int
	reads  int
	writes int
}

func (d *memDriver) Read(context.Context) (traffic.Split, traffic.Revision, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reads++
	return d.split, d.gen, nil
}

func (d *memDriver) Write(_ context.Context, v traffic.Revision, s traffic.Split) (traffic.Split, traffic.Revision, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v != traffic.Revision(d.gen) {
		return traffic.Split{}, nil, canary.NewError(canary.Conflict, "stale")
	}
	d.writes++
	d.gen++
	d.split = s
	return s, d.gen, nil
}

func (*memDriver) ErrorCode(error) canary.ErrorCode { return canary.Unknown }

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
				h := traffictest.Harness{New: func(context.Context, *testing.T) *traffic.Router {
					d := &memDriver{split: traffic.AllStable()}
					if c.f == nil {
						return traffic.NewRouter(d, traffic.Config{Name: "memory"})
					}
					return traffic.NewRouter(featured{d, *c.f}, traffic.Config{Name: "memory"})
				}}
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
