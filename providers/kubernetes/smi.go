package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kuberoute"
	"github.com/meshcanary/canary/traffic"
)

// SMIAPIVersions are the split.smi-spec.io API versions the TrafficSplit router
// writes. Open Service Mesh serves v1alpha2
// (cmd/osm-bootstrap/crds/smi_traffic_split.yaml, OSM v1.2), Linkerd's SMI
// extension v1alpha1 and v1alpha2, the SMI SDK's own CRD v1alpha4
// (github.com/servicemeshinterface/smi-sdk-go crds/split.yaml); in all
// three the backends are {service, weight} with an integer weight
// (https://github.com/servicemeshinterface/smi-spec/blob/main/apis/traffic-split/v1alpha4/traffic-split.md).
// v1alpha1, whose weights are quantities ("500m"), is not written.
var SMIAPIVersions = []string{"v1alpha2", "v1alpha3", "v1alpha4"}

// TrafficSplits returns the TrafficSplit resource of an SMI API version
// (one of SMIAPIVersions).
func TrafficSplits(apiVersion string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "split.smi-spec.io", Version: apiVersion, Resource: "trafficsplits"}
}

// TrafficSplitConfig names the TrafficSplit and its two backends.
type TrafficSplitConfig struct {
	// Namespace and TrafficSplit name the object. Required.
	Namespace, TrafficSplit string
	// Service is the root (apex) Service the clients call: the split's
	// spec.service must be it. Required.
	Service string
	// Stable and Canary are the backends' Service names. Both must be
	// backends of the split. Required, different.
	Stable, Canary string
	// APIVersion is the split.smi-spec.io version to read and write, one
	// of SMIAPIVersions. Empty means v1alpha2.
	APIVersion string
	// Retries bounds the retries after a write conflict. Zero means
	// [traffic.DefaultRetries]; negative means no retry.
	Retries int
}

// TrafficSplit is the [traffic.Driver] over an SMI TrafficSplit
// (split.smi-spec.io), the object Open Service Mesh and Linkerd's SMI
// extension read: it sets the weights of the stable and the canary
// backend, as whole percentages, with one RFC 6902 JSON Patch of the two
// weights pinned to the resourceVersion read and made with the field
// manager [canary.FieldManager]; every other field (other backends at
// weight 0, matches, labels, annotations) stays as stored. The weights
// read back are rounded to whole percentages of their sum. A backend
// other than the two that takes traffic, or a spec.service other than
// Config.Service, is a *[canary.FieldError] naming the field, before
// anything is written. SMI has no mirroring and no per-request routing
// to one backend, so a split with a mirror or a test route is refused.
// Use it through the *[traffic.Router] NewTrafficSplit returns; it is
// safe for concurrent use.
type TrafficSplit struct {
	client dynamic.Interface
	cfg    TrafficSplitConfig
	gvr    schema.GroupVersionResource
}

var (
	_ traffic.Driver  = (*TrafficSplit)(nil)
	_ traffic.Checker = (*TrafficSplit)(nil)
)

// NewTrafficSplit checks cfg and returns a *[traffic.Router] over the
// TrafficSplit. It sends no request.
func NewTrafficSplit(client dynamic.Interface, cfg TrafficSplitConfig) (*traffic.Router, error) {
	return kuberoute.Router(NewTrafficSplitDriver(client, cfg))
}

// NewTrafficSplitDriver checks cfg and returns the driver NewTrafficSplit
// wraps. It sends no request.
func NewTrafficSplitDriver(client dynamic.Interface, cfg TrafficSplitConfig) (*TrafficSplit, error) {
	if client == nil {
		return nil, canary.Invalid("Client", nil, "must not be nil")
	}
	if cfg.APIVersion == "" {
		cfg.APIVersion = SMIAPIVersions[0]
	}
	if err := checkNames(
		name{"Config.Namespace", cfg.Namespace, validation.IsDNS1123Label},
		name{"Config.TrafficSplit", cfg.TrafficSplit, validation.IsDNS1123Subdomain},
		name{"Config.Service", cfg.Service, validation.IsDNS1035Label},
		name{"Config.Stable", cfg.Stable, validation.IsDNS1035Label},
		name{"Config.Canary", cfg.Canary, validation.IsDNS1035Label},
	); err != nil {
		return nil, err
	}
	switch {
	case cfg.Stable == cfg.Canary:
		return nil, canary.Invalid("Config.Canary", cfg.Canary, "must differ from Config.Stable")
	case !slices.Contains(SMIAPIVersions, cfg.APIVersion):
		return nil, canary.Invalid("Config.APIVersion", cfg.APIVersion, "must be one of %v (v1alpha1's quantity weights are not written)", SMIAPIVersions)
	}
	return &TrafficSplit{client: client, cfg: cfg, gvr: TrafficSplits(cfg.APIVersion)}, nil
}

