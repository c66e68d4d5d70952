package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kuberoute"
	"github.com/meshcanary/canary/traffic"
)

// ALBActionPrefix prefixes the AWS Load Balancer Controller's custom
// action annotations: alb.ingress.kubernetes.io/actions.<action name>.
const ALBActionPrefix = "alb.ingress.kubernetes.io/actions."

// ALBUseAnnotation is the service port name by which an Ingress backend
// refers to an action annotation instead of a Service.
const ALBUseAnnotation = "use-annotation"

// ALBMaxWeight is the largest weight of a target group in a forward
// action (Elastic Load Balancing's TargetGroupTuple: 0 to 999).
const ALBMaxWeight = 999

// ALBConfig names the Ingress, its action and the two Services.
type ALBConfig struct {
	// Namespace and Ingress name the Ingress. Required.
	Namespace, Ingress string
	// Action is the action's name: the annotation is
	// alb.ingress.kubernetes.io/actions.<Action>, and at least one rule
	// of the Ingress must have a backend with service name Action and
	// port name "use-annotation". Required.
	Action string
	// Stable and Canary are the Services of the action's two target
	// groups. Required, different.
	Stable, Canary string
	// ServicePort is the Services' port, written as the target groups'
	// servicePort. Required (1–65535).
	ServicePort int32
	// Retries bounds the retries after a write conflict. Zero means
	// [traffic.DefaultRetries]; negative means no retry.
	Retries int
}

// ALB is the [traffic.Driver] for the AWS Load Balancer Controller on an
// Ingress: the weights of a forward action over the stable and the canary
// Service's target groups, in the action annotation
// alb.ingress.kubernetes.io/actions.<name> that the Ingress's rules refer
// to with the port name "use-annotation" (the controller's documentation,
// https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/#actions,
// and its Go type Action in pkg/ingress/config_types.go). Use it through
// the *[traffic.Router] NewALB returns; it is safe for concurrent use.
//
// The annotation's JSON is checked against that schema when it is read: a
// field the controller does not know, an action that is not a forward
// action, a target group that is neither of the two Services and takes
// traffic, or a weight outside 0–999 is a *[canary.FieldError] naming the
// annotation, before anything is written. A missing annotation is
// written afresh by SetSplit. The router writes only its own annotation —
// one RFC 6902 JSON Patch, pinned to the resourceVersion read, field
// manager [canary.FieldManager] — so other annotations, the rules and
// everything else on the Ingress stay as stored; fields of the action it
// does not manage (a stickiness configuration, other target groups at
// weight 0) are kept.
//
// The ALB's conditions annotation could route by header, but only a
// whole rule; this router neither mirrors nor routes by header, and
// refuses a split with either. Since 2026 the controller also serves
// Gateway API (an HTTPRoute on a Gateway of its GatewayClass): for a new
// setup, or to test by header, prefer that and the gatewayapi router; use
// this one where the load balancer is configured through Ingress objects.
type ALB struct {
	client k8s.Interface
	cfg    ALBConfig
}

var (
	_ traffic.Driver  = (*ALB)(nil)
	_ traffic.Checker = (*ALB)(nil)
)

// NewALB checks cfg and returns a *[traffic.Router] over the Ingress. It
// sends no request.
func NewALB(client k8s.Interface, cfg ALBConfig) (*traffic.Router, error) {
	return kuberoute.Router(NewALBDriver(client, cfg))
}

// NewALBDriver checks cfg and returns the driver NewALB wraps. It sends
// no request.
func NewALBDriver(client k8s.Interface, cfg ALBConfig) (*ALB, error) {
	if client == nil {
		return nil, canary.Invalid("Client", nil, "must not be nil")
	}
	if err := checkNames(
		name{"Config.Namespace", cfg.Namespace, validation.IsDNS1123Label},
		name{"Config.Ingress", cfg.Ingress, validation.IsDNS1123Subdomain},
		name{"Config.Action", cfg.Action, validation.IsDNS1035Label},
		name{"Config.Stable", cfg.Stable, validation.IsDNS1035Label},
		name{"Config.Canary", cfg.Canary, validation.IsDNS1035Label},
	); err != nil {
		return nil, err
	}
	switch {
	case cfg.Stable == cfg.Canary:
		return nil, canary.Invalid("Config.Canary", cfg.Canary, "must differ from Config.Stable")
	case cfg.ServicePort < 1 || cfg.ServicePort > 65535:
		return nil, canary.Invalid("Config.ServicePort", cfg.ServicePort, "must be a port number, 1 to 65535")
	}
	return &ALB{client: client, cfg: cfg}, nil
}

