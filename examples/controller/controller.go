package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	k8s "k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/notify"
	"github.com/meshcanary/canary/providers/kubernetes"
	mcprom "github.com/meshcanary/canary/providers/prometheus"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/workload"
)

// Config configures a Controller. Zero values are documented defaults.
type Config struct {
	Kube    k8s.Interface
	Dynamic dynamic.Interface
	// Routers builds the traffic router for a rollout (routers.go).
	Routers func(r *Rollout) (rollback.Splitter, error)
	// Metrics answers the rollouts' queries. Required when a rollout has
	// metrics.
	Metrics metrics.Provider
	// Namespace limits the watch to one namespace; empty watches all.
	Namespace string
	// LeaseNamespace holds the shard Leases and the state ConfigMaps'
	// namespace is each rollout's own. Required.
	LeaseNamespace string
	// Identity is this replica's name in the Leases (the pod name).
	Identity string
	// Shards is the number of shards (Leases); zero means 8.
	Shards int
	// LeaseDuration, RenewDeadline and RetryPeriod tune the Leases; zero
	// means 15 s, 10 s and 2 s (client-go's customary values).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Balance spreads the shards over the live replicas (each keeps a
	// member Lease; one holding more than its share gives shards up).
	Balance bool
	// Workers is the number of rollouts stepped at once; zero means 4.
	Workers int
	// Clock gives "now" for Step; nil means time.Now.
	Clock func() time.Time
	Log   *slog.Logger
	// Collector, when set, is fed every status and event.
	Collector *mcprom.RolloutMetrics
	// Events, when set, records Kubernetes Events; nil makes one.
	Events *kubernetes.Events
	// Notify tunes the delivery of spec.signals.notify (queue, attempts,
	// back-off, interval, timeout, client; its zero values are
	// notify.Config's defaults). Next, Destinations, Report and Failed
	// are set per rollout.
	Notify notify.Config
}

// Controller drives one [rollback.Rollout] per Rollout object of the shards
// this replica holds.
type Controller struct {
	o        Config
	queue    workqueue.TypedRateLimitingInterface[string]
	rollouts cache.GenericLister
	deps     appslisters.DeploymentLister
	synced   []cache.InformerSynced
	events   *kubernetes.Events
	shards   *shards
	start    func(context.Context)

	mu     sync.Mutex
	driven map[string]*driven
}

// New builds a Controller and its informers; Run starts them.
func New(o Config) (*Controller, error) {
	if o.Kube == nil || o.Dynamic == nil {
		return nil, canary.Invalid("Config.Kube", nil, "and Config.Dynamic must not be nil")
	}
	if o.LeaseNamespace == "" {
		return nil, canary.Invalid("Config.LeaseNamespace", o.LeaseNamespace, "must not be empty")
	}
	if o.Identity == "" {
		return nil, canary.Invalid("Config.Identity", o.Identity, "must not be empty")
	}
	if o.Routers == nil {
		return nil, canary.Invalid("Config.Routers", nil, "must not be nil")
	}
	if o.Shards <= 0 {
		o.Shards = 8
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Events == nil {
		o.Events = kubernetes.NewEvents(o.Kube, kubernetes.EventsConfig{Host: o.Identity})
	}
	c := &Controller{o: o, events: o.Events, driven: map[string]*driven{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "rollouts"})}
	dyn := dynamicinformer.NewFilteredDynamicSharedInformerFactory(o.Dynamic, 10*time.Minute, o.Namespace, nil)
	ri := dyn.ForResource(GVR)
	c.rollouts = ri.Lister()
	kf := informers.NewSharedInformerFactoryWithOptions(o.Kube, 10*time.Minute, informers.WithNamespace(o.Namespace))
	di := kf.Apps().V1().Deployments()
	c.deps = di.Lister()
	c.synced = []cache.InformerSynced{ri.Informer().HasSynced, di.Informer().HasSynced}
	_, err := ri.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueObject,
		UpdateFunc: func(old, cur any) {
			// Our own status writes change neither the generation nor
			// the spec: they need no reconcile.
			if o, ok := old.(*unstructured.Unstructured); ok {
				if n, ok := cur.(*unstructured.Unstructured); ok && o.GetGeneration() == n.GetGeneration() {
					return
				}
			}
			c.enqueueObject(cur)
		},
		DeleteFunc: c.enqueueObject,
	})
	if err != nil {
		return nil, err
	}
	_, err = di.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.deploymentChanged,
		UpdateFunc: func(_, cur any) { c.deploymentChanged(cur) },
		DeleteFunc: c.deploymentChanged,
	})
	if err != nil {
		return nil, err
	}
	c.shards = newShards(o, c.shardAcquired, c.shardLost)
	c.start = func(ctx context.Context) {
		dyn.Start(ctx.Done())
		kf.Start(ctx.Done())
	}
	return c, nil
}

