package kubernetes

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/kuberoute"
	"github.com/meshcanary/canary/traffic"
)

// WeightAnnotation is the annotation the replica-ratio router writes on the
// canary Deployment: the canary weight (a whole percentage) it was last
// asked for, which the replica count realises as closely as it can.
const WeightAnnotation = "meshcanary.io/replica-ratio-weight"

// DefaultReadyWait is how long a replica-ratio write waits for the ready
// counts when ReplicaRatioConfig.ReadyWait is zero.
const DefaultReadyWait = 10 * time.Minute

// DefaultReadyPoll is the pause between two reads of the ready counts when
// ReplicaRatioConfig.Poll is zero.
const DefaultReadyPoll = 2 * time.Second

// ReplicaRatioConfig names the Service and the two Deployments of a
// replica-ratio canary.
type ReplicaRatioConfig struct {
	// Namespace holds the Service and both Deployments. Required.
	Namespace string
	// Service is the one Service in front of both versions: its selector
	// must select the pods of both Deployments. Required.
	Service string
	// Stable and Canary name the Deployments. Required, different.
	Stable, Canary string
	// Replicas is the total of the two Deployments' replicas, which the
	// router divides between them. Zero means the sum of their
	// spec.replicas as read.
	Replicas int32
	// ReadyWait bounds how long a write waits for the ready counts to
	// reach the new replica counts. Zero means DefaultReadyWait.
	ReadyWait time.Duration
	// Poll is the pause between two reads of the ready counts while a
	// write waits. Zero means DefaultReadyPoll.
	Poll time.Duration
	// Retries bounds the retries after a write conflict. Zero means
	// [traffic.DefaultRetries]; negative means no retry.
	Retries int
}

// ReplicaRatio is the [traffic.Driver] of a canary without a traffic
// router: one Service selects the pods of a stable and a canary
// Deployment, and the canary's share of the traffic is its share of the
// ready pods, as in Argo Rollouts' basic canary
// (https://argoproj.github.io/argo-rollouts/features/canary/: "without a
// traffic router, the weight is approximated by the ratio of canary to
// stable pods"). Use it through the *[traffic.Router] NewReplicaRatio
// returns. It is safe for concurrent use.
//
// A weight w of a total of n replicas becomes ceil(n·w/100) canary pods
// (the rounding of Argo's basic canary) and the rest stable, so with five
// replicas the canary's share moves in steps of 20 %: [RoundWeight] and
// [ReplicaRatio.Status] say what a weight becomes. The canary Deployment
// carries the weight asked for in [WeightAnnotation]; the split read back
// is that weight once both Deployments have exactly the replica counts it
// becomes and all of them are ready, and otherwise the ratio of ready
// canary pods to all ready pods.
//
// A write is one JSON merge patch of spec.replicas per Deployment (the
// canary's also sets the annotation), each pinned to the resourceVersion
// read and made with the field manager [canary.FieldManager]; the
// Deployment that grows is patched first, so the number of pods never
// dips. The write then reads both Deployments every
// ReplicaRatioConfig.Poll until their ready counts equal the new replica
// counts (and the controller has observed the change), for at most
// ReplicaRatioConfig.ReadyWait: the split verified is the one the ready
// pods realise. A rollback is the canary scaled to zero and the stable
// Deployment to the total, one patch each, verified the same way.
//
// The router cannot mirror or route by header: a split with either is
// refused with a *[canary.FieldError] before anything is sent.
type ReplicaRatio struct {
	client  k8s.Interface
	cfg     ReplicaRatioConfig
	checked atomic.Bool // the Service's selector was checked
}

var (
	_ traffic.Driver  = (*ReplicaRatio)(nil)
	_ traffic.Checker = (*ReplicaRatio)(nil)
)

// NewReplicaRatio checks cfg and returns a *[traffic.Router] over the two
// Deployments. It sends no request.
func NewReplicaRatio(client k8s.Interface, cfg ReplicaRatioConfig) (*traffic.Router, error) {
	return kuberoute.Router(NewReplicaRatioDriver(client, cfg))
}

