package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/rollback"
)

// startRun starts canaryctl run in the background; the returned func
// waits for it to end (at most wait) and returns its error.
func startRun(t *testing.T, store, file string) (*exec.Cmd, *lockedBuffer, func() error) {
	t.Helper()
	cmd := exec.Command(bin, "run", "-f", file, "--store", store, "--timeout", "120s", "--poll", "100ms")
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
