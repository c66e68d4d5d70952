package traffictest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
)

// Harness tells the suite how to exercise one driver through the portable
// [traffic.Router].
type Harness struct {
	// New returns the driver under test, for a fresh route that sends
	// every request to the stable version, and the Config the suite
	// builds its *[traffic.Router] over it with ([traffic.NewRouter]; the
	// zero Config is the defaults). Required. It fails t itself on
	// error.
	New func(ctx context.Context, t *testing.T) (traffic.Driver, traffic.Config)
	// Delete removes the object behind d, a driver New returned (the
	// same value, so a test can reach its own type with a type
	// assertion), so that the suite can check [traffic.ErrNotFound]. Nil
	// skips that test.
	Delete func(ctx context.Context, t *testing.T, d traffic.Driver)
	// Break makes the back end of d, a driver New returned, fail its
	// next calls with its native error and returns a pointer for
	// errors.As that the error must match (for example
	// **apierrors.StatusError). Nil skips that test.
	Break func(ctx context.Context, t *testing.T, d traffic.Driver) (target any)
	// NoMirror and NoTestRoute skip the tests of features the back end
	// cannot express; SetSplit must then refuse such splits with an error
	// matching [canary.ErrInvalid].
	NoMirror, NoTestRoute bool
	// Features, when set, is what the driver must declare
	// ([traffic.Featurer]): the suite fails when the Router's Check takes a
	// cohort match or an affinity the driver should refuse, or refuses one
	// it should take. Nil leaves the suite to learn the features from
	// Check alone; either way a shape's test writes the shape when Check
	// takes it and otherwise checks that it is refused before any write.
	Features *traffic.Features
}

// Run runs every test of the suite against h, each as a subtest named
// after its function.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("traffictest: Harness.New is nil")
	}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"FreshRouteIsAllStable", TestFreshRouteIsAllStable},
		{"ReadBackEqualsLastWrite", TestReadBackEqualsLastWrite},
		{"WritesAreIdempotent", TestWritesAreIdempotent},
		{"InvalidSplitIsRefusedAndNothingWritten", TestInvalidSplitIsRefusedAndNothingWritten},
		{"Mirror", TestMirror},
		{"TestRouteAndRelease", TestTestRouteAndRelease},
		{"ReleaseKeepsWeights", TestReleaseKeepsWeights},
		{"CancelledContext", TestCancelledContext},
		{"MissingRouteIsNotFound", TestMissingRouteIsNotFound},
		{"NativeErrorReachable", TestNativeErrorReachable},
		{"CohortHeaderExact", TestCohortHeaderExact},
		{"CohortHeaderPrefix", TestCohortHeaderPrefix},
		{"CohortHeaderRegex", TestCohortHeaderRegex},
		{"CohortCookie", TestCohortCookie},
		{"Affinity", TestAffinity},
		{"AllShapesTogether", TestAllShapesTogether},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

// open builds the Router under test over a fresh driver from h.New and
// returns both.
func (h Harness) open(ctx context.Context, t *testing.T) (*traffic.Router, traffic.Driver) {
	t.Helper()
	d, o := h.New(ctx, t)
	if d == nil {
		t.Fatal("traffictest: Harness.New returned a nil driver")
	}
	return traffic.NewRouter(d, o), d
}

func testCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestFreshRouteIsAllStable: a fresh route reads back as AllStable.
func TestFreshRouteIsAllStable(t *testing.T, h Harness) {
	c := testCtx(t)
	r, _ := h.open(c, t)
	mustRead(c, t, r, traffic.AllStable())
}

// TestReadBackEqualsLastWrite: Split returns the split last written.
func TestReadBackEqualsLastWrite(t *testing.T, h Harness) {
	c := testCtx(t)
	r, _ := h.open(c, t)
	for _, w := range []int{2, 5, 10, 20, 30, 50, 100, 0, 50} {
		s := traffic.Weighted(w)
		if err := r.SetSplit(c, s); err != nil {
			t.Fatalf("SetSplit(%v): %v", s, err)
		}
		mustRead(c, t, r, s)
	}
}

// TestWritesAreIdempotent: writing the split in force again is harmless.
func TestWritesAreIdempotent(t *testing.T, h Harness) {
	c := testCtx(t)
	r, _ := h.open(c, t)
	s := traffic.Weighted(20)
	for i := 0; i < 3; i++ {
		if err := r.SetSplit(c, s); err != nil {
			t.Fatalf("SetSplit #%d: %v", i+1, err)
		}
	}
	mustRead(c, t, r, s)
}

// TestInvalidSplitIsRefusedAndNothingWritten: an invalid split is a
// *[canary.FieldError] and the split in force stays.
func TestInvalidSplitIsRefusedAndNothingWritten(t *testing.T, h Harness) {
	c := testCtx(t)
	r, _ := h.open(c, t)
	before := traffic.Weighted(10)
	if err := r.SetSplit(c, before); err != nil {
		t.Fatal(err)
	}
	bad := []traffic.Split{
		{Stable: 0, Canary: 101},
		{Stable: 50, Canary: 49},
		{Stable: -10, Canary: 110},
		{Stable: 90, Canary: 10, Mirror: -1},
		{Stable: 90, Canary: 10, Mirror: 101},
		{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "bad header", Value: "x"}},
		{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "a\nb"}},
		{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "\xff"}},
		{},
	}
	for _, s := range bad {
		err := r.SetSplit(c, s)
		if !errors.Is(err, canary.ErrInvalid) || canary.Code(err) != canary.InvalidArgument {
			t.Errorf("SetSplit(%+v) = %v, want an error matching canary.ErrInvalid", s, err)
		}
		var fe *canary.FieldError
		if err != nil && !errors.As(err, &fe) {
			t.Errorf("SetSplit(%+v) error %v is not a *canary.FieldError", s, err)
		}
	}
	mustRead(c, t, r, before)
}