func (c *Controller) enqueueObject(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		c.queue.Add(key)
	}
}

// deploymentChanged enqueues the rollouts that name the Deployment.
func (c *Controller) deploymentChanged(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return
	}
	list, err := c.rollouts.ByNamespace(d.Namespace).List(everything)
	if err != nil {
		return
	}
	for _, o := range list {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		stable, _, _ := unstructured.NestedString(u.Object, "spec", "stable", "deployment")
		can, _, _ := unstructured.NestedString(u.Object, "spec", "canary", "deployment")
		if stable == d.Name || can == d.Name {
			c.enqueueObject(u)
		}
	}
}

// Run starts the informers, the shard elections and the workers, and
// returns when ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	c.start(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("controller: caches did not sync: %w", ctx.Err())
	}
	c.o.Log.Info("caches synced", "identity", c.o.Identity, "shards", c.o.Shards)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.shards.run(ctx) }()
	for range c.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.next(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

// shardAcquired enqueues every rollout of the shard.
func (c *Controller) shardAcquired(shard int) {
	c.o.Log.Info("shard acquired", "shard", shard, "identity", c.o.Identity)
	list, err := c.rollouts.List(everything)
	if err != nil {
		return
	}
	for _, o := range list {
		key, err := cache.MetaNamespaceKeyFunc(o)
		if err == nil && c.shards.of(key) == shard {
			c.queue.Add(key)
		}
	}
}

// shardLost forgets the shard's rollouts, so that a later acquisition
// reloads them from the store.
func (c *Controller) shardLost(shard int) {
	c.o.Log.Warn("shard lost", "shard", shard, "identity", c.o.Identity)
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.driven {
		if c.shards.of(key) == shard {
			c.drop(key)
		}
	}
}

func (c *Controller) next(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	after, err := c.reconcile(ctx, key)
	switch {
	case err != nil:
		c.o.Log.Warn("reconcile failed; retrying with back-off", "rollout", key, "err", err)
		c.queue.AddRateLimited(key)
	default:
		c.queue.Forget(key)
		if after > 0 {
			c.queue.AddAfter(key, after)
		}
	}
	return true
}

// storeKey is the rollout's key in the store: its name (the store is per
// namespace).
func storeKey(r *Rollout) string { return "rollout-" + r.Name }

// reconcile steps one rollout if this replica holds its shard, and says
// when to come back.
func (c *Controller) reconcile(ctx context.Context, key string) (time.Duration, error) {
	shardCtx, ok := c.shards.heldCtx(c.shards.of(key))
	if !ok {
		return 0, nil // another replica drives it
	}
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	obj, err := c.rollouts.ByNamespace(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		c.drop(key)
		c.mu.Unlock()
		if c.o.Collector != nil {
			c.o.Collector.Forget(key)
		}
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	u := obj.(*unstructured.Unstructured)
	ro, err := decode(u)
	ref := &corev1.ObjectReference{Kind: Kind, APIVersion: APIVersion, Namespace: ns, Name: name, UID: types.UID(ro.UID)}
	var p *parsed
	if err == nil {
		p, err = parse(ro)
	}
	if err == nil {
		err = c.deploymentsExist(ro)
	}
	if err != nil {
		return 0, c.invalid(shardCtx, u, ro, ref, err, rollback.Status{})
	}
	cfg, err := c.config(ro, p, ref)
	if err != nil {
		return 0, c.invalid(shardCtx, u, ro, ref, err, rollback.Status{})
	}
	st := &kubernetes.ConfigMapStore{Client: c.o.Kube, Namespace: ns, Owners: func(string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: APIVersion, Kind: Kind, Name: name, UID: types.UID(ro.UID)}}
	}}
	c.mu.Lock()
	d := c.driven[key]
	c.mu.Unlock()
	if d == nil || d.gen != ro.Generation {
		c.mu.Lock()
		c.drop(key)
		c.mu.Unlock()
		// The Secrets spec.signals names are read here, once per
		// generation (a changed Secret is read at the next one).
		sig, err := c.signals(shardCtx, ro, &cfg)
		if err == nil {
			d, err = load(shardCtx, st, storeKey(ro), cfg, ro.Generation)
		}
		if err != nil {
			var fe *canary.FieldError
			if errors.As(err, &fe) || errors.Is(err, kubernetes.ErrNotRecord) {
				return 0, c.invalid(shardCtx, u, ro, ref, err, rollback.Status{})
			}
			return 0, err
		}
		d.hooks = sig.hooks
		if n := sig.notifier; n != nil {
			// The notifier delivers on its own goroutines, never in the
			// step's way; it ends with the shard or when d is dropped.
			nctx, cancel := context.WithCancel(shardCtx)
			go func() { _ = n.Run(nctx) }()
			d.stop = cancel
		}
		c.mu.Lock()
		c.driven[key] = d
		c.mu.Unlock()
	}
	if d.hooks != nil && d.r.State().Phase == rollback.Pending {
		// confirm-rollout: the first step waits for every such hook's
		// yes, asked again each interval.
		ok, err := d.hooks.ConfirmRollout(shardCtx)
		if err != nil {
			return 0, err
		}
		if !ok {
			st := d.r.Status(c.o.Clock())
			st.Reason = "waiting for the confirm-rollout webhooks to say yes"
			if err := c.writeStatus(shardCtx, u, ro, st, nil); err != nil {
				return 0, err
			}
			return p.plan.Interval, nil
		}
	}
	start := time.Now()
	now := c.o.Clock()
	status, err := step(shardCtx, d, now)
	if c.o.Collector != nil {
		c.o.Collector.ObserveStep(status, time.Since(start))
	}
	if errors.Is(err, errFenced) {
		c.mu.Lock()
		c.drop(key)
		c.mu.Unlock()
		c.o.Log.Warn("fenced off by the store; reloading", "rollout", key, "err", err)
		return 0, err
	}
	var fe *canary.FieldError
	if errors.As(err, &fe) {
		// The router refused the object it writes, naming the field: a
		// route its implementation cannot carry (an HTTPRoute whose
		// parent Linkerd does not read), a split that does not match the
		// spec. The route was not written; say so on the Rollout, with
		// the status the step reached.
		return 0, c.invalid(shardCtx, u, ro, ref, err, status)
	}
	if serr := c.writeStatus(shardCtx, u, ro, status, nil); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return 0, err
	}
	if status.Phase.Final() {
		return 0, nil
	}
	after := status.Next.Sub(now)
	if after <= 0 {
		after = time.Millisecond
	}
	return after, nil
}

