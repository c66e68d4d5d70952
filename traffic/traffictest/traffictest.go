package traffictest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
)

// Harness tells the suite how to exercise one Router implementation.
type Harness struct {
	// New returns a Router over a fresh route that sends every request to
	// the stable version. Required. It fails t itself on error.
	New func(ctx context.Context, t *testing.T) traffic.Router
	// Delete removes the object behind r, so that the suite can check
	// traffic.ErrNotFound. Nil skips that test.
	Delete func(ctx context.Context, t *testing.T, r traffic.Router)
	// Break makes r's back end fail its next calls with its native error
	// and returns a pointer for errors.As that the error must match
	// (for example **apierrors.StatusError). Nil skips that test.
	Break func(ctx context.Context, t *testing.T, r traffic.Router) (target any)
	// NoMirror and NoTestRoute skip the tests of features the back end
	// cannot express; SetSplit must then refuse such splits with an error
	// matching canary.ErrInvalid.
	NoMirror, NoTestRoute bool
}

// Run runs the conformance suite against h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("traffictest: Harness.New is nil")
	}
	ctx := func(t *testing.T) context.Context {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		return c
	}
	t.Run("FreshRouteIsAllStable", func(t *testing.T) {
		c := ctx(t)
		r := h.New(c, t)
		mustRead(c, t, r, traffic.AllStable())
	})
	t.Run("ReadBackEqualsLastWrite", func(t *testing.T) {
		c := ctx(t)
		r := h.New(c, t)
		for _, w := range []int{2, 5, 10, 20, 30, 50, 100, 0, 50} {
			s := traffic.Weighted(w)
			if err := r.SetSplit(c, s); err != nil {
				t.Fatalf("SetSplit(%v): %v", s, err)
			}
			mustRead(c, t, r, s)
		}
	})
	t.Run("WritesAreIdempotent", func(t *testing.T) {
		c := ctx(t)
		r := h.New(c, t)
		s := traffic.Weighted(20)
		for i := 0; i < 3; i++ {
			if err := r.SetSplit(c, s); err != nil {
				t.Fatalf("SetSplit #%d: %v", i+1, err)
			}
		}
		mustRead(c, t, r, s)
	})
	t.Run("InvalidSplitIsRefusedAndNothingWritten", func(t *testing.T) {
		c := ctx(t)
		r := h.New(c, t)
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
			{Stable: 100, TestRoute: &traffic.HeaderRoute{Name: "bad header", Value: "x"}},
			{Stable: 100, TestRoute: &traffic.HeaderRoute{Name: "x-canary", Value: "a\nb"}},
			{},
		}
		for _, s := range bad {
			err := r.SetSplit(c, s)
			if !errors.Is(err, canary.ErrInvalid) {
				t.Errorf("SetSplit(%+v) = %v, want an error matching canary.ErrInvalid", s, err)
			}
			var fe *canary.FieldError
			if err != nil && !errors.As(err, &fe) {
				t.Errorf("SetSplit(%+v) error %v is not a *canary.FieldError", s, err)
			}
		}
		mustRead(c, t, r, before)
	})
	if !h.NoMirror {
		t.Run("Mirror", func(t *testing.T) {
			c := ctx(t)
			r := h.New(c, t)
			s := traffic.Split{Stable: 100, Mirror: 25}
			if err := r.SetSplit(c, s); err != nil {
				t.Fatal(err)
			}
			mustRead(c, t, r, s)
		})
	} else {
		t.Run("MirrorRefused", func(t *testing.T) {
			c := ctx(t)
			r := h.New(c, t)
			if err := r.SetSplit(c, traffic.Split{Stable: 100, Mirror: 25}); !errors.Is(err, canary.ErrInvalid) {
				t.Fatalf("SetSplit with a mirror = %v, want canary.ErrInvalid", err)
			}
			mustRead(c, t, r, traffic.AllStable())
		})
	}
	if !h.NoTestRoute {
		t.Run("TestRouteAndRelease", func(t *testing.T) {
			c := ctx(t)
			r := h.New(c, t)
			s := traffic.Split{Stable: 100, TestRoute: &traffic.HeaderRoute{Name: "x-canary", Value: "always"}}
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
		})
	} else {
		t.Run("TestRouteRefused", func(t *testing.T) {
			c := ctx(t)
			r := h.New(c, t)
			s := traffic.Split{Stable: 100, TestRoute: &traffic.HeaderRoute{Name: "x-canary", Value: "always"}}
			if err := r.SetSplit(c, s); !errors.Is(err, canary.ErrInvalid) {
				t.Fatalf("SetSplit with a test route = %v, want canary.ErrInvalid", err)
			}
		})
	}
	t.Run("ReleaseKeepsWeights", func(t *testing.T) {
		c := ctx(t)
		r := h.New(c, t)
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
	})
	t.Run("CancelledContext", func(t *testing.T) {
		c := ctx(t)
		r := h.New(c, t)
		cancelled, cancel := context.WithCancel(c)
		cancel()
		if err := r.SetSplit(cancelled, traffic.Weighted(40)); !isContextErr(err) {
			t.Errorf("SetSplit with a cancelled context = %v, want context.Canceled", err)
		}
		if _, err := r.Split(cancelled); !isContextErr(err) {
			t.Errorf("Split with a cancelled context = %v, want context.Canceled", err)
		}
		mustRead(c, t, r, traffic.AllStable())
	})
	if h.Delete != nil {
		t.Run("MissingRouteIsNotFound", func(t *testing.T) {
			c := ctx(t)
			r := h.New(c, t)
			h.Delete(c, t, r)
			if _, err := r.Split(c); !errors.Is(err, traffic.ErrNotFound) {
				t.Errorf("Split of a deleted route = %v, want traffic.ErrNotFound", err)
			}
			if err := r.SetSplit(c, traffic.Weighted(10)); !errors.Is(err, traffic.ErrNotFound) {
				t.Errorf("SetSplit of a deleted route = %v, want traffic.ErrNotFound", err)
			}
		})
	}
	if h.Break != nil {
		t.Run("NativeErrorReachable", func(t *testing.T) {
			c := ctx(t)
			r := h.New(c, t)
			target := h.Break(c, t, r)
			err := r.SetSplit(c, traffic.Weighted(10))
			if err == nil {
				t.Fatal("SetSplit on a broken back end returned nil")
			}
			if !errors.As(err, target) {
				t.Errorf("errors.As(%v, %T) = false; the native error must stay reachable", err, target)
			}
		})
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func mustRead(ctx context.Context, t *testing.T, r traffic.Router, want traffic.Split) {
	t.Helper()
	got, err := r.Split(ctx)
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	if !got.Equal(want) {
		t.Fatalf("Split read back %v, want %v", got, want)
	}
}