// RouterConfig returns the [traffic.Config] NewALB uses.
func (r *ALB) RouterConfig() traffic.Config {
	return traffic.Config{Name: r.object(), Retries: r.cfg.Retries}
}

func (r *ALB) object() string { return "Ingress " + r.cfg.Namespace + "/" + r.cfg.Ingress }

func (r *ALB) key() string { return ALBActionPrefix + r.cfg.Action }

func (r *ALB) field() string { return r.object() + " metadata.annotations[" + r.key() + "]" }

// albAction is the controller's Action, as documented: every field it
// reads, so that decoding with unknown fields disallowed refuses what the
// controller would not understand, and encoding keeps what it does.
type albAction struct {
	Type                string           `json:"type"`
	TargetGroupARN      *string          `json:"targetGroupARN,omitempty"`
	FixedResponseConfig *json.RawMessage `json:"fixedResponseConfig,omitempty"`
	RedirectConfig      *json.RawMessage `json:"redirectConfig,omitempty"`
	ForwardConfig       *albForward      `json:"forwardConfig,omitempty"`
}

type albForward struct {
	TargetGroups                []albTargetGroup `json:"targetGroups"`
	TargetGroupStickinessConfig *albStickiness   `json:"targetGroupStickinessConfig,omitempty"`
}

type albStickiness struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	DurationSeconds *int32 `json:"durationSeconds,omitempty"`
}

type albTargetGroup struct {
	TargetGroupARN  *string `json:"targetGroupARN,omitempty"`
	TargetGroupName *string `json:"targetGroupName,omitempty"`
	ServiceName     *string `json:"serviceName,omitempty"`
	// ServicePort is a number or a port name (an IntOrString).
	ServicePort *json.RawMessage `json:"servicePort,omitempty"`
	Weight      *int32           `json:"weight,omitempty"`
}

func (g albTargetGroup) service() string {
	if g.ServiceName == nil {
		return ""
	}
	return *g.ServiceName
}

func (g albTargetGroup) weight() int32 {
	if g.Weight == nil {
		return 0
	}
	return *g.Weight
}

// decode parses the annotation strictly and checks it.
func (r *ALB) decode(s string) (*albAction, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var a albAction
	if err := dec.Decode(&a); err != nil {
		return nil, canary.Invalid(r.field(), s, "not an action of the AWS Load Balancer Controller's schema: %v", err)
	}
	if dec.More() {
		return nil, canary.Invalid(r.field(), s, "more than one JSON value")
	}
	switch {
	case a.Type != "forward":
		return nil, canary.Invalid(r.field(), a.Type, `the action's type must be "forward" to split traffic`)
	case a.TargetGroupARN != nil:
		return nil, canary.Invalid(r.field(), *a.TargetGroupARN, "the action forwards to one target group (targetGroupARN); use forwardConfig.targetGroups with the two Services")
	case a.ForwardConfig == nil:
		return nil, canary.Invalid(r.field(), s, "the forward action has no forwardConfig")
	}
	for i, g := range a.ForwardConfig.TargetGroups {
		if w := g.weight(); w < 0 || w > ALBMaxWeight {
			return nil, canary.Invalid(fmt.Sprintf("%s forwardConfig.targetGroups[%d].weight", r.field(), i), w, "must be 0 to %d", ALBMaxWeight)
		}
	}
	return &a, nil
}

