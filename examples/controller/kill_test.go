package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/meshcanary/canary/providers/kubernetes"
)

// replica is one controller process.
type replica struct {
	id   string
	cmd  *exec.Cmd
	done chan struct{}
	log  string // the process's stdout and stderr
}

// startReplica starts a replica process with the flags the tests use,
// then extra ones.
func startReplica(t *testing.T, f *fixture, kcfg, id string, shards int, extra ...string) *replica {
	t.Helper()
	args, _ := json.Marshal(append([]string{"-kubeconfig", kcfg, "-namespace", f.ns, "-lease-namespace", f.ns,
		"-identity", id, "-shards", strconv.Itoa(shards), "-lease-duration", "3s", "-renew-deadline", "2s",
		"-retry-period", "500ms", "-metrics-address", "", "-workers", "4"}, extra...))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MESHCANARY_CONTROLLER_ARGS="+string(args))
	logf, err := os.Create(t.TempDir() + "/" + id + ".log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{id: id, cmd: cmd, done: make(chan struct{}), log: logf.Name()}
	go func() { _ = cmd.Wait(); logf.Close(); close(r.done) }()
	t.Cleanup(func() { r.kill() })
	return r
}

func (r *replica) kill() {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Kill() // SIGKILL: no clean shutdown, no Lease release
	<-r.done
}

// observed is what the test's own watches saw, in resourceVersion order
// (etcd's revision, which orders writes across objects).
type observed struct {
	mu sync.Mutex
	// weights[app] lists (revision, canary weight) of every VirtualService
	// write.
	weights map[string][]rvInt
	// rolledBack[app] is the revision of the first persisted state in
	// rolling-back or rolled-back.
	rolledBack map[string]int64
}

type rvInt struct {
	rv int64
	v  int64
}

// watchAll follows the namespace's VirtualServices and state ConfigMaps
// until ctx ends.
func (o *observed) watchAll(ctx context.Context, t *testing.T, f *fixture) {
	rv := func(obj runtime.Object) int64 {
		m, _ := obj.(metav1.Object)
		n, _ := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
		return n
	}
	vw := watchFrom(ctx, t, func(ctx context.Context) (string, error) {
		l, err := f.dc.Resource(vsGVR).Namespace(f.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", err
		}
		return l.GetResourceVersion(), nil
	}, func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		return f.dc.Resource(vsGVR).Namespace(f.ns).Watch(ctx, opts)
	})
	cw := watchFrom(ctx, t, func(ctx context.Context) (string, error) {
		l, err := f.kc.CoreV1().ConfigMaps(f.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", err
		}
		return l.ResourceVersion, nil
	}, func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		return f.kc.CoreV1().ConfigMaps(f.ns).Watch(ctx, opts)
	})
	go func() {
		for ev := range vw.ResultChan() {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			w := canaryWeightOf(u, u.GetName()+"-canary")
			o.mu.Lock()
			o.weights[u.GetName()] = append(o.weights[u.GetName()], rvInt{rv(u), w})
			o.mu.Unlock()
		}
	}()
	go func() {
		for ev := range cw.ResultChan() {
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok || ev.Type == watch.Deleted || !strings.HasPrefix(cm.Name, kubernetes.DefaultPrefix+"rollout-") {
				continue
			}
			var s struct {
				Phase string `json:"phase"`
			}
			if json.Unmarshal([]byte(cm.Data["record"]), &s) != nil {
				continue
			}
			if s.Phase == "rolling-back" || s.Phase == "rolled-back" {
				app := strings.TrimPrefix(cm.Name, kubernetes.DefaultPrefix+"rollout-")
				o.mu.Lock()
				if _, ok := o.rolledBack[app]; !ok {
					o.rolledBack[app] = rv(cm)
				}
				o.mu.Unlock()
			}
		}
	}()
	go func() { <-ctx.Done(); vw.Stop(); cw.Stop() }()
}

func canaryWeightOf(u *unstructured.Unstructured, canarySvc string) int64 {
	http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	for _, h := range http {
		routes, _, _ := unstructured.NestedSlice(h.(map[string]any), "route")
		for _, r := range routes {
			host, _, _ := unstructured.NestedString(r.(map[string]any), "destination", "host")
			if host == canarySvc {
				w, _, _ := unstructured.NestedInt64(r.(map[string]any), "weight")
				return w
			}
		}
	}
	return 0
}

