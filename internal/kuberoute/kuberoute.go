package kuberoute

import (
	"context"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/meshcanary/canary/traffic"
)

// Object reads, remembers and writes one Kubernetes object of type T
// (gatewayv1.HTTPRoute, unstructured.Unstructured…) through the functions
// it is given. Every field must be set before the first call; they must not
// change afterwards. An Object is safe for concurrent use and must not be
// copied after first use.
type Object[T any] struct {
	// Name names the object in error messages, as "Kind namespace/name".
	Name string
	// Get reads the object from the server.
	Get func(context.Context) (*T, error)
	// Update writes the object (a PUT guarded by its resourceVersion) and
	// returns what the server stored.
	Update func(context.Context, *T) (*T, error)
	// SplitOf reads the split an object carries, to verify a write.
	SplitOf func(*T) (traffic.Split, error)
	// DeepCopy copies an object, for the cached copy.
	DeepCopy func(*T) *T
	// Retries bounds the retries after a write conflict; negative means
	// none. It is used as is: callers apply their own default.
	Retries int

	mu   sync.Mutex
	last *T // as last read or written, for a write without a read
}

// wrap adds the object's name and the traffic sentinel matching a server
// error; the *apierrors.StatusError stays reachable with errors.As.
func (o *Object[T]) wrap(op string, err error) error {
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%s %s: %w: %w", op, o.Name, traffic.ErrNotFound, err)
	case apierrors.IsConflict(err):
		return fmt.Errorf("%s %s: %w: %w", op, o.Name, traffic.ErrConflict, err)
	}
	return fmt.Errorf("%s %s: %w", op, o.Name, err)
}

// Read gets the object from the server (one GET) and remembers it. The
// caller owns the object returned and may change it.
func (o *Object[T]) Read(ctx context.Context) (*T, error) {
	obj, err := o.Get(ctx)
	if err != nil {
		return nil, o.wrap("get", err)
	}
	o.remember(obj)
	return obj, nil
}

func (o *Object[T]) remember(obj *T) {
	o.mu.Lock()
	o.last = o.DeepCopy(obj)
	o.mu.Unlock()
}

// Cached returns a copy of the object as last read or written, or nil when
// nothing was read or written yet. The caller owns the copy.
func (o *Object[T]) Cached() *T {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last == nil {
		return nil
	}
	return o.DeepCopy(o.last)
}

// Modify runs a read-modify-write of at most Retries+1 attempts. start,
// when not nil, is used instead of the first read; every later attempt
// reads afresh. modify changes the object in place and reports whether a
// write is needed; its error is returned as is. A conflict on the write
// starts the next attempt; when none is left the error wraps
// traffic.ErrConflict and the last 409. want, when not nil, is checked
// against the object the server returns (traffic.ErrVerify).
func (o *Object[T]) Modify(ctx context.Context, start *T, modify func(*T) (bool, error), want *traffic.Split) error {
	var lastErr error
	attempts := max(o.Retries, 0) + 1
	for attempt := 0; attempt < attempts; attempt++ {
		obj := start
		start = nil
		if obj == nil {
			var err error
			if obj, err = o.Read(ctx); err != nil {
				return err
			}
		}
		write, err := modify(obj)
		if err != nil {
			return err
		}
		if !write {
			return nil
		}
		got, err := o.Update(ctx, obj)
		if apierrors.IsConflict(err) {
			lastErr = err
			continue
		}
		if err != nil {
			return o.wrap("update", err)
		}
		o.remember(got)
		if want != nil {
			read, err := o.SplitOf(got)
			if err != nil {
				return fmt.Errorf("%s: %w: %w", o.Name, traffic.ErrVerify, err)
			}
			if !read.Equal(*want) {
				return fmt.Errorf("%s: %w: wrote %v, the server stored %v", o.Name, traffic.ErrVerify, *want, read)
			}
		}
		return nil
	}
	return fmt.Errorf("update %s: gave up after %d conflicts: %w: %w", o.Name, attempts, traffic.ErrConflict, lastErr)
}