// groups returns the indexes of the stable and the canary target group
// (-1 when missing) and refuses a third one that takes traffic.
func (r *ALB) groups(a *albAction) (si, ci int, err error) {
	si, ci = -1, -1
	for i, g := range a.ForwardConfig.TargetGroups {
		switch {
		case g.service() == r.cfg.Stable && si < 0:
			si = i
		case g.service() == r.cfg.Canary && ci < 0:
			ci = i
		case g.weight() != 0:
			name := g.service()
			if name == "" && g.TargetGroupARN != nil {
				name = *g.TargetGroupARN
			}
			return 0, 0, canary.Invalid(fmt.Sprintf("%s forwardConfig.targetGroups[%d]", r.field(), i), name,
				"a third target group takes traffic; the router can only split between Service %s and Service %s", r.cfg.Stable, r.cfg.Canary)
		}
	}
	return si, ci, nil
}

// checkRules refuses an Ingress none of whose rules uses the action.
func (r *ALB) checkRules(ing *networkingv1.Ingress) error {
	uses := func(b *networkingv1.IngressBackend) bool {
		return b != nil && b.Service != nil && b.Service.Name == r.cfg.Action && b.Service.Port.Name == ALBUseAnnotation
	}
	if uses(ing.Spec.DefaultBackend) {
		return nil
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if uses(&p.Backend) {
				return nil
			}
		}
	}
	return canary.Invalid(r.object()+" spec.rules", r.cfg.Action,
		"no rule's backend uses the action (service name %q, port name %q); the load balancer would not use the weights", r.cfg.Action, ALBUseAnnotation)
}

// splitOf reads the split in ing's action; a missing annotation is an
// error.
func (r *ALB) splitOf(ing *networkingv1.Ingress) (traffic.Split, error) {
	if err := r.checkRules(ing); err != nil {
		return traffic.Split{}, err
	}
	s, ok := ing.Annotations[r.key()]
	if !ok {
		return traffic.Split{}, canary.Invalid(r.field(), nil, "the Ingress has no such annotation (SetSplit writes it)")
	}
	a, err := r.decode(s)
	if err != nil {
		return traffic.Split{}, err
	}
	si, ci, err := r.groups(a)
	if err != nil {
		return traffic.Split{}, err
	}
	switch {
	case si < 0:
		return traffic.Split{}, canary.Invalid(r.field()+" forwardConfig.targetGroups", r.cfg.Stable, "no target group with the stable Service")
	case ci < 0:
		return traffic.Split{}, canary.Invalid(r.field()+" forwardConfig.targetGroups", r.cfg.Canary, "no target group with the canary Service")
	}
	tg := a.ForwardConfig.TargetGroups
	sw, cw := int64(tg[si].weight()), int64(tg[ci].weight())
	if sw+cw == 0 {
		return traffic.Split{}, fmt.Errorf("%s: both weights are 0, the action sends no traffic", r.field())
	}
	return traffic.Weighted(int((cw*100 + (sw+cw)/2) / (sw + cw))), nil
}

func (r *ALB) ingresses() interface {
	Get(context.Context, string, metav1.GetOptions) (*networkingv1.Ingress, error)
	Patch(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) (*networkingv1.Ingress, error)
} {
	return r.client.NetworkingV1().Ingresses(r.cfg.Namespace)
}

// Read gets the Ingress and the split in its action (a [traffic.Driver]
// method). An Ingress without the annotation is returned with the error,
// so that SetSplit can write it.
func (r *ALB) Read(ctx context.Context) (traffic.Split, traffic.Revision, error) {
	ing, err := r.ingresses().Get(ctx, r.cfg.Ingress, metav1.GetOptions{})
	if err != nil {
		return traffic.Split{}, nil, err
	}
	s, err := r.splitOf(ing)
	if err != nil {
		if _, ok := ing.Annotations[r.key()]; !ok && r.checkRules(ing) == nil {
			return traffic.Split{}, ing, err
		}
		return traffic.Split{}, nil, err
	}
	return s, ing, nil
}

// Check refuses a mirror and a test route (a [traffic.Checker] method).
func (r *ALB) Check(s traffic.Split) error {
	switch {
	case s.Mirror != 0:
		return canary.Invalid("Split.Mirror", s.Mirror, "an ALB cannot mirror requests; use 0")
	case s.HasTestRoute():
		return canary.Invalid("Split.TestRoute", s.TestRoute.Name, "the ALB router does not route by header; leave it empty, or use the controller's Gateway API support with the gatewayapi router")
	}
	return nil
}

