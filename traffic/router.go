package traffic

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/meshcanary/canary"
)

// Driver is what a mesh adapter implements: reading and writing one
// object's split. Everything the adapters share — validation, context
// checks, skipping a write that changes nothing, retrying conflicts with
// back-off, checking what the back end stored, wrapping errors — is done
// once, by the Router over the Driver; a Driver does I/O and translation
// only, in the manner of gocloud.dev's driver.Bucket under blob.Bucket.
//
// A Driver is used through [NewRouter], never directly. It must be safe for
// concurrent use.
type Driver interface {
	// Read returns the split in force and a Revision: the driver's record
	// of the object as read, which the Router passes back to Write.
	//
	// When the object exists but carries no split the driver can read
	// (weights that do not sum to 100, say), Read returns the Revision with
	// a non-nil error: SetSplit may still write a split over it, while
	// Split and Release return the error. Otherwise a non-nil error comes
	// with a nil Revision.
	Read(ctx context.Context) (Split, Revision, error)
	// Write puts s in force on the object as v recorded it, pinned to
	// that version: if the object changed since, the write must fail with
	// an error that ErrorCode classifies as [canary.Conflict], and the
	// Router reads again and retries. Write returns the split in force
	// after the write as the back end reports it (the object the write
	// returned, or a read), which the Router compares with s, and the
	// Revision of the object written. When the write went through but the
	// split it stored cannot be read, Write returns that Revision with the
	// reading error, and the Router reports [ErrVerify]. The split s has
	// been validated ([Split.Validate] and, if the driver has one, Check)
	// before Write is called.
	Write(ctx context.Context, v Revision, s Split) (Split, Revision, error)
	// ErrorCode classifies an error returned by Read or Write, typically
	// from the back end's native error (an HTTP status, a Kubernetes
	// reason). Returning [canary.Unknown] lets the Router fall back to
	// [canary.Code].
	ErrorCode(error) canary.ErrorCode
}

// Checker is implemented by a Driver whose back end cannot express every
// valid Split (no mirroring, header names in lower case only). The Router
// calls Check before any I/O; a split it refuses is answered with Check's
// error, normally a *[canary.FieldError], and nothing is sent.
type Checker interface {
	Check(Split) error
}

// Features says which request matches a Driver's back end can carry
// beyond weights, a mirror and a test route (which [Checker] governs).
type Features struct {
	// HeaderMatch: a [Cohort] of exact header matches.
	HeaderMatch bool
	// PrefixMatch and RegexMatch: header matches of those kinds.
	PrefixMatch bool
	RegexMatch  bool
	// CookieMatch: cohort matches on a cookie.
	CookieMatch bool
	// Affinity: session affinity by cookie ([Affinity]).
	Affinity bool
}

// Featurer is implemented by a Driver that can carry a [Cohort] or an
// [Affinity]. A Driver that does not implement it carries neither: the
// Router refuses a split that has one before any I/O, with a
// *[canary.FieldError] naming the field and the object, so a driver
// written before cohorts existed never drops them silently.
type Featurer interface {
	Features() Features
}

// Revision is a Driver's record of the object as it read or wrote it (its
// resourceVersion, or the whole object), opaque to the Router. A nil
// Revision means none.
type Revision any

// Version is the former name of [Revision], kept so that a driver written
// before the rename still compiles.
//
// Deprecated: use [Revision]; Version means one of the two versions of the
// service (package workload).
type Version = Revision

// DefaultRetries is how many times the Router retries a conflicting write
// when Config.Retries is zero.
const DefaultRetries = 4

// DefaultBackoff is the pause between conflict retries when
// Config.Backoff is zero: 10 ms, then five times longer each retry, each
// lengthened at random by up to a tenth, at most a second — the values of
// k8s.io/client-go/util/retry.DefaultBackoff (Duration 10ms, Factor 5.0,
// Jitter 0.1), with a cap.
var DefaultBackoff = Backoff{Duration: 10 * time.Millisecond, Factor: 5, Jitter: 0.1, Cap: time.Second}

// Backoff says how long the Router pauses before each conflict retry, as
// client-go's wait.Backoff does.
type Backoff struct {
	// Duration is the first pause. It must be positive.
	Duration time.Duration
	// Factor multiplies the pause after each retry; below 1 counts as 1.
	Factor float64
	// Jitter lengthens each pause by a random fraction of it, up to
	// Jitter (0.1: up to 10 % longer), so that clients that conflicted
	// together do not retry together. Zero adds none.
	Jitter float64
	// Cap bounds a pause, jitter included. Zero means no bound.
	Cap time.Duration
}