// RouterConfig returns the [traffic.Config] NewTrafficSplit uses.
func (r *TrafficSplit) RouterConfig() traffic.Config {
	return traffic.Config{Name: r.object(), Retries: r.cfg.Retries}
}

func (r *TrafficSplit) object() string {
	return "TrafficSplit " + r.cfg.Namespace + "/" + r.cfg.TrafficSplit
}

func (r *TrafficSplit) resource() dynamic.ResourceInterface {
	return r.client.Resource(r.gvr).Namespace(r.cfg.Namespace)
}

// Check refuses a mirror and a test route (a [traffic.Checker] method).
func (r *TrafficSplit) Check(s traffic.Split) error {
	switch {
	case s.Mirror != 0:
		return canary.Invalid("Split.Mirror", s.Mirror, "an SMI TrafficSplit cannot mirror requests; use 0 (or the Gateway API router)")
	case s.HasTestRoute():
		return canary.Invalid("Split.TestRoute", s.TestRoute.Name, "an SMI TrafficSplit cannot send requests with a header to one backend; leave it empty (or use the Gateway API router)")
	}
	return nil
}

// Read gets the TrafficSplit and the split in force (a [traffic.Driver]
// method).
func (r *TrafficSplit) Read(ctx context.Context) (traffic.Split, traffic.Revision, error) {
	obj, err := r.resource().Get(ctx, r.cfg.TrafficSplit, metav1.GetOptions{})
	if err != nil {
		return traffic.Split{}, nil, err
	}
	s, err := r.splitOf(obj)
	if err != nil {
		return traffic.Split{}, nil, err
	}
	return s, obj, nil
}

// weightOf reads a backend's weight: a whole, non-negative number.
func weightOf(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, n >= 0
	case float64:
		return int64(n), n >= 0 && n == math.Trunc(n) && n <= math.MaxInt32
	}
	return 0, false
}

// backends returns the indexes of the stable and the canary backend and
// their weights.
func (r *TrafficSplit) backends(obj *unstructured.Unstructured) (si, ci int, sw, cw int64, err error) {
	field := r.object() + " spec.service"
	if svc, _, _ := unstructured.NestedString(obj.Object, "spec", "service"); svc != r.cfg.Service {
		return 0, 0, 0, 0, canary.Invalid(field, svc, "the split's root service is not Config.Service %q", r.cfg.Service)
	}
	bs, _, err := unstructured.NestedSlice(obj.Object, "spec", "backends")
	if err != nil {
		return 0, 0, 0, 0, canary.Invalid(r.object()+" spec.backends", nil, "%v", err)
	}
	si, ci = -1, -1
	for j, b := range bs {
		m, _ := b.(map[string]any)
		name, _ := m["service"].(string)
		w, ok := weightOf(m["weight"])
		bf := fmt.Sprintf("%s spec.backends[%d].weight", r.object(), j)
		switch {
		case !ok:
			return 0, 0, 0, 0, canary.Invalid(bf, m["weight"], "must be a whole number, 0 or more")
		case name == r.cfg.Stable && si < 0:
			si, sw = j, w
		case name == r.cfg.Canary && ci < 0:
			ci, cw = j, w
		case w != 0:
			return 0, 0, 0, 0, canary.Invalid(fmt.Sprintf("%s spec.backends[%d]", r.object(), j), name,
				"a third backend takes traffic; the router can only split between Service %s and Service %s", r.cfg.Stable, r.cfg.Canary)
		}
	}
	switch {
	case si < 0:
		return 0, 0, 0, 0, canary.Invalid(r.object()+" spec.backends", r.cfg.Stable, "no backend with the stable Service")
	case ci < 0:
		return 0, 0, 0, 0, canary.Invalid(r.object()+" spec.backends", r.cfg.Canary, "no backend with the canary Service")
	}
	return si, ci, sw, cw, nil
}

