package istio

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kuberoute"
	"github.com/meshcanary/canary/traffic"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"istio.io/client-go/pkg/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Driver is the [traffic.Driver] over one HTTP route of a
// networking.istio.io/v1 VirtualService. Use it through the
// *[traffic.Router] that New returns (or traffic.NewRouter(d, …)); its own
// methods are for GitOps (Desired, Render) and for checking the subsets
// ahead of time (EnsureSubsets). It is safe for concurrent use.
type Driver struct {
	client versioned.Interface
	cfg    Config

	mu        sync.Mutex
	subsetsOK bool // EnsureSubsets succeeded
}

var (
	_ traffic.Driver   = (*Driver)(nil)
	_ traffic.Checker  = (*Driver)(nil)
	_ traffic.Featurer = (*Driver)(nil)
)

// Features says what the driver carries beyond weights, a mirror and a
// test route (a [traffic.Featurer] method): a cohort of header matches of
// every kind (HTTPMatchRequest.headers exact, prefix, regex) and of
// cookies (a regex on the cookie header, [traffic.CookieRegex]), and
// session affinity.
func (r *Driver) Features() traffic.Features {
	return traffic.Features{HeaderMatch: true, PrefixMatch: true, RegexMatch: true, CookieMatch: true, Affinity: true}
}

// New returns a *[traffic.Router] over the route cfg names, talking to the
// cluster through client. It validates cfg (a *[canary.FieldError] names the
// bad field) and sends no request. Conflicting writes are retried
// Config.Retries times, with [traffic.DefaultBackoff] between attempts.
func New(client versioned.Interface, cfg Config) (*traffic.Router, error) {
	return kuberoute.Router(NewDriver(client, cfg))
}

// NewDriver returns the Driver that New wraps, for GitOps (Desired,
// Render), EnsureSubsets, or a [traffic.Router] with other Options. It
// validates cfg and sends no request.
func NewDriver(client versioned.Interface, cfg Config) (*Driver, error) {
	if client == nil {
		return nil, canary.Invalid("client", nil, "must not be nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Driver{client: client, cfg: cfg}, nil
}

// RouterConfig returns the [traffic.Config] New uses: the object's name for
// errors and Config.Retries.
func (r *Driver) RouterConfig() traffic.Config {
	return traffic.Config{Name: fmt.Sprintf("VirtualService %s/%s", r.cfg.Namespace, r.cfg.VirtualService), Retries: r.cfg.Retries}
}

// Config returns the configuration the driver was built with.
func (r *Driver) Config() Config { return r.cfg }

func (r *Driver) get(ctx context.Context) (*networkingv1.VirtualService, error) {
	return r.client.NetworkingV1().VirtualServices(r.cfg.Namespace).Get(ctx, r.cfg.VirtualService, metav1.GetOptions{})
}

// Read gets the VirtualService and parses the split in force (a
// [traffic.Driver] method). A missing VirtualService is the server's 404; a
// missing managed route is an *ObjectError wrapping [traffic.ErrNotFound]; a
// route the driver cannot read is an *ObjectError naming the field,
// returned with the object so that a write may replace it.
func (r *Driver) Read(ctx context.Context) (traffic.Split, traffic.Revision, error) {
	vs, err := r.get(ctx)
	if err != nil {
		return traffic.Split{}, nil, err
	}
	s, _, err := r.parse(vs)
	return s, vs, err
}

// Check refuses what Istio cannot express (a [traffic.Checker] method): a
// test or cohort header name in upper case (Istio matches header names in
// lower case), and a regex match on the cookie header that is a cookie
// match's own expression (it would read back as the cookie match).
func (r *Driver) Check(s traffic.Split) error { return validateSplit(s) }

// Write puts s in force on the VirtualService v (a [traffic.Driver] method):
// one JSON Patch that changes only the managed route's weights, mirror and
// canary Set-Cookie and the router's own routes (test, cohort, session), pinned to v's resourceVersion. Unless s is
// traffic.AllStable() (a rollback is never held up by a subset check), it
// first checks the DestinationRule subsets once per Driver (see
// EnsureSubsets).
func (r *Driver) Write(ctx context.Context, v traffic.Revision, s traffic.Split) (traffic.Split, traffic.Revision, error) {
	vs, ok := v.(*networkingv1.VirtualService)
	if !ok || vs == nil {
		return traffic.Split{}, nil, fmt.Errorf("istio: Write with a version of type %T", v)
	}
	if s != traffic.AllStable() {
		if err := r.ensureSubsetsOnce(ctx); err != nil {
			return traffic.Split{}, nil, err
		}
	}
	_, ops, err := r.render(vs, s)
	if err != nil {
		return traffic.Split{}, nil, err
	}
	out, err := r.patch(ctx, vs, ops)
	if err != nil {
		return traffic.Split{}, nil, kuberoute.PatchError(ctx, err, vs.ResourceVersion, func(ctx context.Context) (string, error) {
			fresh, err := r.get(ctx)
			if err != nil {
				return "", err
			}
			return fresh.ResourceVersion, nil
		})
	}
	got, _, err := r.parse(out)
	return got, out, err
}

// ErrorCode classifies the API server's errors (a [traffic.Driver] method).
func (r *Driver) ErrorCode(err error) canary.ErrorCode { return kuberoute.Code(err) }

// patch sends ops as one JSON Patch pinned to vs's resourceVersion: the
// server refuses it with 409 Conflict if the object changed since.
func (r *Driver) patch(ctx context.Context, vs *networkingv1.VirtualService, ops []patchOp) (*networkingv1.VirtualService, error) {
	all := append([]patchOp{{"add", "/metadata/resourceVersion", vs.ResourceVersion}}, ops...)
	body, err := json.Marshal(all)
	if err != nil {
		return nil, fmt.Errorf("istio: encode patch: %w", err)
	}
	return r.client.NetworkingV1().VirtualServices(r.cfg.Namespace).Patch(ctx, r.cfg.VirtualService, types.JSONPatchType, body,
		metav1.PatchOptions{FieldManager: canary.FieldManager})
}

// Desired reads the VirtualService and returns it as a write of s would
// make it, without writing anything: for GitOps set-ups where Argo CD or
// Flux owns the object and the change goes through a repository. Only the
// managed route's weights, mirror and canary Set-Cookie and the router's
// own routes differ from the object read. It does not check the DestinationRule subsets.
func (r *Driver) Desired(ctx context.Context, s traffic.Split) (*networkingv1.VirtualService, error) {
	if err := validateSplit(s); err != nil {
		return nil, err
	}
	vs, err := r.get(ctx)
	if err != nil {
		return nil, kuberoute.Wrap(err)
	}
	return r.Render(vs, s)
}

// Render returns a copy of vs with s in force, as a write would make it,
// with no I/O: for a VirtualService read from a Git repository or a
// manifest. vs is not modified. Errors are a *[canary.FieldError] for a bad
// s, or an *ObjectError naming the field of vs that cannot be managed.
func (r *Driver) Render(vs *networkingv1.VirtualService, s traffic.Split) (*networkingv1.VirtualService, error) {
	if vs == nil {
		return nil, canary.Invalid("vs", nil, "must not be nil")
	}
	if err := validateSplit(s); err != nil {
		return nil, err
	}
	out, _, err := r.render(vs, s)
	return out, err
}
