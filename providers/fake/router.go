package fake

import (
	"context"
	"fmt"
	"sync"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
)

// Router is an in-memory router for tests: a *[traffic.Router] over an
// in-memory driver, so that it validates, skips, verifies and wraps errors
// exactly as the mesh adapters do, plus the recording and error injection
// of every fake. Verbs recorded, one per call of the method: "set"
// (SetSplit), "get" (Split), "release" (Release).
//
// An error injected with Fail or FailAlways is returned by the in-memory
// back end on the call's first read or write, so it reaches the caller
// wrapped by the [traffic.Router] (as a *[traffic.Error], errors.As still
// reaching the injected error), as a mesh's own error would. A call refused
// before any I/O (an invalid split, a cancelled context) does not consume
// an injected error.
type Router struct {
	recorder
	calls sync.Mutex // one call at a time, so an injected error meets its call
	d     *routeDriver
	r     *traffic.Router
}

// NewRouter returns a Router whose route sends everything to stable.
func NewRouter() *Router {
	d := &routeDriver{split: traffic.AllStable()}
	return &Router{d: d, r: traffic.NewRouter(d, traffic.Config{Name: "fake route"})}
}

// SetSplit puts s in force through the [traffic.Router] (see
// [traffic.Router.SetSplit]).
func (r *Router) SetSplit(ctx context.Context, s traffic.Split) error {
	return r.call(ctx, "set", s, s.Validate() == nil, func() error { return r.r.SetSplit(ctx, s) })
}

// Check reports, without any I/O and without recording a call, whether
// the router would take s (see [traffic.Router.Check]); a Rollout asks it
// for every split its plan will write. The in-memory route carries every
// split: cohorts, affinity, mirror and test route.
func (r *Router) Check(s traffic.Split) error { return r.r.Check(s) }

// Split returns the split in force.
func (r *Router) Split(ctx context.Context) (s traffic.Split, err error) {
	err = r.call(ctx, "get", nil, true, func() error {
		var err error
		s, err = r.r.Split(ctx)
		return err
	})
	return s, err
}

// Release drops the test route and the mirror and keeps the weights.
func (r *Router) Release(ctx context.Context) error {
	return r.call(ctx, "release", nil, true, func() error { return r.r.Release(ctx) })
}

// call runs one method: it hands the injected error (if any) to the back
// end, runs do and records the call.
func (r *Router) call(ctx context.Context, verb string, arg any, valid bool, do func() error) error {
	r.calls.Lock()
	defer r.calls.Unlock()
	var injected error
	if valid && ctx.Err() == nil {
		r.mu.Lock()
		injected = r.take(verb)
		r.mu.Unlock()
	}
	r.d.arm(injected)
	err := do()
	r.d.arm(nil)
	r.mu.Lock()
	r.record(verb, arg, err)
	r.mu.Unlock()
	return err
}

// take pops the error injected for verb, if any; r.mu must be held.
func (r *recorder) take(verb string) error {
	for _, v := range []string{verb, "*"} {
		if err := r.always[v]; err != nil {
			return err
		}
		if q := r.fail[v]; len(q) > 0 {
			r.fail[v] = q[1:]
			if q[0] != nil {
				return q[0]
			}
		}
	}
	return nil
}

// SetVersions makes Preflight refuse a rollout whose versions are not
// stable and canary (a mesh whose destinations for other versions do not
// exist). By default every name is accepted.
func (r *Router) SetVersions(stable, canary string) {
	r.d.mu.Lock()
	r.d.versions = &traffic.Versions{Stable: stable, Canary: canary}
	r.d.mu.Unlock()
}

// SetEphemeral makes Preflight report the route ephemeral, as an
// in-process proxy's is (see [traffic.Facts]).
func (r *Router) SetEphemeral(on bool) {
	r.d.mu.Lock()
	r.d.ephemeral = on
	r.d.mu.Unlock()
}

// Preflight implements [traffic.Preflighter] through the
// [traffic.Router]: it refuses versions other than those given to
// SetVersions (if any) and reports the route ephemeral after
// SetEphemeral(true). It records nothing.
func (r *Router) Preflight(ctx context.Context, v traffic.Versions) (traffic.Facts, error) {
	return r.r.Preflight(ctx, v)
}

// Delete makes the route disappear, as if someone deleted the mesh object:
// every later call returns an error matching [traffic.ErrNotFound].
func (r *Router) Delete() { r.d.delete() }

// Current returns the split in force without recording a call.
func (r *Router) Current() traffic.Split {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	return r.d.split
}

// CanaryWeight returns the canary's weight in force; a Provider built with
// this Router reads it to script series that depend on the weight.
func (r *Router) CanaryWeight() int { return r.Current().Canary }

// Writes returns how many writes reached the in-memory route. A SetSplit
// of the split already in force, or a Release with nothing to release,
// writes nothing.
func (r *Router) Writes() int {
	r.d.mu.Lock()
	defer r.d.mu.Unlock()
	return r.d.writes
}

// errDeleted is the back end's answer for a deleted route.
var errDeleted = fmt.Errorf("fake router: route deleted: %w", traffic.ErrNotFound)

// routeDriver is the in-memory [traffic.Driver] behind Router.
type routeDriver struct {
	mu      sync.Mutex
	split   traffic.Split
	version int
	deleted bool
	writes  int
	armed   error // returned by the next read or write

	versions  *traffic.Versions // the only versions Preflight accepts; nil: any
	ephemeral bool
}

func (d *routeDriver) Preflight(_ context.Context, v traffic.Versions) (traffic.Facts, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := traffic.Facts{Ephemeral: d.ephemeral}
	if d.deleted {
		return f, errDeleted
	}
	if w := d.versions; w != nil {
		if v.Stable != w.Stable {
			return f, canary.Invalid("Versions.Stable", v.Stable, "the fake route has no destination for it (it routes to %q)", w.Stable)
		}
		if v.Canary != w.Canary {
			return f, canary.Invalid("Versions.Canary", v.Canary, "the fake route has no destination for it (it routes to %q)", w.Canary)
		}
	}
	return f, nil
}

// Features declares that the in-memory route carries every match and
// session affinity (a [traffic.Featurer] method).
func (d *routeDriver) Features() traffic.Features {
	return traffic.Features{HeaderMatch: true, PrefixMatch: true, RegexMatch: true, CookieMatch: true, Affinity: true}
}

func (d *routeDriver) arm(err error) {
	d.mu.Lock()
	d.armed = err
	d.mu.Unlock()
}

func (d *routeDriver) delete() {
	d.mu.Lock()
	d.deleted = true
	d.mu.Unlock()
}

// fault returns the armed error, once, or the deleted route's; d.mu must
// be held.
func (d *routeDriver) fault() error {
	if err := d.armed; err != nil {
		d.armed = nil
		return err
	}
	if d.deleted {
		return errDeleted
	}
	return nil
}

func (d *routeDriver) Read(context.Context) (traffic.Split, traffic.Revision, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.fault(); err != nil {
		return traffic.Split{}, nil, err
	}
	return d.split, d.version, nil
}

func (d *routeDriver) Write(_ context.Context, v traffic.Revision, s traffic.Split) (traffic.Split, traffic.Revision, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.fault(); err != nil {
		return traffic.Split{}, nil, err
	}
	if v != d.version {
		return traffic.Split{}, nil, canary.WithCode(canary.Conflict, fmt.Errorf("fake router: version %v is stale (now %d)", v, d.version))
	}
	d.split = s
	d.version++
	d.writes++
	return d.split, d.version, nil
}

func (d *routeDriver) ErrorCode(err error) canary.ErrorCode { return canary.Code(err) }