// NewReplicaRatioDriver checks cfg and returns the driver NewReplicaRatio
// wraps. It sends no request.
func NewReplicaRatioDriver(client k8s.Interface, cfg ReplicaRatioConfig) (*ReplicaRatio, error) {
	if client == nil {
		return nil, canary.Invalid("Client", nil, "must not be nil")
	}
	if err := checkNames(
		name{"Config.Namespace", cfg.Namespace, validation.IsDNS1123Label},
		name{"Config.Service", cfg.Service, validation.IsDNS1035Label},
		name{"Config.Stable", cfg.Stable, validation.IsDNS1123Subdomain},
		name{"Config.Canary", cfg.Canary, validation.IsDNS1123Subdomain},
	); err != nil {
		return nil, err
	}
	switch {
	case cfg.Stable == cfg.Canary:
		return nil, canary.Invalid("Config.Canary", cfg.Canary, "must differ from Config.Stable")
	case cfg.Replicas < 0:
		return nil, canary.Invalid("Config.Replicas", cfg.Replicas, "must not be negative")
	case cfg.ReadyWait < 0:
		return nil, canary.Invalid("Config.ReadyWait", cfg.ReadyWait, "must not be negative")
	case cfg.Poll < 0:
		return nil, canary.Invalid("Config.Poll", cfg.Poll, "must not be negative")
	}
	if cfg.ReadyWait == 0 {
		cfg.ReadyWait = DefaultReadyWait
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultReadyPoll
	}
	return &ReplicaRatio{client: client, cfg: cfg}, nil
}

// RouterConfig returns the [traffic.Config] NewReplicaRatio uses.
func (r *ReplicaRatio) RouterConfig() traffic.Config {
	return traffic.Config{Name: r.object(), Retries: r.cfg.Retries}
}

func (r *ReplicaRatio) object() string {
	return fmt.Sprintf("Deployments %s/%s and %s/%s", r.cfg.Namespace, r.cfg.Stable, r.cfg.Namespace, r.cfg.Canary)
}

// RoundWeight returns the canary pods a canary weight w (0–100) becomes
// with total replicas, and the weight those pods realise (a whole
// percentage): ceil(total·w/100) pods, as Argo Rollouts' basic canary
// computes them, but at least one stable pod while w is below 100 and
// there are two or more replicas.
func RoundWeight(w int, total int32) (pods int32, realised int) {
	if total <= 0 {
		return 0, 0
	}
	w = min(max(w, 0), 100)
	pods = int32((int64(total)*int64(w) + 99) / 100)
	if w < 100 && pods >= total && total > 1 {
		pods = total - 1
	}
	return pods, percent(pods, total)
}

func percent(part, whole int32) int {
	if whole <= 0 {
		return 0
	}
	return int((int64(part)*100 + int64(whole)/2) / int64(whole))
}

// ratioVersion is the driver's Version: both Deployments as read, and the
// total they share.
type ratioVersion struct {
	stable, canary *appsv1.Deployment
	total          int32
}

func (r *ReplicaRatio) deployments() interface {
	Get(context.Context, string, metav1.GetOptions) (*appsv1.Deployment, error)
	Patch(context.Context, string, types.PatchType, []byte, metav1.PatchOptions, ...string) (*appsv1.Deployment, error)
} {
	return r.client.AppsV1().Deployments(r.cfg.Namespace)
}

