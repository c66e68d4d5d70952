package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshcanary/canary/rollback"
	canarystore "github.com/meshcanary/canary/store"
)

// startRun starts canaryctl run in the background; the returned func
// waits for it to end (at most wait) and returns its error.
func startRun(t *testing.T, store, file string, env ...string) (*exec.Cmd, *lockedBuffer, func() error) {
	t.Helper()
	cmd := exec.Command(bin, "run", "-f", file, "--store", store, "--timeout", "120s", "--poll", "100ms")
	cmd.Env = append(os.Environ(), env...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
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
	return cmd, out, func() error {
		select {
		case err := <-done:
			done <- err
			return err
		case <-time.After(wait):
			t.Fatalf("run did not end:\n%s", out.String())
			return nil
		}
	}
}

// TestResumeAfterCrash kills the driver, queues a command while no driver
// runs, and starts run again: it resumes the rollout from the store,
// applies the queued command and continues the audit trail's chain.
func TestResumeAfterCrash(t *testing.T) {
	slow(t)
	store := t.TempDir()
	m := newMesh(t, 0)
	m.load(t)
	file := m.rolloutFile(t, "inventory", "10, 50", "10m", "")
	first, _, waitFirst := startRun(t, store, file)
	until(t, "the rollout to progress at 10 %", func() bool {
		st, ok := statusOf(t, store, "inventory")
		return ok && st.Phase == rollback.Progressing && st.Split.Canary == 10
	})
	first.Process.Signal(os.Kill)
	waitFirst()

	if o, _, _ := ctl(t, store, "status", "inventory"); !strings.Contains(o, "not running") {
		t.Errorf("status does not say the driver is gone:\n%s", o)
	}
	_, e, code := ctl(t, store, "pause", "inventory", "--actor", "erin", "--reason", "driver down", "--wait", "1s")
	if code != 3 || !strings.Contains(e, "queued as command 1") {
		t.Fatalf("pause with no driver: exit %d %s", code, e)
	}

	_, out, waitSecond := startRun(t, store, file)
	until(t, "the resumed driver to apply the queued pause", func() bool {
		st, ok := statusOf(t, store, "inventory")
		return ok && st.Phase == rollback.Paused
	})
	if o, e, code := ctl(t, store, "abort", "inventory", "--actor", "erin", "--reason", "done testing"); code != 0 {
		t.Fatalf("abort: exit %d %s %s", code, o, e)
	}
	waitSecond()
	if !strings.Contains(out.String(), "resuming inventory from the store (progressing, canary 10 %)") {
		t.Errorf("second run's output:\n%s", out.String())
	}
	v, e, code := ctl(t, store, "verify", "inventory")
	if code != 0 || !strings.Contains(v, "chain intact") {
		t.Errorf("verify after two drivers: exit %d %s %s", code, v, e)
	}
	hist, _, _ := ctl(t, store, "history", "inventory")
	if strings.Count(hist, "rollout started") != 1 || !strings.Contains(hist, "pause by erin — driver down") {
		t.Errorf("history:\n%s", hist)
	}
}

// queueOf reads a rollout's command record from the file store.
func queueOf(t *testing.T, store, name string) commandsRecord {
	t.Helper()
	st, err := canarystore.NewFile(store)
	if err != nil {
		t.Fatal(err)
	}
	q, _, err := loadJSON[commandsRecord](context.Background(), st, commandsKey(name))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestOperatorCommandExactlyOnceAcrossCrash crashes the driver (SIGKILL,
// through the CANARYCTL_TEST_CRASH hook) after it has applied a set-weight
// and saved the rollout but before it cleared the command from the queue.
// The next driver finds the command still queued and must not apply it
// again: it records the saved result and clears it. Then the same crash
// after an abort that finished the rollout: the next run refuses the
// finished rollout and records the abort's result.
func TestOperatorCommandExactlyOnceAcrossCrash(t *testing.T) {
	slow(t)
	store := t.TempDir()
	m := newMesh(t, 0)
	m.load(t)
	file := m.rolloutFile(t, "basket", "10, 50", "10m", "")
	_, out1, waitFirst := startRun(t, store, file, "CANARYCTL_TEST_CRASH=between-apply-and-clear")
	until(t, "the rollout to progress at 10 %", func() bool {
		st, ok := statusOf(t, store, "basket")
		return ok && st.Phase == rollback.Progressing && st.Split.Canary == 10
	})
	// The driver applies the command, saves the rollout and dies before
	// recording the result: the operator waits in vain (exit 3).
	_, e, code := ctl(t, store, "set-weight", "basket", "--weight", "5", "--actor", "erin", "--reason", "less", "--wait", "3s")
	if code != 3 {
		t.Fatalf("set-weight with a crashing driver: exit %d %s", code, e)
	}
	err := waitFirst()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the first driver ended with %v, want killed by the crash hook:\n%s", err, out1.String())
	}
	if q := queueOf(t, store, "basket"); len(q.Queue) != 1 || q.Queue[0].Op != "set-weight" || len(q.Done) != 0 {
		t.Fatalf("after the crash the queue is %+v, want the set-weight still queued", q)
	}
	if st, _ := statusOf(t, store, "basket"); st.Split.Canary != 5 {
		t.Fatalf("after the crash the saved split is %+v, want canary 5", st.Split)
	}

	// The second driver crashes the same way after its first command.
	_, out2, waitSecond := startRun(t, store, file, "CANARYCTL_TEST_CRASH=between-apply-and-clear")
	until(t, "the resumed driver to clear the queue", func() bool {
		q := queueOf(t, store, "basket")
		return len(q.Queue) == 0 && len(q.Done) == 1
	})
	if q := queueOf(t, store, "basket"); !q.Done[0].OK || q.Done[0].ID != 1 || q.Done[0].After.CanaryWeight != 5 {
		t.Errorf("result of the set-weight: %+v", q.Done[0])
	}
	// An abort that ends the rollout, then the crash: the rollout is
	// saved finished with the abort still queued. The next run refuses
	// the finished rollout but records the abort's result.
	if _, e, code := ctl(t, store, "abort", "basket", "--actor", "erin", "--reason", "done testing", "--wait", "3s"); code != 3 {
		t.Fatalf("abort with a crashing driver: exit %d %s", code, e)
	}
	waitSecond()
	if strings.Contains(out2.String(), "applied set-weight") {
		t.Errorf("the second driver applied the set-weight again:\n%s", out2.String())
	}
	if q := queueOf(t, store, "basket"); len(q.Queue) != 1 || q.Queue[0].Op != "abort" {
		t.Fatalf("after the second crash the queue is %+v, want the abort still queued", q)
	}
	if _, e, code := ctl(t, store, "run", "-f", file); code != exitFinished || !strings.Contains(e, "has finished (rolled-back)") {
		t.Errorf("run of the finished rollout: exit %d %s", code, e)
	}
	if q := queueOf(t, store, "basket"); len(q.Queue) != 0 || len(q.Done) != 2 || q.Done[1].ID != 2 || !q.Done[1].OK || q.Done[1].After.Phase != rollback.RolledBack {
		t.Errorf("after the run of the finished rollout the queue is %+v, want the abort's result recorded", q)
	}
	hist, _, _ := ctl(t, store, "history", "basket")
	if n := strings.Count(hist, "set-weight 5 by erin"); n != 1 {
		t.Errorf("history holds %d set-weight 5 by erin, want 1:\n%s", n, hist)
	}
	if v, e, code := ctl(t, store, "verify", "basket"); code != 0 {
		t.Errorf("verify: exit %d %s %s", code, v, e)
	}
}