// Pause returns the pause before retry number retry (1 for the first
// retry), with u in [0, 1) drawing the jitter.
func (b Backoff) Pause(retry int, u float64) time.Duration {
	d := float64(b.Duration)
	for i := 1; i < retry; i++ {
		d *= max(b.Factor, 1)
		if b.Cap > 0 && d >= float64(b.Cap) {
			break
		}
	}
	d += d * b.Jitter * u
	if b.Cap > 0 && d > float64(b.Cap) {
		d = float64(b.Cap)
	}
	return time.Duration(d)
}

// Config tune a Router. The zero value is the defaults.
type Config struct {
	// Name names the managed object in error messages, for example
	// "VirtualService shop/reviews". Empty means "route".
	Name string
	// Retries bounds how many times a write that conflicted with another
	// client's is retried, each time after a pause and a fresh read.
	// Zero means [DefaultRetries]; negative means no retry.
	Retries int
	// Backoff sets the pauses between retries. The zero value means
	// [DefaultBackoff].
	Backoff Backoff
	// Sleep waits d, or until ctx is done and then returns ctx.Err().
	// Nil means a timer. Tests pass a function that records d and returns
	// at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for the jitter. Nil means
	// math/rand/v2's Float64.
	Rand func() float64
}

// Router applies splits to a mesh through a Driver. It is the one
// implementation of the contract every adapter shares:
//
//   - a split is validated ([Split.Validate], then the driver's Check) before
//     anything is sent, and refused with a *[canary.FieldError];
//   - a cancelled or expired context is refused before any I/O;
//   - SetSplit of the split already in force costs one read and no write;
//   - a write is pinned to the version read, and a conflict is retried
//     after a pause (Config.Backoff, with jitter) from a fresh read, at
//     most Config.Retries times; then the error matches [ErrConflict];
//   - what the back end stored is compared with what was written: a
//     difference is [ErrVerify], so a caller needs no read after a write;
//   - a rollback, SetSplit(ctx, AllStable()), is written from the version
//     the router saw last, with no read first (one write), falling back to
//     a fresh read only when that version is stale;
//   - errors from the driver are wrapped once, name the object, match
//     [ErrNotFound] or [ErrConflict] by their code ([canary.Code]), and keep the
//     back end's native error reachable with errors.As.
//
// A Router is safe for concurrent use. Build it with [NewRouter]; the zero
// Router is not usable.
type Router struct {
	d       Driver
	check   Checker
	feat    Features
	name    string
	retries int
	backoff Backoff
	sleep   func(context.Context, time.Duration) error
	rand    func() float64

	mu   sync.Mutex
	last Revision // as last read or written, for the one-write rollback
}

