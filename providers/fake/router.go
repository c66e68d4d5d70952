package fake

import (
	"context"
	"fmt"

	"github.com/meshcanary/canary/traffic"
)

// Router is an in-memory traffic.Router. Verbs recorded: "set", "get",
// "release".
type Router struct {
	recorder
	split   traffic.Split
	deleted bool
	writes  int
}

// NewRouter returns a Router whose route sends everything to stable.
func NewRouter() *Router { return &Router{split: traffic.AllStable()} }

// SetSplit validates s and stores it.
func (r *Router) SetSplit(ctx context.Context, s traffic.Split) (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() { r.record("set", s, err) }()
	if err := s.Validate(); err != nil {
		return err
	}
	if err := r.begin(ctx, "set"); err != nil {
		return err
	}
	if r.deleted {
		return fmt.Errorf("fake router: %w", traffic.ErrNotFound)
	}
	if tr := s.TestRoute; tr != nil {
		c := *tr
		s.TestRoute = &c
	}
	r.split = s
	r.writes++
	return nil
}

// Split returns the stored split.
func (r *Router) Split(ctx context.Context) (s traffic.Split, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() { r.record("get", nil, err) }()
	if err := r.begin(ctx, "get"); err != nil {
		return traffic.Split{}, err
	}
	if r.deleted {
		return traffic.Split{}, fmt.Errorf("fake router: %w", traffic.ErrNotFound)
	}
	s = r.split
	if tr := s.TestRoute; tr != nil {
		c := *tr
		s.TestRoute = &c
	}
	return s, nil
}

// Release drops the test route and the mirror.
func (r *Router) Release(ctx context.Context) (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() { r.record("release", nil, err) }()
	if err := r.begin(ctx, "release"); err != nil {
		return err
	}
	if r.deleted {
		return fmt.Errorf("fake router: %w", traffic.ErrNotFound)
	}
	if r.split.TestRoute != nil || r.split.Mirror != 0 {
		r.split.TestRoute, r.split.Mirror = nil, 0
		r.writes++
	}
	return nil
}

// Delete makes the route disappear, as if someone deleted the mesh object:
// every later call returns traffic.ErrNotFound.
func (r *Router) Delete() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deleted = true
}

// Current returns the split in force without recording a call.
func (r *Router) Current() traffic.Split {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.split
}

// CanaryWeight returns the canary's weight in force; a Provider built with
// this Router reads it to script series that depend on the weight.
func (r *Router) CanaryWeight() int { return r.Current().Canary }

// Writes returns how many writes changed or re-wrote the route.
func (r *Router) Writes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.writes
}
