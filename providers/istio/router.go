package istio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/traffic"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Router is a traffic.Router over one HTTP route of a networking.istio.io/v1
// VirtualService. It is safe for concurrent use.
type Router struct {
	client versioned.Interface
	cfg    Config

	mu        sync.Mutex
	last      *networkingv1.VirtualService // last object read or written
	subsetsOK bool                         // EnsureSubsets succeeded
}

var _ traffic.Router = (*Router)(nil)

// New returns a Router over the route cfg names, talking to the cluster
// through client. It validates cfg (a *canary.FieldError names the bad
// field) and sends no request.
func New(client versioned.Interface, cfg Config) (*Router, error) {
	if client == nil {
		return nil, canary.Invalid("client", nil, "must not be nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Router{client: client, cfg: cfg}, nil
}

// Config returns the configuration the router was built with.
func (r *Router) Config() Config { return r.cfg }

func (r *Router) wrap(verb string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("istio: %s VirtualService %s/%s: %w", verb, r.cfg.Namespace, r.cfg.VirtualService, err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("istio: %s VirtualService %s/%s: %w: %w", verb, r.cfg.Namespace, r.cfg.VirtualService, traffic.ErrNotFound, err)
	}
	return fmt.Errorf("istio: %s VirtualService %s/%s: %w", verb, r.cfg.Namespace, r.cfg.VirtualService, err)
}

func (r *Router) get(ctx context.Context) (*networkingv1.VirtualService, error) {
	if err := ctx.Err(); err != nil {
		return nil, r.wrap("get", err)
	}
	vs, err := r.client.NetworkingV1().VirtualServices(r.cfg.Namespace).Get(ctx, r.cfg.VirtualService, metav1.GetOptions{})
	if err != nil {
		return nil, r.wrap("get", err)
	}
	r.remember(vs)
	return vs, nil
}

func (r *Router) remember(vs *networkingv1.VirtualService) {
	r.mu.Lock()
	r.last = vs
	r.mu.Unlock()
}

func (r *Router) cached() *networkingv1.VirtualService {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// Split reads the VirtualService and returns the split in force. A missing
// VirtualService or managed route gives an error wrapping
// traffic.ErrNotFound; a route the router cannot read gives an
// *ObjectError naming the field.
func (r *Router) Split(ctx context.Context) (traffic.Split, error) {
	vs, err := r.get(ctx)
	if err != nil {
		return traffic.Split{}, err
	}
	s, _, err := r.parse(vs)
	return s, err
}

// SetSplit puts s in force. It validates s first (a *canary.FieldError,
// and nothing is written), checks the DestinationRule subsets once per
// Router (see EnsureSubsets; skipped for traffic.AllStable()), then reads the VirtualService and, unless s
// is already in force, writes one JSON Patch that changes only the
// managed route's weights and mirror and the test route, pinned to the
// resourceVersion it read. A conflict is retried after a fresh read, at
// most Config.Retries times; then the error wraps traffic.ErrConflict. The
// object the server returns is checked to carry s (traffic.ErrVerify).
//
// Rolling back, s == traffic.AllStable(), skips the read when the router
// has seen the object before: one write, pinned to the version last seen,
// falling back to a fresh read only if that version is stale.
func (r *Router) SetSplit(ctx context.Context, s traffic.Split) error {
	if err := validateSplit(s); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return r.wrap("set split of", err)
	}
	var fast *networkingv1.VirtualService
	if s.Equal(traffic.AllStable()) {
		// A rollback is never held up by a subset check.
		fast = r.cached()
	} else if err := r.ensureSubsetsOnce(ctx); err != nil {
		return err
	}
	return r.update(ctx, "set split of", fast, func(traffic.Split) traffic.Split { return s }, true)
}

// Release removes the test route and the mirror to the canary and leaves
// the weights as they are. It writes nothing when neither is there.
func (r *Router) Release(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return r.wrap("release", err)
	}
	return r.update(ctx, "release", nil, func(cur traffic.Split) traffic.Split {
		cur.Mirror, cur.TestRoute = 0, nil
		return cur
	}, false)
}

// update is the read-modify-write loop. fast, when not nil, is a version
// of the object to patch without reading first. want maps the split in
// force to the one to write; independent says that want ignores the split
// in force, so that a split the router cannot read does not block a write
// that replaces it.
func (r *Router) update(ctx context.Context, verb string, fast *networkingv1.VirtualService, want func(traffic.Split) traffic.Split, independent bool) error {
	var lastErr error
	next := fast
	for attempt := 0; attempt <= r.cfg.retries(); attempt++ {
		if attempt > 0 {
			if err := pause(ctx, attempt); err != nil {
				return r.wrap(verb, err)
			}
		}
		vs := next
		next = nil
		if vs == nil {
			var err error
			if vs, err = r.get(ctx); err != nil {
				return err
			}
		}
		var target traffic.Split
		if independent {
			target = want(traffic.Split{})
		} else {
			cur, _, err := r.parse(vs)
			if err != nil {
				return err
			}
			target = want(cur)
		}
		_, ops, err := r.render(vs, target)
		if err != nil {
			return err
		}
		if len(ops) == 0 && vs != fast {
			return nil // already in force, read just now
		}
		out, err := r.patch(ctx, vs, ops)
		switch {
		case err == nil:
			r.remember(out)
			got, _, perr := r.parse(out)
			if perr != nil {
				return fmt.Errorf("%w: %w", traffic.ErrVerify, perr)
			}
			if !got.Equal(target) {
				return fmt.Errorf("istio: VirtualService %s/%s: %w: wrote %v, server returned %v", r.cfg.Namespace, r.cfg.VirtualService, traffic.ErrVerify, target, got)
			}
			return nil
		case apierrors.IsConflict(err):
			lastErr = err
			continue
		case apierrors.IsInvalid(err):
			// A patch computed from a stale version can fail to apply
			// (an index that moved) before the server's version check.
			// Read again: a new version means a conflict, the same one
			// means the server refused the value.
			fresh, gerr := r.get(ctx)
			if gerr != nil {
				return gerr
			}
			if fresh.ResourceVersion != vs.ResourceVersion {
				lastErr, next = err, fresh
				continue
			}
		}
		return r.wrap(verb, err)
	}
	return fmt.Errorf("istio: %s VirtualService %s/%s: gave up after %d attempts: %w: %w",
		verb, r.cfg.Namespace, r.cfg.VirtualService, r.cfg.retries()+1, traffic.ErrConflict, lastErr)
}

// patch sends ops as one JSON Patch pinned to vs's resourceVersion: the
// server refuses it with 409 Conflict if the object changed since.
func (r *Router) patch(ctx context.Context, vs *networkingv1.VirtualService, ops []patchOp) (*networkingv1.VirtualService, error) {
	all := append([]patchOp{{"add", "/metadata/resourceVersion", vs.ResourceVersion}}, ops...)
	body, err := json.Marshal(all)
	if err != nil {
		return nil, fmt.Errorf("istio: encode patch: %w", err)
	}
	return r.client.NetworkingV1().VirtualServices(r.cfg.Namespace).Patch(ctx, r.cfg.VirtualService, types.JSONPatchType, body, metav1.PatchOptions{})
}

// pause waits a little before a retry, longer each attempt.
func pause(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(attempt*attempt) * 5 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Desired reads the VirtualService and returns it as SetSplit would write
// it for s, without writing anything: for GitOps set-ups where Argo CD or
// Flux owns the object and the change goes through a repository. Only the
// managed route's weights and mirror and the test route differ from the
// object read. It does not check the DestinationRule subsets.
func (r *Router) Desired(ctx context.Context, s traffic.Split) (*networkingv1.VirtualService, error) {
	if err := validateSplit(s); err != nil {
		return nil, err
	}
	vs, err := r.get(ctx)
	if err != nil {
		return nil, err
	}
	return r.Render(vs, s)
}

// Render returns a copy of vs with s in force, as SetSplit would write it,
// with no I/O: for a VirtualService read from a Git repository or a
// manifest. vs is not modified. Errors are a *canary.FieldError for a bad
// s, or an *ObjectError naming the field of vs that cannot be managed.
func (r *Router) Render(vs *networkingv1.VirtualService, s traffic.Split) (*networkingv1.VirtualService, error) {
	if vs == nil {
		return nil, canary.Invalid("vs", nil, "must not be nil")
	}
	if err := validateSplit(s); err != nil {
		return nil, err
	}
	out, _, err := r.render(vs, s)
	return out, err
}
