package main

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/rollback"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubernetesStore drives a rollout whose state, operator queue and
// audit trail live in ConfigMaps of a namespace on a real kube-apiserver
// (--store k8s:NAMESPACE), while other processes read it (status,
// history, verify) and steer it (pause, set-weight, abort).
func TestKubernetesStore(t *testing.T) {
	slow(t)
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	kubeconfig := writeKubeconfig(t, env, env.Config.Host)
	t.Setenv("KUBECONFIG", kubeconfig) // every canaryctl below reaches the cluster through $KUBECONFIG
	store := "k8s:" + ns
	m := newMesh(t, 0)
	m.load(t)
	file := m.rolloutFile(t, "payments", "10, 50", "10m", "")
	_, out, waitRun := startRun(t, store, file)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("run's output:\n%s\n%v", out.String(), m)
		}
	})
	until(t, "the rollout to progress at 10 %", func() bool {
		st, ok := statusOf(t, store, "payments")
		return ok && st.Phase == rollback.Progressing && st.Split.Canary == 10
	})
	// --kubeconfig names the file explicitly (without $KUBECONFIG).
	cmd := exec.Command(bin, "status", "payments", "--store", store, "--kubeconfig", kubeconfig)
	cmd.Env = append(cmd.Environ(), "KUBECONFIG=")
	if o, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(o), "progressing") {
		t.Errorf("status --kubeconfig: %v\n%s", err, o)
	}
	o, e, code := ctl(t, store, "pause", "payments", "--actor", "alice", "--reason", "checking the dashboards")
	if code != 0 || !strings.Contains(o, "pause payments by alice: paused at canary 10 %") {
		t.Fatalf("pause: exit %d\n%s%s", code, o, e)
	}
	o, e, code = ctl(t, store, "set-weight", "payments", "--weight", "5", "--actor", "alice", "--reason", "less")
	if code != 0 || !strings.Contains(o, "paused at canary 5 %") {
		t.Errorf("set-weight 5: exit %d\n%s%s", code, o, e)
	}
	if st, _ := statusOf(t, store, "payments"); st.Phase != rollback.Paused || st.Split.Canary != 5 {
		t.Errorf("status after pause and set-weight: %+v", st)
	}
	o, e, code = ctl(t, store, "abort", "payments", "--actor", "bob", "--reason", "error budget spent")
	if code != 0 || !strings.Contains(o, "abort payments by bob") {
		t.Fatalf("abort: exit %d\n%s%s", code, o, e)
	}
	var ee *exec.ExitError
	if err := waitRun(); !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out.String(), "payments rolled-back") {
		t.Errorf("run ended with %v, want exit 1 (rolled back):\n%s", err, out.String())
	}
	hist, _, _ := ctl(t, store, "history", "payments")
	for _, want := range []string{"pause by alice — checking the dashboards", "set-weight 5 by alice — less", "abort by bob — error budget spent"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	if v, e, code := ctl(t, store, "verify", "payments"); code != 0 || !strings.Contains(v, "chain intact") {
		t.Errorf("verify: exit %d %s %s", code, v, e)
	}
	// The three records are ConfigMaps of the namespace.
	cms, err := env.Kube(t).CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int{}
	for _, cm := range cms.Items {
		sizes[cm.Name] = len(cm.Data["record"]) + len(cm.BinaryData["record"])
	}
	for _, want := range []string{"canaryctl-payments", "canaryctl-payments.commands", "canaryctl-payments.audit"} {
		if sizes[want] == 0 {
			t.Errorf("no ConfigMap %s in %s (have %v)", want, ns, sizes)
		}
	}
	events := strings.Count(hist, "\n") - 1
	t.Logf("ConfigMap records: %v; the audit trail holds %d events, %d bytes an event", sizes, events, sizes["canaryctl-payments.audit"]/max(events, 1))
	// A command on the finished rollout is refused and leaves the queue.
	before, _ := env.Kube(t).CoreV1().ConfigMaps(ns).Get(ctx, "canaryctl-payments.commands", metav1.GetOptions{})
	if _, e, code := ctl(t, store, "pause", "payments", "--actor", "alice"); code != exitFinished || !strings.Contains(e, "has finished (rolled-back)") {
		t.Errorf("pause after the end: exit %d %q", code, e)
	}
	after, _ := env.Kube(t).CoreV1().ConfigMaps(ns).Get(ctx, "canaryctl-payments.commands", metav1.GetOptions{})
	if before.ResourceVersion != after.ResourceVersion {
		t.Errorf("the refused pause wrote the queue: resourceVersion %s → %s", before.ResourceVersion, after.ResourceVersion)
	}
}

// TestKubernetesStoreUnavailable: a namespace that does not exist, or an
// API server that does not answer, is one line naming it and a non-zero
// exit, for run and for the commands that read the store; nothing is
// written anywhere.
func TestKubernetesStoreUnavailable(t *testing.T) {
	env := kubetest.Env(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	good := writeKubeconfig(t, env, env.Config.Host)
	down := writeKubeconfig(t, env, "https://"+freeAddr(t)) // nothing listens there
	m := newMesh(t, 0)
	file := m.rolloutFile(t, "ledger", "10, 50", "10m", "")
	for _, tc := range []struct {
		name, store, kubeconfig, want string
	}{
		{"missing namespace", "k8s:no-such-namespace", good, `namespace "no-such-namespace" does not exist`},
		{"API server down", "k8s:" + ns, down, "did not answer"},
		{"not a namespace name", "k8s:Not_A_Name", good, "not a namespace name"},
	} {
		for _, args := range [][]string{
			{"run", "-f", file, "--timeout", "60s"},
			{"status", "ledger"},
			{"pause", "ledger", "--actor", "alice"},
			{"history", "ledger"},
		} {
			cmd := exec.Command(bin, append(args, "--store", tc.store, "--kubeconfig", tc.kubeconfig)...)
			var stdout strings.Builder
			var stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			e := stderr.String()
			if !errors.As(err, new(*exec.ExitError)) || strings.Count(e, "\n") != 1 || !strings.Contains(e, tc.want) {
				t.Errorf("%s: canaryctl %s: %v, stderr %q, want one line saying %q", tc.name, args[0], err, e, tc.want)
			}
			if args[0] == "run" {
				t.Logf("%s: %s", tc.name, strings.TrimSpace(e))
			}
		}
	}
	// Nothing half-written: no namespace was created, no ConfigMap of
	// the rollout exists anywhere.
	if _, err := env.Kube(t).CoreV1().Namespaces().Get(ctx, "no-such-namespace", metav1.GetOptions{}); err == nil {
		t.Error("the missing namespace was created")
	}
	cms, err := env.Kube(t).CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		if strings.HasPrefix(cm.Name, "canaryctl-ledger") {
			t.Errorf("ConfigMap %s/%s was written", cm.Namespace, cm.Name)
		}
	}
}
