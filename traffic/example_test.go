package traffic_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
)

// table is a minimal Driver: a split in memory with a version number.
type table struct {
	mu      sync.Mutex
	split   traffic.Split
	version int
	writes  int
}

func (t *table) Read(context.Context) (traffic.Split, traffic.Revision, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.split, t.version, nil
}

func (t *table) Write(_ context.Context, v traffic.Revision, s traffic.Split) (traffic.Split, traffic.Revision, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v != t.version {
		return traffic.Split{}, nil, canary.WithCode(canary.Conflict, errors.New("stale version"))
	}
	t.split, t.writes = s, t.writes+1
	t.version++
	return t.split, t.version, nil
}

func (t *table) ErrorCode(err error) canary.ErrorCode { return canary.Code(err) }

// A driver needs only Read, Write and ErrorCode; the Router adds
// validation, the no-op skip, retries, verification and error wrapping.
func ExampleNewRouter() {
	ctx := context.Background()
	d := &table{split: traffic.AllStable()}
	r := traffic.NewRouter(d, traffic.Config{Name: "table demo"})

	fmt.Println(r.SetSplit(ctx, traffic.Weighted(10)))
	fmt.Println(r.SetSplit(ctx, traffic.Weighted(10))) // in force: no write
	err := r.SetSplit(ctx, traffic.Split{Stable: 90, Canary: 20})
	fmt.Println(canary.Code(err), err)
	s, _ := r.Split(ctx)
	fmt.Println(s, "after", d.writes, "write")
	// Output:
	// <nil>
	// <nil>
	// InvalidArgument invalid Split.Canary (20): stable 90 + canary 20 must sum to 100
	// stable 90% / canary 10% after 1 write
}

// headerTable is table that also routes by exact header matches: it says
// so with Features, and the Router lets cohorts of exact header matches
// through while refusing any other match before any I/O.
type headerTable struct{ table }

func (*headerTable) Features() traffic.Features { return traffic.Features{HeaderMatch: true} }

// A driver declares the request matches its back end can carry; a split
// asking for more is refused with a field error naming the router.
func ExampleFeaturer() {
	ctx := context.Background()
	d := &headerTable{table{split: traffic.AllStable()}}
	r := traffic.NewRouter(d, traffic.Config{Name: "header table"})

	ab := traffic.AllStable()
	ab.Cohort, _ = traffic.NewCohort(traffic.Match{Header: "x-canary", Value: "insider"})
	fmt.Println(r.SetSplit(ctx, ab))

	byCookie := traffic.AllStable()
	byCookie.Cohort, _ = traffic.NewCohort(traffic.Match{Cookie: "canary", Value: "always"})
	fmt.Println(r.Check(byCookie))
	fmt.Println(d.writes, "write")
	// Output:
	// <nil>
	// invalid Split.Cohort[0].Cookie (canary): header table cannot route by cookie
	// 1 write
}
