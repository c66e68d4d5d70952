package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshcanary/canary/notify"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/trigger"
)

// TestRunSignals: a rollout file's signals section makes canaryctl run
// post every decision to a signed webhook and hold the promotion at a
// confirm-promotion hook until it says yes.
func TestRunSignals(t *testing.T) {
	slow(t)
	store := t.TempDir()
	m := newMesh(t, 0)
	m.load(t)

	key := []byte("0123456789abcdef0123456789abcdef-canaryctl")
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	verifier, _ := trigger.NewHMAC(key, 0, 0)
	var mu sync.Mutex
	var messages []notify.Message
	var badSig int
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := verifier.Authenticate(r, b, timeNow()); err != nil {
			badSig++
		}
		var msg notify.Message
		_ = json.Unmarshal(b, &msg)
		messages = append(messages, msg)
	}))
	defer hook.Close()
	var open atomic.Bool
	var asked atomic.Int64
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if !open.Load() {
			http.Error(w, "not yet", http.StatusForbidden)
		}
	}))
	defer gate.Close()

	file := m.rolloutFile(t, "orders", "10", "2s", `signals:
  report: https://canary.example/orders.html
  notify:
    - {kind: webhook, urlEnv: ORDERS_HOOK_URL, keyFile: `+keyFile+`}
  webhooks:
    - {name: promotion gate, type: confirm-promotion, url: "`+gate.URL+`", timeout: 5s}
`)
	b, _ := os.ReadFile(file)
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), "  deadline: 60s\n", "  deadline: 60s\n  gates: {beforePromotion: true}\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, finished := startRun(t, store, file, "ORDERS_HOOK_URL="+hook.URL+"/canary")
	until(t, "the rollout to wait at the promotion gate", func() bool {
		st, ok := statusOf(t, store, "orders")
		return ok && st.Phase == rollback.AwaitingApproval
	})
	until(t, "the gate to be asked three times", func() bool { return asked.Load() >= 3 })
	if st, _ := statusOf(t, store, "orders"); st.Phase != rollback.AwaitingApproval {
		t.Fatalf("with the gate closed: %v\n%s", st.Phase, out.String())
	}
	open.Store(true)
	if err := finished(); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if st, _ := statusOf(t, store, "orders"); st.Phase != rollback.Succeeded {
		t.Fatalf("phase %v", st.Phase)
	}
	mu.Lock()
	defer mu.Unlock()
	seen := map[notify.Decision]int{}
	for _, msg := range messages {
		seen[msg.Decision]++
		if msg.Rollout != "orders" || msg.Report != "https://canary.example/orders.html" || msg.TimeText == "" {
			t.Errorf("message %+v", msg)
		}
	}
	if seen[notify.Started] != 1 || seen[notify.NeedsPerson] != 1 || seen[notify.Promoted] != 1 || badSig != 0 {
		t.Fatalf("messages per decision %v, bad signatures %d\n%s", seen, badSig, out.String())
	}
}

func timeNow() time.Time { return time.Now() }