func (r *ReplicaRatio) get(ctx context.Context) (*ratioVersion, error) {
	st, err := r.deployments().Get(ctx, r.cfg.Stable, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	ca, err := r.deployments().Get(ctx, r.cfg.Canary, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	v := &ratioVersion{stable: st, canary: ca, total: r.cfg.Replicas}
	if v.total == 0 {
		v.total = specReplicas(st) + specReplicas(ca)
	}
	return v, nil
}

// checkService checks, once, that the Service's selector selects the
// pods of both Deployments (otherwise the ratio of pods decides nothing).
func (r *ReplicaRatio) checkService(ctx context.Context, v *ratioVersion) error {
	if r.checked.Load() {
		return nil
	}
	svc, err := r.client.CoreV1().Services(r.cfg.Namespace).Get(ctx, r.cfg.Service, metav1.GetOptions{})
	if err != nil {
		return err
	}
	field := fmt.Sprintf("Service %s/%s spec.selector", r.cfg.Namespace, r.cfg.Service)
	if len(svc.Spec.Selector) == 0 {
		return canary.Invalid(field, nil, "the Service has no selector; the replica-ratio router needs one that selects the pods of both Deployments")
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	for _, d := range []*appsv1.Deployment{v.stable, v.canary} {
		if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			return canary.Invalid(field, svc.Spec.Selector, "does not select the pods of Deployment %s (template labels %v); both versions must be behind the Service", d.Name, d.Spec.Template.Labels)
		}
	}
	r.checked.Store(true)
	return nil
}

// settled reports whether d's controller has observed its spec and d has
// exactly its spec.replicas pods, all of them ready.
func settled(d *appsv1.Deployment) bool {
	n := specReplicas(d)
	st := d.Status
	return st.ObservedGeneration >= d.Generation && st.Replicas == n && st.ReadyReplicas == n
}

func requested(d *appsv1.Deployment) (int, bool) {
	s, ok := d.Annotations[WeightAnnotation]
	if !ok {
		return 0, false
	}
	w, err := strconv.Atoi(s)
	if err != nil || w < 0 || w > 100 {
		return 0, false
	}
	return w, true
}

// splitOf is the split v's pods realise.
func (r *ReplicaRatio) splitOf(v *ratioVersion) (traffic.Split, error) {
	if w, ok := requested(v.canary); ok && settled(v.stable) && settled(v.canary) {
		pods, _ := RoundWeight(w, v.total)
		if specReplicas(v.canary) == pods && specReplicas(v.stable) == v.total-pods {
			return traffic.Weighted(w), nil
		}
	}
	rs, rc := v.stable.Status.ReadyReplicas, v.canary.Status.ReadyReplicas
	if rs+rc <= 0 {
		return traffic.Split{}, fmt.Errorf("%s: no ready pods, the Service sends no traffic", r.object())
	}
	return traffic.Weighted(percent(rc, rs+rc)), nil
}

// Read gets both Deployments and the split their ready pods realise (a
// [traffic.Driver] method). The first Read also checks the Service.
func (r *ReplicaRatio) Read(ctx context.Context) (traffic.Split, traffic.Revision, error) {
	v, err := r.get(ctx)
	if err != nil {
		return traffic.Split{}, nil, err
	}
	if err := r.checkService(ctx, v); err != nil {
		return traffic.Split{}, nil, err
	}
	s, err := r.splitOf(v)
	return s, v, err
}

// Check refuses what pods cannot express: a mirror and a test route (a
// [traffic.Checker] method).
func (r *ReplicaRatio) Check(s traffic.Split) error {
	switch {
	case s.Mirror != 0:
		return canary.Invalid("Split.Mirror", s.Mirror, "the replica-ratio router cannot mirror requests (no proxy sees them); use 0, or a mesh or Gateway API router")
	case s.HasTestRoute():
		return canary.Invalid("Split.TestRoute", s.TestRoute.Name, "the replica-ratio router cannot route by header (the Service picks pods at random); leave it empty, or use a mesh or Gateway API router")
	}
	return nil
}

// Write scales the two Deployments to the counts s becomes and waits for
// their ready pods (a [traffic.Driver] method).
func (r *ReplicaRatio) Write(ctx context.Context, v traffic.Revision, s traffic.Split) (traffic.Split, traffic.Revision, error) {
	cur, ok := v.(*ratioVersion)
	if !ok || cur == nil {
		return traffic.Split{}, nil, fmt.Errorf("kubernetes: ReplicaRatio.Write with a version of type %T", v)
	}
	if cur.total <= 0 {
		return traffic.Split{}, nil, canary.Invalid("Config.Replicas", cur.total, "the two Deployments have no replicas between them; set Config.Replicas")
	}
	pods, _ := RoundWeight(s.Canary, cur.total)
	type step struct {
		d    *appsv1.Deployment
		n    int32
		note bool
	}
	canaryStep := step{cur.canary, pods, true}
	stableStep := step{cur.stable, cur.total - pods, false}
	steps := []step{stableStep, canaryStep} // the canary shrinks: the stable grows first
	if pods > specReplicas(cur.canary) {
		steps = []step{canaryStep, stableStep}
	}
	for _, st := range steps {
		if err := r.scale(ctx, st.d, st.n, st.note, s.Canary); err != nil {
			return traffic.Split{}, nil, err
		}
	}
	return r.await(ctx, cur.total-pods, pods)
}

// scale patches d's spec.replicas to n (and, for the canary, the weight
// annotation), pinned to the resourceVersion read. It sends nothing when d
// already has both.
func (r *ReplicaRatio) scale(ctx context.Context, d *appsv1.Deployment, n int32, note bool, weight int) error {
	w := strconv.Itoa(weight)
	if specReplicas(d) == n && (!note || d.Annotations[WeightAnnotation] == w) {
		return nil
	}
	meta := map[string]any{"resourceVersion": d.ResourceVersion}
	if note {
		meta["annotations"] = map[string]string{WeightAnnotation: w}
	}
	body, err := json.Marshal(map[string]any{"metadata": meta, "spec": map[string]any{"replicas": n}})
	if err != nil {
		return err
	}
	_, err = r.deployments().Patch(ctx, d.Name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: canary.FieldManager})
	return err
}

// await reads both Deployments until they have the wanted replica counts,
// all ready, and returns the split they realise; after
// ReplicaRatioConfig.ReadyWait it returns the last version read with an
// error giving the counts.
func (r *ReplicaRatio) await(ctx context.Context, stable, canaryPods int32) (traffic.Split, traffic.Revision, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ReadyWait)
	defer cancel()
	var last *ratioVersion
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if last == nil {
				return traffic.Split{}, nil, ctx.Err()
			}
			return traffic.Split{}, last, fmt.Errorf("%s: after %v, %s; want %d stable and %d canary pods ready",
				r.object(), r.cfg.ReadyWait, readyCounts(last), stable, canaryPods)
		case <-t.C:
		}
		v, err := r.get(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			continue // the deadline: report the last counts read
		case err != nil:
			return traffic.Split{}, nil, err
		}
		last = v
		if specReplicas(v.stable) == stable && specReplicas(v.canary) == canaryPods && settled(v.stable) && settled(v.canary) {
			s, err := r.splitOf(v)
			return s, v, err
		}
		t.Reset(r.cfg.Poll)
	}
}

