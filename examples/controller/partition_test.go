package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/store"
)

// faultyCanary answers like fakeMetrics for a faulty canary, whatever its
// name: every canary workload fails 20 % of 10,000 requests.
type faultyCanary struct{}

func (faultyCanary) Query(_ context.Context, q metrics.Query) (metrics.Result, error) {
	if err := q.Validate(); err != nil {
		return metrics.Result{}, err
	}
	m := workloadRE.FindStringSubmatch(q.Text)
	if m == nil {
		return metrics.Result{}, fmt.Errorf("faulty metrics: no workload in %q", q.Text)
	}
	if strings.HasSuffix(m[1], "-canary") {
		return metrics.Result{Value: 0.2, Count: 10000}, nil
	}
	return metrics.Result{Value: 0.001, Count: 10000}, nil
}

// startStoppable runs an in-process replica; stop ends it and returns once
// its Run has returned (no request of it is in flight any more).
func startStoppable(t testing.TB, o Config) (*Controller, func()) {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return c, stop
}

// A real partition. Replica A holds the shard's Lease and drives a
// rollout; then A's network is cut just as it sends its next state write
// (the decision to promote: A's metrics say the canary is healthy). A
// keeps running and does not notice: its renewal is held on the wire like
// its write. The Lease expires on the API server and replica B takes it;
// B's metrics see the canary fail, and B rolls the rollout back, its state
// persisted in the ConfigMap. Then A's network returns and its stale write
// reaches the API server: it is refused (409 Conflict on the
// resourceVersion, store.ErrConflict in A), and A writes no traffic after
// it. The rollout ends rolled back once, never promoted, with no canary
// traffic after the persisted rollback. Every wait is on a condition seen
// on the API server or in a replica, with generous limits; time in A's
// rollout is A's own manual clock.
func TestPartitionExpiredLease(t *testing.T) {
	f := newFixture(t)
	obs := &observed{weights: map[string][]rvInt{}, rolledBack: map[string]int64{}}
	wctx, stopWatch := context.WithCancel(f.ctx)
	defer stopWatch()
	obs.watchAll(wctx, t, f)
	const app, lease = "split", "meshcanary-shard-0"
	leases := watchLeases(wctx, t, f)
	f.app(t, app, nil) // steps 50 and 100, 1 s apart
	holder := func() string {
		l, err := f.kc.CoordinationV1().Leases(f.ns).Get(f.ctx, lease, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	stateName := kubernetes.DefaultPrefix + storeKey(&Rollout{Name: app})
	state := func() (string, string) {
		cm, err := f.kc.CoreV1().ConfigMaps(f.ns).Get(f.ctx, stateName, metav1.GetOptions{})
		if err != nil {
			return "", err.Error()
		}
		return cm.ResourceVersion, cm.Data[kubernetes.RecordKey]
	}

	// Replica A: its own wire, its own clock, healthy metrics.
	wa := newWire()
	cfgA := rest.CopyConfig(f.env.Config)
	cfgA.Timeout = 0 // no client deadline on a held request
	cfgA.WrapTransport = wa.wrap
	oa := f.controllerOptions(t, "a", cfgA)
	// Lease timing: short, but a renewal must stall for 5 s before a
	// replica gives a shard up on its own; under that the test's "A has not
	// noticed" check would fail, saying so.
	oa.Shards, oa.LeaseDuration, oa.RenewDeadline = 1, 6*time.Second, 5*time.Second
	clockA := newManualClock(time.Now())
	oa.Clock = clockA.Now
	logsA := &logCapture{}
	oa.Log = slog.New(captureHandler{logsA, oa.Log.Handler()})
	a, stopA := startStoppable(t, oa)
	t.Cleanup(wa.heal) // runs before stopA's cleanup: A's held requests must end for A to stop
	poll(t, 2*time.Minute, "A to hold the shard", func() (bool, string) { h := holder(); return h == "a", h })
	poll(t, 2*time.Minute, "A to set the first step", func() (bool, string) {
		r := f.rollout(t, app)
		return r.Status.CanaryWeight == 50 && f.canaryWeight(t, app, app+"-canary") == 50, fmt.Sprintf("%+v", r.Status)
	})

	// Replica B contests the shard while A renews it. Its metrics see
	// the canary fail.
	cfgB := rest.CopyConfig(f.env.Config)
	ob := f.controllerOptions(t, "b", cfgB)
	ob.Shards, ob.Metrics, ob.LeaseDuration, ob.RenewDeadline = 1, faultyCanary{}, oa.LeaseDuration, oa.RenewDeadline
	start(t, ob)

	// The partition starts at A's next write of the rollout's state.
	wa.cutOn(func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/configmaps/"+stateName)
	})
	clockA.Add(2 * time.Second) // A's next step is due
	var stale wireReq
	poll(t, 2*time.Minute, "A's state write to be held on the cut wire", func() (bool, string) {
		for _, r := range wa.snapshot() {
			if r.Held && r.Method == http.MethodPut && resourceOf(r.Path) == "configmaps" {
				stale = r
				return true, ""
			}
		}
		return false, ""
	})
	cut := time.Now()

	// The Lease expires on the API server; B takes it. A has not noticed:
	// its renewal is held too.
	poll(t, 2*time.Minute, "B to hold the shard", func() (bool, string) { h := holder(); return h == "b", h })
	leaseMoved := time.Since(cut)
	if !slices.Contains(a.shards.Held(), 0) {
		t.Fatal("A noticed it lost the shard while cut off; the partition is not the one under test")
	}
	// B drives the rollout on from the persisted state: a rollback.
	poll(t, 2*time.Minute, "B to persist the rollback", func() (bool, string) {
		_, rec := state()
		r := f.rollout(t, app)
		return strings.Contains(rec, `"phase":"rolled-back"`) && r.Status.Phase == "rolled-back" && f.canaryWeight(t, app, app+"-canary") == 0,
			fmt.Sprintf("state %s; status %+v", rec, r.Status)
	})
	rolledBack := time.Since(cut)
	if !slices.Contains(a.shards.Held(), 0) {
		t.Fatal("A noticed it lost the shard while cut off")
	}

	// A's network returns: its stale write reaches the API server.
	wa.heal()
	poll(t, 2*time.Minute, "A's stale write to be answered", func() (bool, string) {
		r := wa.snapshot()[stale.Seq]
		return r.Done, ""
	})
	if r := wa.snapshot()[stale.Seq]; r.Status != http.StatusConflict {
		t.Fatalf("A's stale state write (%s %s) answered %d (%v), want 409 Conflict", r.Method, r.Path, r.Status, r.Err)
	}
	poll(t, 2*time.Minute, "A to take the refusal as a conflict", func() (bool, string) {
		for _, err := range logsA.find("fenced off by the store; reloading") {
			if errors.Is(err, errFenced) && errors.Is(err, store.ErrConflict) {
				return true, ""
			}
		}
		return false, fmt.Sprint(logsA.errors())
	})
	poll(t, 2*time.Minute, "A to notice it lost the shard", func() (bool, string) {
		return logsA.count("shard lost") > 0, fmt.Sprint(a.shards.Held())
	})
	stopA() // from here A sends nothing

	// B kept the Lease throughout: A, noticing, did not release it (its
	// lock refuses to release a Lease another holds) nor take it back.
	holders := leases.upTo(t, f, lease)
	seenB := false
	for _, h := range holders {
		seenB = seenB || h == "b"
		if seenB && h != "b" {
			t.Errorf("the Lease's holders, in order: %q; after B took it, it went to %q", holders, h)
			break
		}
	}

	// From the cut on, A wrote no traffic and no state.
	for _, r := range wa.snapshot()[stale.Seq:] {
		switch res := resourceOf(r.Path); {
		case isWrite(r.Method) && res == "virtualservices":
			t.Errorf("A wrote the VirtualService after the cut: %s %s → %d", r.Method, r.Path, r.Status)
		case isWrite(r.Method) && res == "configmaps" && r.Status/100 == 2:
			t.Errorf("A's state write after the cut was accepted: %s %s → %d", r.Method, r.Path, r.Status)
		}
	}
	// The rollout ended consistently: rolled back once, never promoted,
	// no canary traffic after the persisted rollback; B's state stays.
	_, rec := state()
	if !strings.Contains(rec, `"phase":"rolled-back"`) {
		t.Errorf("final state %s, want B's rollback", rec)
	}
	if r := f.rollout(t, app); r.Status.Phase != "rolled-back" || r.Status.CanaryWeight != 0 {
		t.Errorf("final status %+v", r.Status)
	}
	if w := f.canaryWeight(t, app, app+"-canary"); w != 0 {
		t.Errorf("final canary weight %d", w)
	}
	d, err := f.kc.AppsV1().Deployments(f.ns).Get(f.ctx, app+"-canary", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 0 {
		t.Errorf("canary Deployment not scaled to zero: %v %v", d.Spec.Replicas, err)
	}
	stopWatch()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	rb, ok := obs.rolledBack[app]
	if !ok {
		t.Fatal("no persisted rollback seen by the watch")
	}
	for _, w := range obs.weights[app] {
		if w.v == 100 {
			t.Errorf("the canary was promoted (weight 100 at revision %d)", w.rv)
		}
		if w.rv > rb && w.v > 0 {
			t.Errorf("canary weight %d written at revision %d, after the rollback persisted at %d", w.v, w.rv, rb)
		}
	}
	t.Logf("partition: A cut at its state write; the Lease held by B %v later (lease duration %v), the rollback persisted by B %v after the cut; A's stale write refused with 409 after the network returned; Lease holders %q; VirtualService (revision, canary weight) %v",
		leaseMoved.Round(10*time.Millisecond), oa.LeaseDuration, rolledBack.Round(10*time.Millisecond), holders, obs.weights[app])
}

// leaseHistory is every holder of each Lease of the namespace, in the
// order of the Lease's revisions, as a watch saw them.
type leaseHistory struct {
	mu      sync.Mutex
	holders map[string][]string
	lastRV  map[string]int64
}

func watchLeases(ctx context.Context, t *testing.T, f *fixture) *leaseHistory {
	t.Helper()
	h := &leaseHistory{holders: map[string][]string{}, lastRV: map[string]int64{}}
	w := watchFrom(ctx, t, func(ctx context.Context) (string, error) {
		l, err := f.kc.CoordinationV1().Leases(f.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", err
		}
		return l.ResourceVersion, nil
	}, func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		return f.kc.CoordinationV1().Leases(f.ns).Watch(ctx, opts)
	})
	go func() { <-ctx.Done(); w.Stop() }()
	go func() {
		for ev := range w.ResultChan() {
			x, ok := ev.Object.(*coordinationv1.Lease)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			holder := ""
			if x.Spec.HolderIdentity != nil {
				holder = *x.Spec.HolderIdentity
			}
			rv, _ := strconv.ParseInt(x.ResourceVersion, 10, 64)
			h.mu.Lock()
			if hs := h.holders[x.Name]; len(hs) == 0 || hs[len(hs)-1] != holder {
				h.holders[x.Name] = append(hs, holder)
			}
			h.lastRV[x.Name] = rv
			h.mu.Unlock()
		}
	}()
	return h
}

// upTo waits until the watch has seen the Lease's revision current now,
// and returns its holders so far.
func (h *leaseHistory) upTo(t *testing.T, f *fixture, name string) []string {
	t.Helper()
	l, err := f.kc.CoordinationV1().Leases(f.ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rv, _ := strconv.ParseInt(l.ResourceVersion, 10, 64)
	var out []string
	poll(t, 2*time.Minute, "the Lease watch to catch up", func() (bool, string) {
		h.mu.Lock()
		defer h.mu.Unlock()
		out = slices.Clone(h.holders[name])
		return h.lastRV[name] >= rv, fmt.Sprintf("seen revision %d of %d", h.lastRV[name], rv)
	})
	return out
}