func (c *Controller) deploymentsExist(ro *Rollout) error {
	for _, f := range []struct{ field, name string }{
		{"spec.stable.deployment", ro.Spec.Stable.Deployment}, {"spec.canary.deployment", ro.Spec.Canary.Deployment},
	} {
		if _, err := c.deps.Deployments(ro.Namespace).Get(f.name); apierrors.IsNotFound(err) {
			return canary.Invalid(f.field, f.name, "no such Deployment in namespace %s", ro.Namespace)
		}
	}
	return nil
}

// config builds the rollout's [rollback.Config].
func (c *Controller) config(ro *Rollout, p *parsed, ref *corev1.ObjectReference) (rollback.Config, error) {
	router, err := c.o.Routers(ro)
	if err != nil {
		return rollback.Config{}, err
	}
	scaler, err := kubernetes.NewDeployments(c.o.Kube, kubernetes.DeploymentsConfig{Namespace: ro.Namespace, Stable: ro.Spec.Stable.Deployment, Canary: ro.Spec.Canary.Deployment})
	if err != nil {
		return rollback.Config{}, err
	}
	cfg := rollback.Config{Name: ro.Name, Plan: p.plan, Policy: p.policy, Target: p.target, Router: router,
		Scaler: scaler, Readiness: listerReadiness{c.deps, ro.Namespace, ro.Spec.Stable.Deployment, ro.Spec.Canary.Deployment},
		Sink: c.sink(ref, ro)}
	if len(p.metrics) > 0 {
		if c.o.Metrics == nil {
			return rollback.Config{}, canary.Invalid("spec.metrics", nil, "this controller has no metrics provider (-prometheus)")
		}
		cfg.Analyzer = p.preset.Analyzer
		for i, m := range p.metrics {
			cfg.Metrics = append(cfg.Metrics, rollback.Metric{Name: m.Name, Provider: c.o.Metrics, Query: p.queries[i], Window: p.windows[i]})
		}
	}
	return cfg, nil
}