// TestMirror: a mirror is written and read back, or, with
// Harness.NoMirror, refused as invalid.
func TestMirror(t *testing.T, h Harness) {
	c := testCtx(t)
	r, _ := h.open(c, t)
	s := traffic.Split{Stable: 100, Mirror: 25}
	if h.NoMirror {
		if err := r.SetSplit(c, s); !errors.Is(err, canary.ErrInvalid) {
			t.Fatalf("SetSplit with a mirror = %v, want canary.ErrInvalid", err)
		}
		mustRead(c, t, r, traffic.AllStable())
		return
	}
	if err := r.SetSplit(c, s); err != nil {
		t.Fatal(err)
	}
	mustRead(c, t, r, s)
}

// TestTestRouteAndRelease: a test route is written and read back with the
// weights changing under it, and Release (twice) drops it and the mirror
// and keeps the weights; with Harness.NoTestRoute it is refused.
func TestTestRouteAndRelease(t *testing.T, h Harness) {
	c := testCtx(t)
	r, _ := h.open(c, t)
	s := traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "always"}}
	if h.NoTestRoute {
		if err := r.SetSplit(c, s); !errors.Is(err, canary.ErrInvalid) {
			t.Fatalf("SetSplit with a test route = %v, want canary.ErrInvalid", err)
		}
		return
	}
	if !h.NoMirror {
		s.Mirror = 10
	}
	if err := r.SetSplit(c, s); err != nil {
		t.Fatal(err)
	}
	mustRead(c, t, r, s)
	s.Stable, s.Canary = 70, 30
	if err := r.SetSplit(c, s); err != nil {
		t.Fatal(err)
	}
	mustRead(c, t, r, s)
	for i := 0; i < 2; i++ {
		if err := r.Release(c); err != nil {
			t.Fatalf("Release #%d: %v", i+1, err)
		}
		mustRead(c, t, r, traffic.Weighted(30))
	}
}

// TestReleaseKeepsWeights: Release of an unused router is harmless and
// Release never changes the weights.
func TestReleaseKeepsWeights(t *testing.T, h Harness) {
	c := testCtx(t)
	r, _ := h.open(c, t)
	if err := r.Release(c); err != nil {
		t.Fatalf("Release of an unused router: %v", err)
	}
	mustRead(c, t, r, traffic.AllStable())
	if err := r.SetSplit(c, traffic.Weighted(100)); err != nil {
		t.Fatal(err)
	}
	if err := r.Release(c); err != nil {
		t.Fatal(err)
	}
	mustRead(c, t, r, traffic.Weighted(100))
}

// TestCancelledContext: a cancelled context is refused and nothing is
// written.
func TestCancelledContext(t *testing.T, h Harness) {
	c := testCtx(t)
	r, _ := h.open(c, t)
	cancelled, cancel := context.WithCancel(c)
	cancel()
	if err := r.SetSplit(cancelled, traffic.Weighted(40)); !isContextErr(err) {
		t.Errorf("SetSplit with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := r.Split(cancelled); !isContextErr(err) {
		t.Errorf("Split with a cancelled context = %v, want context.Canceled", err)
	}
	if err := r.Release(cancelled); !isContextErr(err) {
		t.Errorf("Release with a cancelled context = %v, want context.Canceled", err)
	}
	mustRead(c, t, r, traffic.AllStable())
}

// TestMissingRouteIsNotFound: after Harness.Delete, reads and writes (the
// rollback included) match [traffic.ErrNotFound] and have the code
// [canary.NotFound]. Skipped without Harness.Delete.
func TestMissingRouteIsNotFound(t *testing.T, h Harness) {
	if h.Delete == nil {
		t.Skip("Harness.Delete is nil")
	}
	c := testCtx(t)
	r, d := h.open(c, t)
	if err := r.SetSplit(c, traffic.Weighted(5)); err != nil {
		t.Fatal(err)
	}
	h.Delete(c, t, d)
	if _, err := r.Split(c); !errors.Is(err, traffic.ErrNotFound) || canary.Code(err) != canary.NotFound {
		t.Errorf("Split of a deleted route = %v, want traffic.ErrNotFound", err)
	}
	for _, s := range []traffic.Split{traffic.Weighted(10), traffic.AllStable()} {
		if err := r.SetSplit(c, s); !errors.Is(err, traffic.ErrNotFound) || canary.Code(err) != canary.NotFound {
			t.Errorf("SetSplit(%v) of a deleted route = %v, want traffic.ErrNotFound", s, err)
		}
	}
}

// TestNativeErrorReachable: after Harness.Break, the error of SetSplit
// reaches the back end's native error with errors.As. Skipped without
// Harness.Break.
func TestNativeErrorReachable(t *testing.T, h Harness) {
	if h.Break == nil {
		t.Skip("Harness.Break is nil")
	}
	c := testCtx(t)
	r, d := h.open(c, t)
	target := h.Break(c, t, d)
	err := r.SetSplit(c, traffic.Weighted(10))
	if err == nil {
		t.Fatal("SetSplit on a broken back end returned nil")
	}
	if !errors.As(err, target) {
		t.Errorf("errors.As(%v, %T) = false; the native error must stay reachable", err, target)
	}
	if canary.Code(err) == canary.OK {
		t.Errorf("canary.Code(%v) = OK", err)
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func mustRead(ctx context.Context, t *testing.T, r *traffic.Router, want traffic.Split) {
	t.Helper()
	got, err := r.Split(ctx)
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	if got != want {
		t.Fatalf("Split read back %v, want %v", got, want)
	}
}