// Three replicas drive batches of rollouts while the test kills -9 the
// holder of a shard with rollouts in progress, again and again, at random
// points. It checks that no rollout is lost (each finishes as its canary
// deserves), that no canary traffic is written after a persisted
// rollback, that no rollout is promoted twice, and that every rollout
// event is recorded as an Event exactly once (numbers 1…n, no gap, no
// duplicate). It reports the failover times and does not assert them.
func TestKillShardHolders(t *testing.T) {
	if testing.Short() {
		t.Skip("the kill test runs in the full suite")
	}
	const (
		shards   = 6
		batch    = 25
		minTotal = 100
		minKills = 50
		// Kills happen only while rollouts run, one failover at a time,
		// so a slow (loaded) machine fits fewer kills into a batch: more
		// batches are made until the kills are in, bounded by the
		// deadline below rather than by a count tuned to a fast machine
		// (12 batches got only 47 kills on a loaded one).
		maxBatches = 60
	)
	f := newFixture(t)
	kcfg := kubeconfig(t, f.applyRBAC(t, nil)) // the replicas run as deploy/rbac.yaml's ServiceAccount
	obs := &observed{weights: map[string][]rvInt{}, rolledBack: map[string]int64{}}
	wctx, stopWatch := context.WithCancel(f.ctx)
	defer stopWatch()
	obs.watchAll(wctx, t, f)

	gen := 0
	alive := map[string]*replica{}
	for range 3 {
		gen++
		id := fmt.Sprintf("r%d", gen)
		alive[id] = startReplica(t, f, kcfg, id, shards)
	}
	steps := []any{}
	for w := int64(10); w <= 100; w += 10 {
		steps = append(steps, w)
	}
	var apps []string
	created := 0
	addBatch := func() {
		for i := 0; i < batch; i++ {
			name := fmt.Sprintf("app-%d", created)
			if created%3 == 2 {
				name = fmt.Sprintf("faulty-%d", created)
			}
			created++
			spec := rolloutSpec(name)
			spec["plan"].(map[string]any)["stages"] = steps
			spec["plan"].(map[string]any)["interval"] = "2s"
			f.app(t, name, spec)
			apps = append(apps, name)
		}
	}
	final := func(name string) bool {
		p := f.rollout(t, name).Status.Phase
		return p == "succeeded" || p == "rolled-back"
	}
	addBatch()
	sh := newShards(Config{Shards: shards}, nil, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	var failovers []time.Duration
	kills := 0
	deadline := time.Now().Add(30 * time.Minute)
	for {
		var running []string
		for _, a := range apps {
			if !final(a) {
				running = append(running, a)
			}
		}
		if len(running) == 0 {
			if created >= minTotal && kills >= minKills {
				break
			}
			if created/batch >= maxBatches {
				t.Fatalf("%d batches created and only %d kills", created/batch, kills)
			}
			addBatch()
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollouts still running after the bound: %v", running)
		}
		if kills >= minKills && created >= minTotal {
			time.Sleep(500 * time.Millisecond) // let the last ones finish
			continue
		}
		// Kill the holder of a shard with a rollout in progress, at a
		// random point of its work.
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		target := running[rng.IntN(len(running))]
		lease := leaseName(sh.of(f.ns + "/" + target))
		l, err := f.kc.CoordinationV1().Leases(f.ns).Get(f.ctx, lease, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		holder := *l.Spec.HolderIdentity
		r, ok := alive[holder]
		if !ok {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		killed := time.Now()
		r.kill()
		delete(alive, holder)
		kills++
		gen++
		id := fmt.Sprintf("r%d", gen)
		alive[id] = startReplica(t, f, kcfg, id, shards)
		poll(t, 2*time.Minute, "the shard to move", func() (bool, string) {
			l, err := f.kc.CoordinationV1().Leases(f.ns).Get(f.ctx, lease, metav1.GetOptions{})
			if err != nil || l.Spec.HolderIdentity == nil {
				return false, fmt.Sprint(err)
			}
			return *l.Spec.HolderIdentity != holder, *l.Spec.HolderIdentity
		})
		failovers = append(failovers, time.Since(killed))
	}
	stopWatch()

	// No lost rollout, each finished as its canary deserves.
	for _, a := range apps {
		r := f.rollout(t, a)
		want := "succeeded"
		if strings.HasPrefix(a, "faulty") {
			want = "rolled-back"
		}
		if r.Status.Phase != want {
			t.Errorf("%s finished %s, want %s", a, r.Status.Phase, want)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, a := range apps {
		ws := obs.weights[a]
		promotions := 0
		for i, w := range ws {
			if w.v == 100 && (i == 0 || ws[i-1].v != 100) {
				promotions++
			}
		}
		if strings.HasPrefix(a, "faulty") && promotions != 0 || !strings.HasPrefix(a, "faulty") && promotions != 1 {
			t.Errorf("%s promoted %d times", a, promotions)
		}
		if rb, ok := obs.rolledBack[a]; ok {
			for _, w := range ws {
				if w.rv > rb && w.v > 0 {
					t.Errorf("%s: canary weight %d written at revision %d, after the rollback persisted at %d", a, w.v, w.rv, rb)
				}
			}
		} else if strings.HasPrefix(a, "faulty") {
			t.Errorf("%s: no persisted rollback seen", a)
		}
	}
	// Every rollout event once: numbers 1…n with no gap and no duplicate.
	evs, err := f.kc.CoreV1().Events(f.ns).List(f.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seqs := map[string][]int{}
	for _, e := range evs.Items {
		if s, ok := e.Annotations[kubernetes.EventSeqAnnotation]; ok {
			n, _ := strconv.Atoi(s)
			seqs[e.InvolvedObject.Name] = append(seqs[e.InvolvedObject.Name], n)
		}
	}
	for _, a := range apps {
		s := seqs[a]
		slices.Sort(s)
		for i, n := range s {
			if n != i+1 {
				t.Errorf("%s: Events numbered %v, want 1…%d once each", a, s, len(s))
				break
			}
		}
	}
	slices.Sort(failovers)
	if len(failovers) > 0 {
		t.Logf("%d rollouts, %d kills -9 of shard holders; failover (kill → Lease held by another replica, polled every 200 ms): median %v, worst %v",
			len(apps), kills, failovers[len(failovers)/2].Round(10*time.Millisecond), failovers[len(failovers)-1].Round(10*time.Millisecond))
	}
}