// NewRouter returns a Router over d. It panics if d is nil, as a
// programming error.
func NewRouter(d Driver, o Config) *Router {
	if d == nil {
		panic("traffic: NewRouter with a nil Driver")
	}
	r := &Router{d: d, name: o.Name, retries: o.Retries, backoff: o.Backoff, sleep: o.Sleep, rand: o.Rand}
	r.check, _ = d.(Checker)
	if f, ok := d.(Featurer); ok {
		r.feat = f.Features()
	}
	if r.name == "" {
		r.name = "route"
	}
	switch {
	case r.retries == 0:
		r.retries = DefaultRetries
	case r.retries < 0:
		r.retries = 0
	}
	if r.backoff.Duration <= 0 {
		r.backoff = DefaultBackoff
	}
	if r.sleep == nil {
		r.sleep = sleep
	}
	if r.rand == nil {
		r.rand = rand.Float64
	}
	return r
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// SetSplit makes s the split in force (see Router for what it checks,
// retries and verifies). It returns nil only when the back end reports s
// in force after the write, or s was already in force.
func (r *Router) SetSplit(ctx context.Context, s Split) error {
	if err := r.Check(s); err != nil {
		return err
	}
	var fast Revision
	if s == AllStable() {
		// A rollback: one write from the version last seen.
		fast = r.cached()
	}
	return r.update(ctx, "set split of", fast, func(cur Split, readErr error) (Split, bool, error) {
		return s, readErr != nil || cur != s, nil
	})
}

// Check reports, without any I/O, whether the router would take s:
// [Split.Validate], then the driver's [Features] for a cohort or an
// affinity, then the driver's Check. A rollout asks it for every split its
// plan will write before it writes the first, so a plan the router cannot
// express is refused when the rollout is built, not at a later stage.
func (r *Router) Check(s Split) error {
	if err := s.Validate(); err != nil {
		return err
	}
	for i, m := range s.Cohort.Matches() {
		field := fmt.Sprintf("Split.Cohort[%d]", i)
		switch {
		case m.Cookie != "" && !r.feat.CookieMatch:
			return canary.Invalid(field+".Cookie", m.Cookie, "%s cannot route by cookie", r.name)
		case m.Header != "" && !r.feat.HeaderMatch:
			return canary.Invalid(field+".Header", m.Header, "%s cannot route by header", r.name)
		case m.Header != "" && m.EffectiveKind() == Prefix && !r.feat.PrefixMatch:
			return canary.Invalid(field+".Kind", string(m.Kind), "%s cannot match a header by prefix", r.name)
		case m.Header != "" && m.EffectiveKind() == Regex && !r.feat.RegexMatch:
			return canary.Invalid(field+".Kind", string(m.Kind), "%s cannot match a header by regular expression", r.name)
		}
	}
	if !s.Affinity.IsZero() && !r.feat.Affinity {
		return canary.Invalid("Split.Affinity", s.Affinity.Cookie, "%s cannot keep sessions on a version (session affinity)", r.name)
	}
	if r.check != nil {
		return r.check.Check(s)
	}
	return nil
}

// Split reads the split in force. A missing object or route gives an error
// matching [ErrNotFound].
func (r *Router) Split(ctx context.Context) (Split, error) {
	if err := ctx.Err(); err != nil {
		return Split{}, r.wrap("read split of", err, 0)
	}
	s, v, err := r.d.Read(ctx)
	if v != nil {
		r.remember(v)
	}
	if err != nil {
		return Split{}, r.wrap("read split of", err, 0)
	}
	return s, nil
}

// Release removes what the router added for the rollout, the test route
// and the mirror, and keeps the weights. It writes nothing when neither is
// there; releasing twice is harmless.
func (r *Router) Release(ctx context.Context) error {
	return r.update(ctx, "release", nil, func(cur Split, readErr error) (Split, bool, error) {
		if readErr != nil {
			return Split{}, false, readErr
		}
		want := Split{Stable: cur.Stable, Canary: cur.Canary}
		return want, want != cur, nil
	})
}

// update is the read-modify-write loop shared by SetSplit and Release. fast,
// when not nil, is a version to write on without reading first. target maps
// the split read (or the error reading it, with a version) to the split to
// write and whether a write is needed.
func (r *Router) update(ctx context.Context, op string, fast Revision, target func(Split, error) (Split, bool, error)) error {
	if err := ctx.Err(); err != nil {
		return r.wrap(op, err, 0)
	}
	for retry := 0; ; {
		v, fromCache := fast, fast != nil
		fast = nil
		var want Split
		if fromCache {
			want, _, _ = target(Split{}, errNotRead) // the split to write whatever is in force
		} else {
			cur, rv, err := r.d.Read(ctx)
			if rv == nil {
				if err == nil {
					err = errNoVersion
				}
				return r.wrap(op, err, 0)
			}
			r.remember(rv)
			var write bool
			var terr error
			if want, write, terr = target(cur, err); terr != nil {
				return r.wrap(op, terr, 0)
			}
			if !write {
				return nil
			}
			v = rv
		}
		got, wv, err := r.d.Write(ctx, v, want)
		switch {
		case err != nil && wv != nil:
			// Written, but what was stored cannot be read back.
			r.remember(wv)
			return &Error{Op: op, Object: r.name, Code: canary.Conflict, Err: fmt.Errorf("%w: %w", ErrVerify, err)}
		case err == nil:
			r.remember(wv)
			if got != want {
				return &Error{Op: op, Object: r.name, Code: canary.Conflict,
					Err: fmt.Errorf("%w: wrote %v, the back end holds %v", ErrVerify, want, got)}
			}
			return nil
		case r.code(err) != canary.Conflict:
			return r.wrap(op, err, 0)
		case fromCache:
			continue // the version last seen is stale: read it afresh, no pause
		case retry >= r.retries:
			return r.wrap(op, err, retry+1)
		}
		retry++
		if err := r.sleep(ctx, r.backoff.Pause(retry, r.rand())); err != nil {
			return r.wrap(op, err, 0)
		}
	}
}

var (
	// errNotRead stands for the split in force on the one-write path,
	// where it was not read.
	errNotRead = errors.New("traffic: split in force not read")
	// errNoVersion reports a Driver whose Read returned neither a
	// Revision nor an error.
	errNoVersion = errors.New("traffic: the driver's Read returned no version")
)

func (r *Router) code(err error) canary.ErrorCode {
	if c := r.d.ErrorCode(err); c != canary.Unknown && c != canary.OK {
		return c
	}
	return canary.Code(err)
}

// wrap wraps a driver's (or the context's) error once. attempts, when
// positive, is how many writes conflicted.
func (r *Router) wrap(op string, err error, attempts int) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Object: r.name, Code: r.code(err), Err: err, attempts: attempts}
}