func (r *TrafficSplit) splitOf(obj *unstructured.Unstructured) (traffic.Split, error) {
	_, _, sw, cw, err := r.backends(obj)
	if err != nil {
		return traffic.Split{}, err
	}
	if sw+cw == 0 {
		return traffic.Split{}, fmt.Errorf("%s spec.backends: both weights are 0, the split sends no traffic", r.object())
	}
	return traffic.Weighted(int((cw*100 + (sw+cw)/2) / (sw + cw))), nil
}

// Write puts s in force (a [traffic.Driver] method): one JSON Patch of
// the two weights, pinned to v's resourceVersion.
func (r *TrafficSplit) Write(ctx context.Context, v traffic.Revision, s traffic.Split) (traffic.Split, traffic.Revision, error) {
	obj, ok := v.(*unstructured.Unstructured)
	if !ok || obj == nil {
		return traffic.Split{}, nil, fmt.Errorf("kubernetes: TrafficSplit.Write with a version of type %T", v)
	}
	ops, err := r.patch(obj, s)
	if err != nil {
		return traffic.Split{}, nil, err
	}
	body, err := json.Marshal(ops)
	if err != nil {
		return traffic.Split{}, nil, err
	}
	out, err := r.resource().Patch(ctx, r.cfg.TrafficSplit, types.JSONPatchType, body, metav1.PatchOptions{FieldManager: canary.FieldManager})
	if err != nil {
		return traffic.Split{}, nil, kuberoute.PatchError(ctx, err, obj.GetResourceVersion(), r.resourceVersion)
	}
	got, err := r.splitOf(out)
	return got, out, err
}

func (r *TrafficSplit) patch(obj *unstructured.Unstructured, s traffic.Split) ([]jsonPatchOp, error) {
	si, ci, _, _, err := r.backends(obj)
	if err != nil {
		return nil, err
	}
	return []jsonPatchOp{
		{Op: "add", Path: "/metadata/resourceVersion", Value: obj.GetResourceVersion()},
		{Op: "replace", Path: fmt.Sprintf("/spec/backends/%d/weight", si), Value: s.Stable},
		{Op: "replace", Path: fmt.Sprintf("/spec/backends/%d/weight", ci), Value: s.Canary},
	}, nil
}

func (r *TrafficSplit) resourceVersion(ctx context.Context) (string, error) {
	obj, err := r.resource().Get(ctx, r.cfg.TrafficSplit, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return obj.GetResourceVersion(), nil
}

// ErrorCode classifies the API server's errors (a [traffic.Driver] method).
func (r *TrafficSplit) ErrorCode(err error) canary.ErrorCode { return kuberoute.Code(err) }

// Desired reads the TrafficSplit and returns it as a write of s would make
// it, without writing: for GitOps users whose Argo CD or Flux owns it.
func (r *TrafficSplit) Desired(ctx context.Context, s traffic.Split) (*unstructured.Unstructured, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := r.Check(s); err != nil {
		return nil, err
	}
	obj, err := r.resource().Get(ctx, r.cfg.TrafficSplit, metav1.GetOptions{})
	if err != nil {
		return nil, kuberoute.Wrap(err)
	}
	si, ci, _, _, err := r.backends(obj)
	if err != nil {
		return nil, err
	}
	bs, _, _ := unstructured.NestedSlice(obj.Object, "spec", "backends")
	bs[si].(map[string]any)["weight"] = int64(s.Stable)
	bs[ci].(map[string]any)["weight"] = int64(s.Canary)
	if err := unstructured.SetNestedSlice(obj.Object, bs, "spec", "backends"); err != nil {
		return nil, err
	}
	return obj, nil
}

// jsonPatchOp is one RFC 6902 JSON Patch operation.
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}
