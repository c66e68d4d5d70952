package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
)

func (f *fixture) events(t testing.TB, name string) []corev1.Event {
	t.Helper()
	l, err := f.kc.CoreV1().Events(f.ns).List(f.ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func hasReason(evs []corev1.Event, reason string) bool {
	for _, e := range evs {
		if e.Reason == reason {
			return true
		}
	}
	return false
}

// A healthy canary is promoted and a faulty one rolled back, end to end:
// the controller reads the Rollouts and Deployments from informers, moves
// the VirtualService's weights, keeps the state in ConfigMaps, records
// Events and writes the status back. It runs as the ServiceAccount of
// deploy/rbac.yaml (the manifest applied to the RBAC-enforcing API
// server, the controller impersonating the account): a permission the
// manifest lacks is a Forbidden answer, and fails the test. Every write
// it makes names the field manager "meshcanary", and no object it wrote
// carries a managedFields entry of any other manager of its own.
func TestEndToEnd(t *testing.T) {
	f := newFixture(t)
	f.app(t, "shop", nil)
	f.app(t, "faulty-cart", nil)
	f.routeApp(t, "gw-shop") // through a Gateway API HTTPRoute
	cfg := f.applyRBAC(t, nil)
	w := newWire()
	cfg.WrapTransport = w.wrap
	cfg.UserAgent = controllerUA // an unnamed field manager would show as this
	o := f.controllerOptions(t, "replica-0", cfg)
	o.Balance = true // as main runs it: member Leases, and listing the Leases
	start(t, o)

	for name, want := range map[string]string{"shop": "succeeded", "faulty-cart": "rolled-back", "gw-shop": "succeeded"} {
		poll(t, 3*time.Minute, name+" to finish", func() (bool, string) {
			r := f.rollout(t, name)
			return r.Status.Phase == want, fmt.Sprintf("%+v", r.Status)
		})
	}
	if w := f.canaryWeight(t, "shop", "shop-canary"); w != 100 {
		t.Errorf("promoted canary weight %d, want 100", w)
	}
	if w := f.canaryWeight(t, "faulty-cart", "faulty-cart-canary"); w != 0 {
		t.Errorf("rolled-back canary weight %d, want 0", w)
	}
	if w := f.routeCanaryWeight(t, "gw-shop", "gw-shop-canary"); w != 100 {
		t.Errorf("promoted canary weight %d in the HTTPRoute, want 100", w)
	}
	d, err := f.kc.AppsV1().Deployments(f.ns).Get(f.ctx, "faulty-cart-canary", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 0 {
		t.Errorf("faulty canary Deployment not scaled to zero: %v %v", d.Spec.Replicas, err)
	}
	r := f.rollout(t, "faulty-cart")
	if r.Status.LastVerdict == nil || r.Status.LastVerdict.Outcome != "fail" || r.Status.CanaryWeight != 0 || r.Status.ObservedGeneration != r.Generation {
		t.Errorf("faulty status = %+v", r.Status)
	}
	r = f.rollout(t, "shop")
	if r.Status.LastVerdict == nil || r.Status.LastVerdict.Outcome != "pass" || r.Status.CanaryWeight != 100 || r.Status.Stages != 2 {
		t.Errorf("healthy status = %+v", r.Status)
	}
	poll(t, time.Minute, "the Events", func() (bool, string) {
		a, b := f.events(t, "faulty-cart"), f.events(t, "shop")
		return hasReason(a, "RollingBack") && hasReason(a, "AnalysisFail") && hasReason(b, "Succeeded") && hasReason(b, "AnalysisPass"),
			fmt.Sprintf("%d and %d events", len(a), len(b))
	})
	// The state is in a ConfigMap per rollout, owned by the Rollout.
	cm, err := f.kc.CoreV1().ConfigMaps(f.ns).Get(f.ctx, "meshcanary-rollout-shop", metav1.GetOptions{})
	if err != nil || len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].Kind != Kind || !strings.Contains(cm.Data["record"], `"phase":"succeeded"`) {
		t.Fatalf("state ConfigMap: %v %+v", err, cm)
	}
	// Nothing was refused: the manifest grants all the controller does.
	for _, r := range w.snapshot() {
		if r.Status == http.StatusForbidden {
			t.Errorf("%s %s: 403 Forbidden for %s (deploy/rbac.yaml lacks it)", r.Method, r.Path, f.serviceAccount())
		}
	}
	f.checkFieldManagers(t, w)
}

// controllerUA is the user agent of the controller's client in the tests.
// The API server names a write that gives no field manager after the
// user agent's product ("meshcanary-e2e"), so a managedFields entry of
// that name is a write of the controller's without one.
const controllerUA = "meshcanary-e2e/test"

// checkFieldManagers checks that every write the controller sent (as the
// wire saw it) named the field manager "meshcanary", and, on the API
// server, that the shard Leases and every object of each resource the
// controller wrote are managed by "meshcanary" and by no unnamed manager
// of the controller.
func (f *fixture) checkFieldManagers(t *testing.T, w *wire) {
	t.Helper()
	written := map[string]int{}
	for _, r := range w.snapshot() {
		if !isWrite(r.Method) {
			continue
		}
		written[resourceOf(r.Path)]++
		if r.FieldManager != kubernetes.FieldManager {
			t.Errorf("%s %s with field manager %q, want %q", r.Method, r.Path, r.FieldManager, kubernetes.FieldManager)
		}
	}
	for _, res := range []string{"leases", "configmaps", "events", "rollouts/status", "virtualservices", "httproutes", "deployments"} {
		if written[res] == 0 {
			t.Errorf("the controller wrote no %s (written: %v)", res, written)
		}
	}
	gvrs := map[string]schema.GroupVersionResource{
		"leases":          {Group: "coordination.k8s.io", Version: "v1", Resource: "leases"},
		"configmaps":      {Version: "v1", Resource: "configmaps"},
		"events":          {Version: "v1", Resource: "events"},
		"rollouts/status": GVR,
		"virtualservices": vsGVR,
		"httproutes":      routeGVR,
		"deployments":     {Group: "apps", Version: "v1", Resource: "deployments"},
	}
	ours := map[string]int{}
	for res, gvr := range gvrs {
		l, err := f.dc.Resource(gvr).Namespace(f.ns).List(f.ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range l.Items {
			mine := false
			for _, mf := range o.GetManagedFields() {
				switch mf.Manager {
				case kubernetes.FieldManager:
					mine = true
				case strings.Split(controllerUA, "/")[0]:
					t.Errorf("%s %s: a write of the controller without a field manager (managedFields %+v)", res, o.GetName(), o.GetManagedFields())
				}
			}
			if mine {
				ours[res]++
			}
			if res == "leases" && strings.HasPrefix(o.GetName(), "meshcanary-shard-") && !mine {
				t.Errorf("Lease %s: managedFields %+v name no %q", o.GetName(), o.GetManagedFields(), kubernetes.FieldManager)
			}
		}
	}
	for res, n := range written {
		if ours[res] == 0 {
			t.Errorf("the controller wrote %d %s, and no object of them is managed by %q", n, res, kubernetes.FieldManager)
		}
	}
	t.Logf("controller writes by resource: %v; objects managed by %q: %v", written, kubernetes.FieldManager, ours)
}

// An invalid Rollout that the CRD's schema lets through (what only the
// controller can check: a query's template, a zero duration, a Deployment
// that does not exist; the schema's refusals are TestCRDRefusesBadRollouts')
// gets a status condition and a Warning Event naming the field; it is
// retried with back-off, and once corrected it runs.
func TestInvalidRollouts(t *testing.T) {
	f := newFixture(t)
	start(t, f.controllerOptions(t, "replica-0", nil))
	cases := map[string]struct {
		edit  func(spec map[string]any)
		field string
	}{
		"bad-query": {func(s map[string]any) {
			s["metrics"].([]any)[0].(map[string]any)["query"] = `errors{workload={{workload}}}`
		}, "spec.metrics[0].query"},
		"zero-interval": {func(s map[string]any) { s["plan"].(map[string]any)["interval"] = "0s" }, "spec.plan.interval"},
		"no-deploy":     {func(s map[string]any) { s["canary"].(map[string]any)["deployment"] = "missing" }, "spec.canary.deployment"},
	}
	for name, c := range cases {
		f.deployment(t, name, 2)
		f.deployment(t, name+"-canary", 1)
		f.virtualService(t, name, name, name+"-canary")
		spec := rolloutSpec(name)
		c.edit(spec)
		f.createRollout(t, name, spec)
	}
	for name, c := range cases {
		poll(t, 2*time.Minute, name+"'s condition and Event", func() (bool, string) {
			r := f.rollout(t, name)
			ok := false
			for _, cond := range r.Status.Conditions {
				ok = ok || cond.Type == "Valid" && cond.Status == "False" && strings.Contains(cond.Message, c.field)
			}
			evOK := false
			for _, e := range f.events(t, name) {
				evOK = evOK || e.Reason == "InvalidSpec" && e.Type == "Warning" && strings.Contains(e.Message, c.field)
			}
			return ok && evOK, fmt.Sprintf("status %+v", r.Status)
		})
	}
	// Correct one: it is driven to the end.
	f.deployment(t, "missing", 1)
	poll(t, 3*time.Minute, "the corrected rollout to finish", func() (bool, string) {
		r := f.rollout(t, "no-deploy")
		return r.Status.Phase == "succeeded", fmt.Sprintf("%+v", r.Status)
	})
}

// A state ConfigMap edited by hand into nonsense is refused with a
// condition naming the object, and left as it is.
func TestHandEditedStateRefused(t *testing.T) {
	f := newFixture(t)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "meshcanary-rollout-edited", Namespace: f.ns},
		Data: map[string]string{"notes": "phase: done, I think"}}
	cm, err := f.kc.CoreV1().ConfigMaps(f.ns).Create(f.ctx, cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.app(t, "edited", nil)
	start(t, f.controllerOptions(t, "replica-0", nil))
	poll(t, 2*time.Minute, "the refusal", func() (bool, string) {
		r := f.rollout(t, "edited")
		for _, c := range r.Status.Conditions {
			if c.Type == "Valid" && c.Status == "False" && strings.Contains(c.Message, "not a record written by the meshcanary store") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", r.Status)
	})
	got, err := f.kc.CoreV1().ConfigMaps(f.ns).Get(f.ctx, cm.Name, metav1.GetOptions{})
	if err != nil || got.ResourceVersion != cm.ResourceVersion {
		t.Fatalf("the hand-edited ConfigMap was touched: %v, resourceVersion %s → %s", err, cm.ResourceVersion, got.ResourceVersion)
	}
	if w := f.canaryWeight(t, "edited", "edited-canary"); w != 0 {
		t.Fatalf("a rollout with refused state moved traffic: canary %d", w)
	}
}

// The store-level half of a partition (TestPartitionExpiredLease runs the
// whole): a driver whose state another driver has saved since it read it
// tries to write — the store refuses it, and the newer state stays.
func TestPartitionedDriverFenced(t *testing.T) {
	f := newFixture(t)
	f.app(t, "split", nil)
	r := f.rollout(t, "split")
	p, err := parse(r)
	if err != nil {
		t.Fatal(err)
	}
	o := f.controllerOptions(t, "x", nil)
	st := &kubernetes.ConfigMapStore{Client: f.kc, Namespace: f.ns}
	cfgFor := func() rollback.Config {
		rt, err := o.Routers(r)
		if err != nil {
			t.Fatal(err)
		}
		scaler, err := kubernetes.NewDeployments(f.kc, kubernetes.DeploymentsConfig{Namespace: f.ns, Stable: "split", Canary: "split-canary"})
		if err != nil {
			t.Fatal(err)
		}
		return rollback.Config{Name: r.Name, Plan: p.plan, Policy: p.policy, Target: p.target, Router: rt, Scaler: scaler,
			Analyzer: p.preset.Analyzer, Metrics: []rollback.Metric{{Name: "error-rate", Provider: fakeMetrics{}, Query: p.queries[0]}}}
	}
	now := time.Now()
	old, err := load(f.ctx, st, storeKey(r), cfgFor(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := step(f.ctx, old, now); err != nil {
		t.Fatal(err)
	}
	// The Lease expires; the new holder loads the state and steps.
	cur, err := load(f.ctx, st, storeKey(r), cfgFor(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := step(f.ctx, cur, now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	kept, v, err := st.Load(f.ctx, storeKey(r))
	if err != nil {
		t.Fatal(err)
	}
	// The old holder, partitioned, steps on.
	_, err = step(f.ctx, old, now.Add(3*time.Second))
	if !errors.Is(err, errFenced) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the partitioned driver's write: %v, want it fenced", err)
	}
	after, v2, err := st.Load(f.ctx, storeKey(r))
	if err != nil || v2 != v || string(after) != string(kept) {
		t.Fatalf("the new holder's state changed: version %s → %s, %v", v, v2, err)
	}
}

// parse refuses bad specs with FieldErrors naming the CR's field (a unit
// test, no API server).
func TestParseNamesFields(t *testing.T) {
	base := func() *Rollout {
		return &Rollout{Name: "a", Namespace: "ns", Spec: Spec{
			Stable: DeploymentRef{"a"}, Canary: DeploymentRef{"a-canary"},
			Router:  Router{Kind: "HTTPRoute", Name: "a", StableService: "a", CanaryService: "a-canary"},
			Metrics: []MetricSpec{{Name: "error-rate", Role: "errorRate", Query: errorRateQuery}},
			Plan:    PlanSpec{Stages: []int{10, 100}, Interval: "1m"}}}
	}
	if _, err := parse(base()); err != nil {
		t.Fatalf("valid spec refused: %v", err)
	}
	// Each router kind with its own fields is accepted.
	for _, rt := range []Router{
		{Kind: "VirtualService", Name: "a", Route: "primary", StableService: "a", CanaryService: "a-canary"},
		{Kind: "TrafficSplit", Name: "a", RootService: "a", StableService: "a-stable", CanaryService: "a-canary", APIVersion: "v1alpha3"},
		{Kind: "Ingress", Name: "a", ActionName: "a-split", StableService: "a", CanaryService: "a-canary", ServicePort: 80},
		{Kind: "ReplicaRatio", Name: "a", Replicas: 5},
		{Kind: "HTTPRoute", Name: "a", StableService: "a", CanaryService: "a-canary", Implementation: "linkerd"},
		{Kind: "HTTPRoute", Name: "a", StableService: "a", CanaryService: "a-canary", Implementation: "vpc-lattice"},
	} {
		r := base()
		r.Spec.Router = rt
		if _, err := parse(r); err != nil {
			t.Errorf("%s refused: %v", rt.Kind, err)
		}
	}
	for field, edit := range map[string]func(r *Rollout){
		"spec.stable.deployment": func(r *Rollout) { r.Spec.Stable.Deployment = "Not_A_Name" },
		"spec.canary.deployment": func(r *Rollout) { r.Spec.Canary.Deployment = "a" },
		"spec.router.kind":       func(r *Rollout) { r.Spec.Router.Kind = "Nginx" },
		"spec.router.rootService": func(r *Rollout) {
			r.Spec.Router.Kind = "TrafficSplit"
		},
		"spec.router.apiVersion": func(r *Rollout) {
			r.Spec.Router.Kind, r.Spec.Router.RootService, r.Spec.Router.APIVersion = "TrafficSplit", "a", "v1alpha1"
		},
		"spec.router.actionName": func(r *Rollout) { r.Spec.Router.Kind, r.Spec.Router.ServicePort = "Ingress", 80 },
		"spec.router.servicePort": func(r *Rollout) {
			r.Spec.Router.Kind, r.Spec.Router.ActionName, r.Spec.Router.ServicePort = "Ingress", "a-split", 70000
		},
		"spec.router.replicas":       func(r *Rollout) { r.Spec.Router.Replicas = 3 },
		"spec.router.implementation": func(r *Rollout) { r.Spec.Router.Implementation = "istio" },
		"spec.plan.stages":           func(r *Rollout) { r.Spec.Plan.Stages = nil },
		"spec.plan.stages[0]":        func(r *Rollout) { r.Spec.Plan.Stages = []int{0, 100} },
		"spec.plan.steps":            func(r *Rollout) { r.Spec.Plan.Steps = []int{10, 100} }, // both names
		"spec.plan.steps[1]": func(r *Rollout) { // the deprecated name is checked alike
			r.Spec.Plan.Stages, r.Spec.Plan.Steps = nil, []int{50, 20}
		},
		"spec.plan.interval":        func(r *Rollout) { r.Spec.Plan.Interval = "" },
		"spec.plan.hold":            func(r *Rollout) { r.Spec.Plan.Hold = "-1s" },
		"spec.metrics[0].role":      func(r *Rollout) { r.Spec.Metrics[0].Role = "speed" },
		"spec.metrics[0].query":     func(r *Rollout) { r.Spec.Metrics[0].Query = `x{a={{workload}}}` },
		"spec.metrics[0].window":    func(r *Rollout) { r.Spec.Metrics[0].Window = "1 minute" },
		"spec.preset":               func(r *Rollout) { r.Spec.Preset = "yolo" },
		"spec.router.canaryService": func(r *Rollout) { r.Spec.Router.CanaryService = "" },
	} {
		r := base()
		edit(r)
		_, err := parse(r)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: %v, want a FieldError naming it", field, err)
		}
	}
	// spec.plan.steps, the old name of spec.plan.stages, is still
	// accepted and gives the same plan.
	r := base()
	want, err := parse(r)
	if err != nil {
		t.Fatal(err)
	}
	r.Spec.Plan.Stages, r.Spec.Plan.Steps = nil, r.Spec.Plan.Stages
	got, err := parse(r)
	if err != nil {
		t.Fatalf("steps refused: %v", err)
	}
	if fmt.Sprint(got.plan.Stages) != fmt.Sprint(want.plan.Stages) || len(got.plan.Stages) != 2 {
		t.Errorf("steps gave stages %v, want %v", got.plan.Stages, want.plan.Stages)
	}
}

// With Balance, three replicas share six shards two each; when one stops,
// the other two take three each.
func TestShardsBalance(t *testing.T) {
	f := newFixture(t)
	var cs []*Controller
	var stops []context.CancelFunc
	for i := range 3 {
		o := f.controllerOptions(t, fmt.Sprintf("b%d", i), nil)
		o.Shards, o.Balance = 6, true
		c, stop := startStoppable(t, o)
		cs, stops = append(cs, c), append(stops, stop)
	}
	counts := func(cs []*Controller) []int {
		var n []int
		for _, c := range cs {
			n = append(n, len(c.shards.Held()))
		}
		return n
	}
	poll(t, 3*time.Minute, "two shards each", func() (bool, string) {
		n := counts(cs)
		return n[0] == 2 && n[1] == 2 && n[2] == 2, fmt.Sprint(n)
	})
	stops[2]()
	poll(t, 3*time.Minute, "three shards each for the two left", func() (bool, string) {
		n := counts(cs[:2])
		return n[0] == 3 && n[1] == 3, fmt.Sprint(n)
	})
}