// sink fans a rollout's events out to the Kubernetes Events, the
// collector and the log. An error (a transient API failure recording an
// Event) makes the rollout offer the event again; the others ignore an
// event they have seen.
func (c *Controller) sink(ref *corev1.ObjectReference, ro *Rollout) rollback.Sink {
	ev := c.events.Sink(ref)
	var col rollback.Sink
	if c.o.Collector != nil {
		col = c.o.Collector.Sink()
	}
	log := c.o.Log.With("rollout", ro.Namespace+"/"+ro.Name)
	return rollback.SinkFunc(func(ctx context.Context, e rollback.Event) error {
		if col != nil {
			_ = col.Record(ctx, e)
		}
		typ, reason, msg := kubernetes.Describe(e)
		log.Info(msg, "seq", e.Seq, "reason", reason, "type", typ, "phase", e.To.String())
		// kubernetes.Events drops an Event the API server refuses for
		// good (Forbidden, Invalid) without an error, so that the rollout
		// does not stall on it; say so, or a missing RBAC rule for events
		// would go unseen.
		before := c.events.Dropped()
		err := ev.Record(ctx, e)
		if n := c.events.Dropped(); n > before {
			log.Warn(eventsDroppedMsg, "seq", e.Seq, "reason", reason, "dropped", n)
		}
		return err
	})
}

const eventsDroppedMsg = "the API server refused an Event for good (Forbidden or Invalid) and it was dropped: check that the controller may create events"

// invalid reports a spec (or stored state, or an object a router writes)
// the controller cannot drive: a status condition and a Warning Event
// naming the field, then a retry with back-off (the returned error). st
// is the status a step reached; the zero Status (no step ran) keeps the
// status fields as they are.
func (c *Controller) invalid(ctx context.Context, u *unstructured.Unstructured, ro *Rollout, ref *corev1.ObjectReference, cause error, st rollback.Status) error {
	msg := cause.Error()
	if err := c.events.Warn(ctx, ref, "InvalidSpec", msg); err != nil {
		c.o.Log.Warn("recording an Event failed", "err", err)
	}
	cond := &Condition{Type: "Valid", Status: "False", Reason: "InvalidSpec", Message: msg, ObservedGeneration: ro.Generation}
	if err := c.writeStatus(ctx, u, ro, st, cond); err != nil {
		c.o.Log.Warn("writing the status failed", "rollout", ro.Namespace+"/"+ro.Name, "err", err)
	}
	return fmt.Errorf("invalid rollout: %w", cause)
}

