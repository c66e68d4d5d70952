package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshcanary/canary/internal/kubetest"
	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/rollback"
)

// bin is the canaryctl binary, built once for every test.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "canaryctl-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "canaryctl")
	corpusRoot = filepath.Join(dir, "corpus")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building canaryctl: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := kubetest.Main(m) // runs the tests, then stops the Kubernetes test environment if one started
	os.RemoveAll(dir)
	os.Exit(code)
}

// wait bounds every poll of the tests: generous, for a loaded CI machine.
const wait = 90 * time.Second

// ctl runs canaryctl with the store dir and returns stdout, stderr and the
// exit status.
func ctl(t *testing.T, store string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "CANARYCTL_STORE="+store)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func backend(t *testing.T, version string, errRate float64) string {
	t.Helper()
	b, err := httpsplit.NewBackend(httpsplit.BackendConfig{Version: version, ErrorRate: errRate, Latency: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(b)
	t.Cleanup(s.Close)
	return s.URL
}

// mesh is a rollout's setting: two back ends and the proxy's address.
type mesh struct {
	listen, stable, canary string
	sent, failed           *atomic.Int64
	lastErr                *atomic.Value
}

func newMesh(t *testing.T, canaryErrors float64) mesh {
	return mesh{listen: freeAddr(t), stable: backend(t, "v1", 0), canary: backend(t, "v2", canaryErrors),
		sent: new(atomic.Int64), failed: new(atomic.Int64), lastErr: new(atomic.Value)}
}

func (m mesh) String() string {
	return fmt.Sprintf("load: %d answered, %d failed (last error %v)", m.sent.Load(), m.failed.Load(), m.lastErr.Load())
}

// rolloutFile writes a rollout file for m and returns its path.
func (m mesh) rolloutFile(t *testing.T, name, steps, hold, extra string) string {
	t.Helper()
	y := fmt.Sprintf(`name: %s
target:
  service: checkout
  stable: {version: stable}
  canary: {version: canary}
router:
  httpsplit: {listen: "%s", stable: "%s", canary: "%s"}
provider:
  httpsplit: {}
metrics:
  - {name: error-rate, builtin: httpsplit/error-rate}
plan:
  stages: [%s]
  interval: 2s
  hold: %s
  deadline: 60s
policy:
  failureLimit: 2
analysis:
  analyzers:
    - threshold:
        minCount: 5
        limits: [{metric: error-rate, max: 0.02}]
%s`, name, m.listen, m.stable, m.canary, steps, hold, extra)
	p := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// load sends requests through the mesh from four workers (up to about 800
// a second on an idle machine) until the test ends.
func (m mesh) load(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	c := &http.Client{Timeout: 2 * time.Second}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				resp, err := c.Get("http://" + m.listen + "/")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					m.sent.Add(1)
				} else {
					m.failed.Add(1)
					m.lastErr.Store(err.Error())
				}
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// slow skips a test that drives rollouts in real time under go test -short.
func slow(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("drives a rollout in real time; skipped under -short")
	}
}

// statusOf reads a rollout's status through canaryctl status --json.
func statusOf(t *testing.T, store, name string) (rollback.Status, bool) {
	t.Helper()
	out, _, code := ctl(t, store, "status", name, "--json")
	if code != 0 {
		return rollback.Status{}, false
	}
	var st rollback.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st, true
}

// until polls cond every 200 ms until it holds, failing the test after
// wait.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRunHealthyCanaryIsPromoted(t *testing.T) {
	slow(t)
	store := t.TempDir()
	m := newMesh(t, 0)
	m.load(t)
	file := m.rolloutFile(t, "checkout", "20, 50", "1s", "")
	out, errOut, code := ctl(t, store, "run", "-f", file, "--timeout", "120s")
	if code != 0 || !strings.Contains(out, "checkout succeeded") {
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s\n%v", code, out, errOut, m)
	}
	// Plain lines, not a redrawn screen, when stdout is not a terminal.
	if strings.Contains(out, "\x1b[") || !strings.Contains(out, "status: progressing, canary 20 %") {
		t.Errorf("run output is not plain lines:\n%s", out)
	}
	st, ok := statusOf(t, store, "checkout")
	if !ok || st.Phase != rollback.Succeeded || st.CanaryWeight != 100 {
		t.Errorf("status after run: %+v", st)
	}
	hist, _, code := ctl(t, store, "history", "checkout")
	if code != 0 || !strings.Contains(hist, "progressing → succeeded") && !strings.Contains(hist, "→ succeeded") {
		t.Errorf("history (exit %d):\n%s", code, hist)
	}
	if !strings.Contains(hist, " GMT ") && !strings.Contains(hist, " BST ") {
		t.Errorf("history shows no London times:\n%s", hist)
	}
	ver, verr, code := ctl(t, store, "verify", "checkout")
	if code != 0 || !strings.Contains(ver, "chain intact") {
		t.Errorf("verify: exit %d %s %s", code, ver, verr)
	}
	// Editing a line, or removing the last ones, shows.
	trail := filepath.Join(store, "checkout.audit.rec")
	orig, _ := os.ReadFile(trail)
	os.WriteFile(trail, bytes.Replace(orig, []byte(`"weightTo":20`), []byte(`"weightTo":30`), 1), 0o600)
	if _, e, code := ctl(t, store, "verify", "checkout"); code != exitTampered || !strings.Contains(e, "tampered") {
		t.Errorf("verify of an edited trail: exit %d %s", code, e)
	}
	lines := bytes.SplitAfter(orig, []byte("\n"))
	os.WriteFile(trail, bytes.Join(lines[:len(lines)-3], nil), 0o600)
	if _, e, code := ctl(t, store, "verify", "checkout"); code != exitTampered || !strings.Contains(e, "lines were removed from the end") {
		t.Errorf("verify of a truncated trail: exit %d %s", code, e)
	}
	os.WriteFile(trail, orig, 0o600)

	// A second run of a finished rollout is refused with its own exit
	// status, says what to do, and changes nothing.
	before, _ := os.ReadFile(filepath.Join(store, "checkout.rec"))
	_, errOut, code = ctl(t, store, "run", "-f", file, "--timeout", "120s")
	after, _ := os.ReadFile(filepath.Join(store, "checkout.rec"))
	if code != exitFinished || !strings.Contains(errOut, "has finished (succeeded)") || !strings.Contains(errOut, "canaryctl archive checkout") || !bytes.Equal(before, after) {
		t.Errorf("second run: exit %d, %s, record changed %v", code, errOut, !bytes.Equal(before, after))
	}
}

func TestRunFaultyCanaryRollsBack(t *testing.T) {
	slow(t)
	store := t.TempDir()
	m := newMesh(t, 0.2)
	m.load(t)
	file := m.rolloutFile(t, "checkout-bad", "20, 50", "1s", "")
	out, errOut, code := ctl(t, store, "run", "-f", file, "--timeout", "120s")
	if code != 1 || !strings.Contains(out, "checkout-bad rolled-back") || !strings.Contains(errOut, "rolled-back") {
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s\n%v", code, out, errOut, m)
	}
	st, _ := statusOf(t, store, "checkout-bad")
	if st.Phase != rollback.RolledBack || st.Split.Canary != 0 {
		t.Errorf("status after rollback: %+v", st)
	}
	hist, _, _ := ctl(t, store, "history", "checkout-bad")
	if !strings.Contains(hist, "analysis at canary 20 %: fail") {
		t.Errorf("history has no failed analysis:\n%s", hist)
	}
}

// TestOperatorCommandsFromAnotherProcess pauses and aborts a rollout from
// other processes while run drives it.
func TestOperatorCommandsFromAnotherProcess(t *testing.T) {
	slow(t)
	store := t.TempDir()
	m := newMesh(t, 0)
	m.load(t)
	file := m.rolloutFile(t, "payments", "10, 50", "10m", "")
	cmd := exec.Command(bin, "run", "-f", file, "--poll", "100ms")
	cmd.Env = append(os.Environ(), "CANARYCTL_STORE="+store)
	var out, errb lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
			}
		}
		if t.Failed() {
			t.Logf("run's output:\n%s\n%s\n%v", out.String(), errb.String(), m)
		}
	})
	until(t, "the rollout to progress at 10 %", func() bool {
		st, ok := statusOf(t, store, "payments")
		return ok && st.Phase == rollback.Progressing && st.Split.Canary == 10
	})

	o, e, code := ctl(t, store, "pause", "payments", "--actor", "alice", "--reason", "checking the dashboards")
	if code != 0 || !strings.Contains(o, "pause payments by alice: paused at canary 10 %") {
		t.Fatalf("pause: exit %d\n%s%s", code, o, e)
	}
	if st, _ := statusOf(t, store, "payments"); st.Phase != rollback.Paused {
		t.Errorf("after pause: %+v", st)
	}
	// A refused command says why and exits 1: weight 60 is above the
	// plan's largest step below 100.
	o, e, code = ctl(t, store, "set-weight", "payments", "--weight", "60", "--actor", "alice", "--reason", "more")
	if code != exitRefused || !strings.Contains(e, "set-weight refused") {
		t.Errorf("set-weight 60: exit %d\n%s%s", code, o, e)
	}
	o, e, code = ctl(t, store, "set-weight", "payments", "--weight", "5", "--actor", "alice", "--reason", "less")
	if code != 0 || !strings.Contains(o, "paused at canary 5 %") {
		t.Errorf("set-weight 5: exit %d\n%s%s", code, o, e)
	}
	if st, _ := statusOf(t, store, "payments"); st.Split.Canary != 5 {
		t.Errorf("after set-weight 5 the split in force is %+v", st.Split)
	}
	o, e, code = ctl(t, store, "abort", "payments", "--actor", "bob", "--reason", "error budget spent")
	if code != 0 || !strings.Contains(o, "abort payments by bob") {
		t.Fatalf("abort: exit %d\n%s%s", code, o, e)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("run ended with %v, want exit 1 (rolled back)", err)
		}
	case <-time.After(wait):
		t.Fatalf("run did not end after the abort:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "payments rolled-back") || !strings.Contains(out.String(), "applied pause from alice") {
		t.Errorf("run output:\n%s", out.String())
	}
	hist, _, _ := ctl(t, store, "history", "payments")
	for _, want := range []string{"pause by alice — checking the dashboards", "abort by bob — error budget spent"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	// A command on the finished rollout: one clear line, its own exit
	// status, and the command queue is left as it was.
	q0, _ := os.ReadFile(filepath.Join(store, "payments.commands.rec"))
	_, e, code = ctl(t, store, "pause", "payments", "--actor", "alice")
	q1, _ := os.ReadFile(filepath.Join(store, "payments.commands.rec"))
	if code != exitFinished || !strings.Contains(e, "has finished (rolled-back)") || strings.Count(strings.TrimSpace(e), "\n") != 0 || !bytes.Equal(q0, q1) {
		t.Errorf("pause after the end: exit %d %q", code, e)
	}
}

// TestPromoteFromAnotherProcess skips the plan's remaining steps.
func TestPromoteFromAnotherProcess(t *testing.T) {
	slow(t)
	store := t.TempDir()
	m := newMesh(t, 0)
	m.load(t)
	file := m.rolloutFile(t, "cart", "10, 50", "10m", "")
	cmd := exec.Command(bin, "run", "-f", file, "--store", store, "--timeout", "120s")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	})
	until(t, "the rollout to progress", func() bool {
		st, ok := statusOf(t, store, "cart")
		return ok && st.Phase == rollback.Progressing && st.Split.Canary == 10
	})
	o, e, code := ctl(t, store, "promote", "cart", "--actor", "dave", "--reason", "hotfix")
	if code != 0 || !strings.Contains(o, "promote cart by dave") {
		t.Fatalf("promote: exit %d %s %s", code, o, e)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, out.String())
		}
	case <-time.After(wait):
		t.Fatalf("run did not finish after promote:\n%s", out.String())
	}
	if st, _ := statusOf(t, store, "cart"); st.Phase != rollback.Succeeded || st.Split.Canary != 100 {
		t.Errorf("after promote: %+v", st)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