func (r *Router) remember(v Revision) {
	r.mu.Lock()
	r.last = v
	r.mu.Unlock()
}

func (r *Router) cached() Revision {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// Error is the error a Router returns when its driver or the context
// fails: it names the operation and the object, carries the code
// ([canary.Code] reads it), matches [ErrNotFound] or [ErrConflict] with errors.Is
// when the code is [canary.NotFound] or [canary.Conflict], and unwraps to the
// driver's error, so errors.As reaches the back end's native error. A
// split refused before any I/O is a *[canary.FieldError] instead.
type Error struct {
	Op     string           // "set split of", "read split of" or "release"
	Object string           // Config.Name
	Code   canary.ErrorCode // the category
	Err    error            // the driver's (or the context's) error

	attempts int // writes that conflicted, when giving up on conflicts
}

func (e *Error) Error() string {
	if e.attempts > 1 {
		return fmt.Sprintf("%s %s: gave up after %d conflicting writes: %v", e.Op, e.Object, e.attempts, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Object, e.Err)
}

// Unwrap returns the driver's error.
func (e *Error) Unwrap() error { return e.Err }

// ErrorCode returns e.Code, for [canary.Code].
func (e *Error) ErrorCode() canary.ErrorCode { return e.Code }

// Is reports whether target is the sentinel of e's code: [ErrNotFound] for
// [canary.NotFound], [ErrConflict] for [canary.Conflict] (but for a failed
// verification, which matches [ErrVerify] instead).
func (e *Error) Is(target error) bool {
	switch e.Code {
	case canary.NotFound:
		return target == ErrNotFound
	case canary.Conflict:
		return target == ErrConflict && !errors.Is(e.Err, ErrVerify)
	}
	return false
}

// Versions names the two versions a rollout moves traffic between, as its
// metric queries name them ({{version}} of package metrics).
type Versions struct {
	Stable, Canary string
	// Measured is set when the router is also the rollout's metrics
	// provider for these versions (an in-process proxy measuring what it
	// routes), so that it can tell whether its measurements know them.
	Measured bool
}

// Facts is what a [Preflighter] tells about its route.
type Facts struct {
	// Ephemeral is set when the split lives only as long as the process
	// that serves it (an in-process proxy): after a restart it is
	// all-stable whatever was written before, which a resumed rollout
	// writes again rather than taking for a change made outside.
	Ephemeral bool
}

// Preflighter is implemented by a router (or by a Driver, which the
// Router's Preflight then asks) that can check once, before a rollout
// writes anything, that it can carry the rollout: for example that its
// destinations for both versions exist. An error names what is wrong,
// normally as a *[canary.FieldError]; Facts say how the route behaves.
// Rollouts call it when they start or resume; a router that cannot tell
// need not implement it.
type Preflighter interface {
	Preflight(ctx context.Context, v Versions) (Facts, error)
}

// Preflight asks the Driver, if it implements [Preflighter]; otherwise
// it returns the zero Facts and nil (nothing to tell). A cancelled or
// expired context is refused.
func (r *Router) Preflight(ctx context.Context, v Versions) (Facts, error) {
	if err := ctx.Err(); err != nil {
		return Facts{}, r.wrap("preflight of", err, 0)
	}
	p, ok := r.d.(Preflighter)
	if !ok {
		return Facts{}, nil
	}
	f, err := p.Preflight(ctx, v)
	if err != nil {
		var fe *canary.FieldError
		if errors.As(err, &fe) {
			return f, err
		}
		return f, r.wrap("preflight of", err, 0)
	}
	return f, nil
}