// desired returns the annotation's value with s in force.
func (r *ALB) desired(ing *networkingv1.Ingress, s traffic.Split) (string, error) {
	if err := r.checkRules(ing); err != nil {
		return "", err
	}
	port := json.RawMessage(strconv.Itoa(int(r.cfg.ServicePort)))
	group := func(name string, w int) albTargetGroup {
		n, wt := name, int32(w)
		return albTargetGroup{ServiceName: &n, ServicePort: &port, Weight: &wt}
	}
	cur, ok := ing.Annotations[r.key()]
	if !ok {
		a := albAction{Type: "forward", ForwardConfig: &albForward{TargetGroups: []albTargetGroup{
			group(r.cfg.Stable, s.Stable), group(r.cfg.Canary, s.Canary)}}}
		return encodeAction(a)
	}
	a, err := r.decode(cur)
	if err != nil {
		return "", err
	}
	si, ci, err := r.groups(a)
	if err != nil {
		return "", err
	}
	tg := a.ForwardConfig.TargetGroups
	for _, g := range []struct {
		i    int
		name string
		w    int
	}{{si, r.cfg.Stable, s.Stable}, {ci, r.cfg.Canary, s.Canary}} {
		if g.i < 0 {
			tg = append(tg, group(g.name, g.w))
			continue
		}
		w := int32(g.w)
		tg[g.i].Weight = &w
	}
	a.ForwardConfig.TargetGroups = tg
	return encodeAction(*a)
}

func encodeAction(a albAction) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// Write puts s in force (a [traffic.Driver] method): one JSON Patch of the
// action annotation, pinned to v's resourceVersion. The annotation is
// rewritten only when its weights change.
func (r *ALB) Write(ctx context.Context, v traffic.Revision, s traffic.Split) (traffic.Split, traffic.Revision, error) {
	ing, ok := v.(*networkingv1.Ingress)
	if !ok || ing == nil {
		return traffic.Split{}, nil, fmt.Errorf("kubernetes: ALB.Write with a version of type %T", v)
	}
	value, err := r.desired(ing, s)
	if err != nil {
		return traffic.Split{}, nil, err
	}
	ops := []jsonPatchOp{{Op: "add", Path: "/metadata/resourceVersion", Value: ing.ResourceVersion}}
	if len(ing.Annotations) == 0 {
		ops = append(ops, jsonPatchOp{Op: "add", Path: "/metadata/annotations", Value: map[string]string{r.key(): value}})
	} else {
		ops = append(ops, jsonPatchOp{Op: "add", Path: "/metadata/annotations/" + escapePointer(r.key()), Value: value})
	}
	body, err := json.Marshal(ops)
	if err != nil {
		return traffic.Split{}, nil, err
	}
	out, err := r.ingresses().Patch(ctx, r.cfg.Ingress, types.JSONPatchType, body, metav1.PatchOptions{FieldManager: canary.FieldManager})
	if err != nil {
		return traffic.Split{}, nil, kuberoute.PatchError(ctx, err, ing.ResourceVersion, r.resourceVersion)
	}
	got, err := r.splitOf(out)
	return got, out, err
}

// escapePointer escapes a JSON Pointer reference token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func (r *ALB) resourceVersion(ctx context.Context) (string, error) {
	ing, err := r.ingresses().Get(ctx, r.cfg.Ingress, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	return ing.ResourceVersion, nil
}

// ErrorCode classifies the API server's errors (a [traffic.Driver] method).
func (r *ALB) ErrorCode(err error) canary.ErrorCode { return kuberoute.Code(err) }

// Desired reads the Ingress and returns it as a write of s would make it,
// without writing: for GitOps users whose Argo CD or Flux owns it.
func (r *ALB) Desired(ctx context.Context, s traffic.Split) (*networkingv1.Ingress, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := r.Check(s); err != nil {
		return nil, err
	}
	ing, err := r.ingresses().Get(ctx, r.cfg.Ingress, metav1.GetOptions{})
	if err != nil {
		return nil, kuberoute.Wrap(err)
	}
	value, err := r.desired(ing, s)
	if err != nil {
		return nil, err
	}
	if ing.Annotations == nil {
		ing.Annotations = map[string]string{}
	}
	ing.Annotations[r.key()] = value
	return ing, nil
}
