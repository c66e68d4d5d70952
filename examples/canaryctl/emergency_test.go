package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/rollback"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// exitOf returns the exit status of a finished command's error.
func exitOf(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestFinishedRolloutArchivedAndDeployedAgain goes through the outcomes of
// a rollout's life in real processes, each with its own exit status: run
// stopped by SIGINT (5), abort with no driver acting itself (0: it must
// not wait for a driver and exit 3), a command and a run on the finished
// rollout (4, the run saying what to do), archive refused for an
// unfinished rollout (6) and while a driver holds it (8), archive of the
// finished one (0), and the same name deployed again.
func TestFinishedRolloutArchivedAndDeployedAgain(t *testing.T) {
	slow(t)
	store := t.TempDir()
	m := newMesh(t, 0)
	m.load(t)
	file := m.rolloutFile(t, "billing", "10, 50", "10m", "")
	first, out, waitFirst := startRun(t, store, file)
	until(t, "the rollout to progress at 10 %", func() bool {
		st, ok := statusOf(t, store, "billing")
		return ok && st.Phase == rollback.Progressing && st.Split.Canary == 10
	})
	// Archive refuses while a driver holds the rollout, even forced.
	if _, e, code := ctl(t, store, "archive", "billing", "--force", "--reason", "x"); code != exitHeld || !strings.Contains(e, "being driven by process") {
		t.Errorf("archive of a driven rollout: exit %d %s", code, e)
	}
	first.Process.Signal(os.Interrupt)
	if code := exitOf(waitFirst()); code != exitStopped || !strings.Contains(out.String(), "stopped before the end") {
		t.Fatalf("run after SIGINT: exit %d, want %d:\n%s", code, exitStopped, out.String())
	}
	// Unfinished: archive refuses without --force, and --force needs a reason.
	if _, e, code := ctl(t, store, "archive", "billing"); code != exitRefused || !strings.Contains(e, "has not finished (progressing at canary 10 %)") {
		t.Errorf("archive of an unfinished rollout: exit %d %s", code, e)
	}
	if _, e, code := ctl(t, store, "archive", "billing", "--force"); code != exitBadInput || !strings.Contains(e, "--force needs a --reason") {
		t.Errorf("archive --force without a reason: exit %d %s", code, e)
	}

	// No driver: the abort acts on the router itself.
	o, e, code := ctl(t, store, "abort", "billing", "--actor", "bob", "--reason", "pager", "--wait", "60s")
	if code != exitOK || !strings.Contains(o, "abort billing by bob: rolled-back at canary 0 %") || !strings.Contains(o, "acted on the router itself") {
		t.Fatalf("abort with no driver: exit %d\n%s%s", code, o, e)
	}
	// The in-process mesh lived in the driver that was stopped: the abort's
	// own proxy starts all-stable (an ephemeral route, traffic.Facts), so
	// the rollback needs no write and the trail says every request goes to
	// stable. Routers that outlive the driver (the Kubernetes tests) are
	// checked for the write itself.
	hist, _, _ := ctl(t, store, "history", "billing")
	for _, want := range []string{"abort by bob — pager", "rolled-back — every request goes to the stable version"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	if q := queueOf(t, store, "billing"); len(q.Queue) != 0 || len(q.Done) != 1 || !q.Done[0].OK {
		t.Errorf("after the abort the queue is %+v, want the abort done", q)
	}
	if v, e, code := ctl(t, store, "verify", "billing"); code != exitOK {
		t.Errorf("verify: exit %d %s %s", code, v, e)
	}

	// Finished: commands and run say so with their own status.
	if _, e, code := ctl(t, store, "pause", "billing", "--actor", "alice"); code != exitFinished || !strings.Contains(e, "has finished (rolled-back)") {
		t.Errorf("pause of the finished rollout: exit %d %s", code, e)
	}
	_, e, code = ctl(t, store, "run", "-f", file)
	if code != exitFinished || !strings.Contains(e, "canaryctl archive billing") || !strings.Contains(e, "new run key") || strings.Count(strings.TrimSpace(e), "\n") != 0 {
		t.Errorf("run of the finished rollout: exit %d %q", code, e)
	}

	// Archive: the records move aside, audited; the name is free again.
	o, e, code = ctl(t, store, "archive", "billing", "--actor", "carol", "--reason", "redeploy")
	if code != exitOK || !strings.Contains(o, "archived billing (rolled-back) as billing.archived.") {
		t.Fatalf("archive: exit %d\n%s%s", code, o, e)
	}
	as := strings.Fields(o[strings.Index(o, " as ")+4:])[0]
	for _, k := range []string{"billing", "billing.commands", "billing.audit"} {
		if _, err := os.Stat(filepath.Join(store, k+".rec")); !os.IsNotExist(err) {
			t.Errorf("%s is still in the store after the archive (%v)", k, err)
		}
		if _, err := os.Stat(filepath.Join(store, strings.Replace(k, "billing", as, 1)+".rec")); err != nil {
			t.Errorf("the archive lacks %s: %v", k, err)
		}
	}
	hist, _, code = ctl(t, store, "history", as)
	if code != exitOK || !strings.Contains(hist, "archive to "+as) || !strings.Contains(hist, "carol — redeploy") || !strings.Contains(hist, "abort by bob") {
		t.Errorf("history of the archive (exit %d):\n%s", code, hist)
	}
	if v, e, code := ctl(t, store, "verify", as); code != exitOK || !strings.Contains(v, "chain intact") {
		t.Errorf("verify of the archive: exit %d %s %s", code, v, e)
	}
	if st, ok := statusOf(t, store, as); !ok || st.Phase != rollback.RolledBack {
		t.Errorf("status of the archive: %+v", st)
	}

	// Deployed again under the same name: a new rollout, a new trail.
	again, out2, waitAgain := startRun(t, store, file)
	until(t, "the new rollout to progress at 10 %", func() bool {
		st, ok := statusOf(t, store, "billing")
		return ok && st.Phase == rollback.Progressing && st.Split.Canary == 10
	})
	again.Process.Signal(os.Interrupt)
	if code := exitOf(waitAgain()); code != exitStopped {
		t.Errorf("the new run: exit %d:\n%s", code, out2.String())
	}
	hist, _, _ = ctl(t, store, "history", "billing")
	if strings.Count(hist, "rollout started") != 1 || strings.Contains(hist, "abort") {
		t.Errorf("history of the new rollout:\n%s", hist)
	}
}

// gatewayRoute creates the HTTPRoute "cart" in ns (rule "api" split
// between the Services cart and cart-canary) and returns the rollout
// file's router section for it and a function that reads its weights.
func gatewayRoute(t *testing.T, env *kubetest.Environment, ns, kubeconfig string) (string, func() map[string]int64) {
	t.Helper()
	ctx := context.Background()
	backend := func(name string, weight int64) any {
		return map[string]any{"name": name, "port": int64(8080), "weight": weight}
	}
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": "cart", "namespace": ns},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": "mesh-gateway"}},
			"rules": []any{map[string]any{"name": "api",
				"matches":     []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/api"}}},
				"backendRefs": []any{backend("cart", 1), backend("cart-canary", 0)}}},
		},
	}}
	if _, err := env.Dynamic(t).Resource(httpRoutes).Namespace(ns).Create(ctx, route, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	router := "  gatewayapi: {kubeconfig: " + kubeconfig + ", namespace: " + ns + ", route: cart, rule: api, stable: cart, canary: cart-canary}\n"
	return router, func() map[string]int64 {
		got, err := env.Dynamic(t).Resource(httpRoutes).Namespace(ns).Get(ctx, "cart", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rules, _, _ := unstructured.NestedSlice(got.Object, "spec", "rules")
		w := map[string]int64{}
		for _, r := range rules {
			refs, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
			for _, ref := range refs {
				n, _, _ := unstructured.NestedString(ref.(map[string]any), "name")
				v, _, _ := unstructured.NestedInt64(ref.(map[string]any), "weight")
				w[n] = v
			}
		}
		return w
	}
}

// TestAbortWithoutDriver: with no driver (the driver was killed with
// SIGKILL), abort acts on the router itself, through the store's
// compare-and-swap as a driver would — decision saved, every request to
// stable (the HTTPRoute on a real kube-apiserver), verified, audited —
// for the file store and the Kubernetes store.
func TestAbortWithoutDriver(t *testing.T) {
	slow(t)
	env := kubetest.Env(t)
	for _, kind := range []string{"file", "k8s"} {
		t.Run(kind, func(t *testing.T) {
			ns := env.Namespace(t)
			kubeconfig := writeKubeconfig(t, env, env.Config.Host)
			t.Setenv("KUBECONFIG", kubeconfig)
			store := t.TempDir()
			if kind == "k8s" {
				store = "k8s:" + ns
			}
			router, weights := gatewayRoute(t, env, ns, kubeconfig)
			file := write(t, "cart.yaml", "name: cart\nrouter:\n"+router+"plan:\n  stages: [20, 50]\n  interval: 1s\n  hold: 10m\n")
			driver, out, waitDriver := startRun(t, store, file)
			until(t, "the rollout to progress at 20 %", func() bool {
				st, ok := statusOf(t, store, "cart")
				return ok && st.Phase == rollback.Progressing && st.Split.Canary == 20
			})
			driver.Process.Signal(os.Kill)
			waitDriver()
			if w := weights(); w["cart-canary"] != 20 {
				t.Fatalf("HTTPRoute weights before the abort: %v\n%s", w, out.String())
			}
			o, e, code := ctl(t, store, "abort", "cart", "--actor", "bob", "--reason", "pager", "--wait", "60s")
			if code != exitOK || !strings.Contains(o, "rolled-back at canary 0 %") || !strings.Contains(o, "acted on the router itself") {
				t.Fatalf("abort with no driver: exit %d\n%s%s", code, o, e)
			}
			if w := weights(); w["cart-canary"] != 0 || w["cart"] != 100 {
				t.Errorf("HTTPRoute weights after the abort: %v", w)
			}
			hist, _, _ := ctl(t, store, "history", "cart")
			for _, want := range []string{"abort by bob — pager", "set-split stable 100% / canary 0%"} {
				if !strings.Contains(hist, want) {
					t.Errorf("history lacks %q:\n%s", want, hist)
				}
			}
			if v, e, code := ctl(t, store, "verify", "cart"); code != exitOK {
				t.Errorf("verify: exit %d %s %s", code, v, e)
			}
			if _, e, code := ctl(t, store, "run", "-f", file); code != exitFinished {
				t.Errorf("run after the abort: exit %d %s", code, e)
			}
		})
	}
}

// TestAbortWithDriverOnAnotherMachine plays two machines
// (CANARYCTL_TEST_HOST) sharing a store. While the driver lives, an
// abort from the other machine sees the driver's heartbeat and leaves
// the abort to it (the driver applies it and ends rolled back, exit 1;
// had the abort taken the rollout over, the driver would have been fenced
// off, exit 8). A driver frozen (SIGSTOP) stops writing: the abort takes
// the rollout over and acts; when the driver wakes up, its next save is
// refused by the compare-and-swap and it stops (exit 8) without writing
// the router again.
func TestAbortWithDriverOnAnotherMachine(t *testing.T) {
	slow(t)
	env := kubetest.Env(t)
	for _, kind := range []string{"file", "k8s"} {
		t.Run(kind, func(t *testing.T) {
			kubeconfig := writeKubeconfig(t, env, env.Config.Host)
			t.Setenv("KUBECONFIG", kubeconfig)
			for _, frozen := range []bool{false, true} {
				ns := env.Namespace(t)
				store := t.TempDir()
				if kind == "k8s" {
					store = "k8s:" + ns
				}
				router, weights := gatewayRoute(t, env, ns, kubeconfig)
				file := write(t, "cart.yaml", "name: cart\nrouter:\n"+router+"plan:\n  stages: [20, 50]\n  interval: 1s\n  hold: 10m\n")
				driver, out, waitDriver := startRun(t, store, file, "CANARYCTL_TEST_HOST=machine-a")
				until(t, "the rollout to progress at 20 %", func() bool {
					st, ok := statusOf(t, store, "cart")
					return ok && st.Phase == rollback.Progressing && st.Split.Canary == 20
				})
				if frozen {
					driver.Process.Signal(syscall.SIGSTOP)
				}
				cmd := exec.Command(bin, "abort", "cart", "--store", store, "--actor", "bob", "--reason", "pager", "--wait", "60s")
				cmd.Env = append(os.Environ(), "CANARYCTL_TEST_HOST=machine-b")
				o, err := cmd.CombinedOutput()
				if err != nil || !strings.Contains(string(o), "rolled-back at canary 0 %") || strings.Contains(string(o), "acted on the router itself") != frozen {
					t.Fatalf("frozen %v: abort from machine-b: %v\n%s", frozen, err, o)
				}
				if w := weights(); w["cart-canary"] != 0 || w["cart"] != 100 {
					t.Errorf("frozen %v: HTTPRoute weights after the abort: %v", frozen, w)
				}
				want := exitRolledBack
				if frozen {
					want = exitHeld
					driver.Process.Signal(syscall.SIGCONT)
				}
				if code := exitOf(waitDriver()); code != want {
					t.Errorf("frozen %v: the driver ended with exit %d, want %d:\n%s", frozen, code, want, out.String())
				}
				if w := weights(); w["cart-canary"] != 0 || w["cart"] != 100 {
					t.Errorf("frozen %v: HTTPRoute weights after the driver ended: %v", frozen, w)
				}
				hist, _, _ := ctl(t, store, "history", "cart")
				if strings.Count(hist, "abort by bob") != 1 || strings.Count(hist, "set-split stable 100% / canary 0%") != 1 {
					t.Errorf("frozen %v: history:\n%s", frozen, hist)
				}
				if v, e, code := ctl(t, store, "verify", "cart"); code != exitOK {
					t.Errorf("frozen %v: verify: exit %d %s %s", frozen, code, v, e)
				}
			}
		})
	}
}