func readyCounts(v *ratioVersion) string {
	return fmt.Sprintf("stable %d of %d and canary %d of %d pods ready",
		v.stable.Status.ReadyReplicas, specReplicas(v.stable), v.canary.Status.ReadyReplicas, specReplicas(v.canary))
}

// ErrorCode classifies the API server's errors (a [traffic.Driver] method).
func (r *ReplicaRatio) ErrorCode(err error) canary.ErrorCode { return kuberoute.Code(err) }

// RatioStatus is what the replica-ratio router's pods realise.
type RatioStatus struct {
	// Requested is the canary weight last asked for (the Deployment's
	// annotation), -1 when none was.
	Requested int
	// Realised is the weight the requested one becomes with Total
	// replicas (RoundWeight), -1 when none was requested.
	Realised int
	// Total is the replicas the two Deployments share.
	Total int32
	// ReadyStable and ReadyCanary are the ready pods of each.
	ReadyStable, ReadyCanary int32
}

// String says what the weight became, for a status line: "canary weight
// 10 % is 1 of 5 pods (20 %); ready: 4 stable, 1 canary".
func (s RatioStatus) String() string {
	ready := fmt.Sprintf("ready: %d stable, %d canary", s.ReadyStable, s.ReadyCanary)
	if s.Requested < 0 {
		return "no canary weight set; " + ready
	}
	pods, _ := RoundWeight(s.Requested, s.Total)
	return fmt.Sprintf("canary weight %d %% is %d of %d pods (%d %%); %s", s.Requested, pods, s.Total, s.Realised, ready)
}

// Status reads both Deployments and reports the weight asked for, the one
// the replica count realises and the ready pods.
func (r *ReplicaRatio) Status(ctx context.Context) (RatioStatus, error) {
	v, err := r.get(ctx)
	if err != nil {
		return RatioStatus{}, kuberoute.Wrap(err)
	}
	st := RatioStatus{Requested: -1, Realised: -1, Total: v.total,
		ReadyStable: v.stable.Status.ReadyReplicas, ReadyCanary: v.canary.Status.ReadyReplicas}
	if w, ok := requested(v.canary); ok {
		st.Requested = w
		_, st.Realised = RoundWeight(w, v.total)
	}
	return st, nil
}