// writeStatus writes the status subresource when it changed (one request
// per change, none per unchanged step).
func (c *Controller) writeStatus(ctx context.Context, u *unstructured.Unstructured, ro *Rollout, st rollback.Status, invalid *Condition) error {
	ns := ro.Status
	ns.ObservedGeneration = ro.Generation
	valid := Condition{Type: "Valid", Status: "True", Reason: "Driven", ObservedGeneration: ro.Generation}
	if invalid != nil {
		valid = *invalid
	}
	if invalid == nil || st.Name != "" { // the zero Status: no step ran
		ns.Phase, ns.CanaryWeight, ns.Stage, ns.Stages, ns.Reason = st.Phase.String(), st.CanaryWeight, st.StageNumber, st.Stages, display.Reason(st, nil)
		ns.LastVerdict, ns.Evidence = nil, nil
		if v := st.Verdict; v != nil {
			ns.LastVerdict = &VerdictState{Outcome: v.Outcome.String(), Reason: v.Reason}
			for _, e := range v.Evidence {
				ns.Evidence = append(ns.Evidence, Evidence{Metric: e.Metric, Pass: strconv.FormatFloat(e.Pass, 'f', 3, 64),
					Fail: strconv.FormatFloat(e.Fail, 'f', 3, 64), Requests: e.Requests, More: e.More})
			}
		}
	}
	ns.Conditions = setCondition(ro.Status.Conditions, valid, c.o.Clock())
	if reflect.DeepEqual(ns, ro.Status) {
		return nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&ns)
	if err != nil {
		return err
	}
	out := u.DeepCopy()
	out.Object["status"] = m
	_, err = c.o.Dynamic.Resource(GVR).Namespace(ro.Namespace).UpdateStatus(ctx, out, metav1.UpdateOptions{FieldManager: kubernetes.FieldManager})
	return err
}

func setCondition(conds []Condition, c Condition, now time.Time) []Condition {
	out := make([]Condition, 0, len(conds)+1)
	found := false
	for _, o := range conds {
		if o.Type != c.Type {
			out = append(out, o)
			continue
		}
		found = true
		c.LastTransitionTime = o.LastTransitionTime
		if o.Status != c.Status || c.LastTransitionTime == "" {
			c.LastTransitionTime = now.UTC().Format(time.RFC3339)
		}
		out = append(out, c)
	}
	if !found {
		c.LastTransitionTime = now.UTC().Format(time.RFC3339)
		out = append(out, c)
	}
	return out
}

// listerReadiness is [workload.Readiness] from the informer's cache: no
// request per step.
type listerReadiness struct {
	deps           appslisters.DeploymentLister
	ns             string
	stable, canary string
}

func (l listerReadiness) Ready(_ context.Context, v workload.Version) (bool, string, error) {
	name := l.canary
	if v == workload.Stable {
		name = l.stable
	}
	d, err := l.deps.Deployments(l.ns).Get(name)
	if err != nil {
		return false, "", fmt.Errorf("deployment %s/%s: %w", l.ns, name, err)
	}
	return deploymentReady(d)
}

// deploymentReady is what kubectl rollout status checks.
func deploymentReady(d *appsv1.Deployment) (bool, string, error) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	switch {
	case s.ObservedGeneration < d.Generation:
		return false, "the Deployment controller has not observed the latest spec", nil
	case s.UpdatedReplicas < want:
		return false, fmt.Sprintf("%d of %d replicas updated", s.UpdatedReplicas, want), nil
	case s.Replicas > s.UpdatedReplicas:
		return false, fmt.Sprintf("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas), nil
	case s.AvailableReplicas < s.UpdatedReplicas:
		return false, fmt.Sprintf("%d of %d updated replicas available", s.AvailableReplicas, s.UpdatedReplicas), nil
	}
	return true, "", nil
}
