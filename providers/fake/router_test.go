package fake_test

import (
	"context"
	"errors"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/traffic"
)

func TestRouterRecordsAndInjects(t *testing.T) {
	ctx := context.Background()
	r := fake.NewRouter()
	injected := &fake.Error{Verb: "get", Msg: "down"}
	r.Fail("get", injected)
	// A SetSplit does not consume an error injected for "get".
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	_, err := r.Split(ctx)
	var fe *fake.Error
	var te *traffic.Error
	if !errors.As(err, &fe) || fe != injected || !errors.As(err, &te) || te.Op != "read split of" {
		t.Fatalf("Split = %v, want the injected error wrapped once by the traffic.Router", err)
	}
	if s, err := r.Split(ctx); err != nil || s != traffic.Weighted(10) {
		t.Fatalf("next Split = %v, %v", s, err)
	}
	// The split in force again: recorded, but no write reaches the route.
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		t.Fatal(err)
	}
	if r.Writes() != 1 || r.Count("set") != 2 || r.Count("get") != 2 {
		t.Errorf("writes %d, sets %d, gets %d; want 1, 2, 2", r.Writes(), r.Count("set"), r.Count("get"))
	}
	// An invalid split does not consume an injected error.
	r.Fail("set", injected)
	if err := r.SetSplit(ctx, traffic.Weighted(101)); !errors.Is(err, canary.ErrInvalid) {
		t.Fatalf("invalid split: %v", err)
	}
	if err := r.SetSplit(ctx, traffic.Weighted(20)); !errors.As(err, &fe) {
		t.Fatalf("SetSplit after an invalid one = %v, want the injected error", err)
	}
	if r.Current() != traffic.Weighted(10) || r.CanaryWeight() != 10 {
		t.Errorf("in force %v", r.Current())
	}
	// Release with a test route and a mirror, then a deleted route.
	s := traffic.Split{Stable: 70, Canary: 30, Mirror: 5, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "1"}}
	if err := r.SetSplit(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := r.Release(ctx); err != nil || r.Current() != traffic.Weighted(30) {
		t.Fatalf("Release: %v, in force %v", err, r.Current())
	}
	r.Delete()
	if err := r.SetSplit(ctx, traffic.AllStable()); !errors.Is(err, traffic.ErrNotFound) || canary.Code(err) != canary.NotFound {
		t.Errorf("rollback of a deleted route = %v", err)
	}
	// FailAlways reaches every call until lifted.
	r2 := fake.NewRouter()
	r2.FailAlways("*", injected)
	if err := r2.Release(ctx); !errors.As(err, &fe) {
		t.Errorf("Release with FailAlways = %v", err)
	}
	r2.FailAlways("*", nil)
	if err := r2.Release(ctx); err != nil {
		t.Errorf("Release after FailAlways lifted = %v", err)
	}
}
