package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary/rollback"
)

// TestServeRollsBackOnAlert: canaryctl run drives a rollout; canaryctl
// serve, another process on the same store, receives Alertmanager's
// webhook; a firing alert for the rollout's service, delivered twice,
// aborts it once, with the alert's labels in the audit trail; a request
// without the token is refused and acts on nothing.
func TestServeRollsBackOnAlert(t *testing.T) {
	slow(t)
	store := t.TempDir()
	m := newMesh(t, 0)
	m.load(t)
	file := m.rolloutFile(t, "checkout", "10, 50", "10m", "")
	_, runOut, _ := startRun(t, store, file)
	until(t, "the rollout to progress at 10 %", func() bool {
		st, ok := statusOf(t, store, "checkout")
		return ok && st.Phase == rollback.Progressing && st.Split.Canary == 10
	})

	token := "am-token-0123456789abcdefghij"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	serve := exec.Command(bin, "serve", "--store", store, "--listen", addr, "--token-file", tokenFile,
		"--route", "service=checkout,namespace=shop:checkout:roll-back")
	var serveOut lockedBuffer
	serve.Stdout, serve.Stderr = &serveOut, &serveOut
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = serve.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = serve.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = serve.Process.Kill()
		}
		if t.Failed() {
			t.Logf("serve:\n%s\nrun:\n%s", serveOut.String(), runOut.String())
		}
	})
	until(t, "serve to listen", func() bool { return strings.Contains(serveOut.String(), "receiving Alertmanager webhooks") })

	body := []byte(`{"version":"4","groupKey":"{}:{alertname=\"CanaryErrors\"}","truncatedAlerts":0,"status":"firing",
"receiver":"canary","groupLabels":{"alertname":"CanaryErrors"},"commonLabels":{},"commonAnnotations":{},
"externalURL":"http://127.0.0.1:9093","alerts":[{"status":"firing",
"labels":{"alertname":"CanaryErrors","service":"checkout","namespace":"shop","severity":"page"},
"annotations":{"summary":"5xx above 10 %"},"startsAt":"2026-12-07T14:00:00Z","endsAt":"0001-01-01T00:00:00Z",
"generatorURL":"http://127.0.0.1:9090/graph","fingerprint":"0123456789abcdef"}]}`)
	post := func(auth string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/alerts", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("Bearer wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if st, _ := statusOf(t, store, "checkout"); st.Phase != rollback.Progressing {
		t.Fatalf("after a refused request: %v", st.Phase)
	}
	for i := 0; i < 2; i++ {
		if code := post("Bearer " + token); code != http.StatusOK {
			t.Fatalf("delivery %d: %d", i, code)
		}
	}
	until(t, "the rollout to be rolled back", func() bool {
		st, ok := statusOf(t, store, "checkout")
		return ok && st.Phase == rollback.RolledBack
	})
	hist, e, code := ctl(t, store, "history", "checkout")
	if code != 0 {
		t.Fatalf("history: %s", e)
	}
	if n := strings.Count(hist, "abort by alertmanager"); n != 1 {
		t.Fatalf("%d aborts by alertmanager in the trail:\n%s", n, hist)
	}
	for _, want := range []string{`service="checkout"`, `severity="page"`, "5xx above 10 %"} {
		if !strings.Contains(hist, want) {
			t.Errorf("the trail lacks %s:\n%s", want, hist)
		}
	}
	if strings.Contains(serveOut.String(), token) {
		t.Error("serve logged the token")
	}
}
