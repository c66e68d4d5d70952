package main

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshcanary/canary/hook"
	"github.com/meshcanary/canary/notify"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/trigger"
)

// TestRunSignals: a rollout file's signals section makes canaryctl run
// post every decision to a signed webhook and hold the promotion at a
// confirm-promotion hook until it says yes; the messages' times are in the
// zone the file's timeZone names.
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
	verifier, _ := trigger.NewHMAC(trigger.HMACConfig{Key: key})
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

	file := m.rolloutFile(t, "orders", "10", "2s", `timeZone: Asia/Tokyo
signals:
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
		if msg.Rollout != "orders" || msg.Report != "https://canary.example/orders.html" || !strings.HasSuffix(msg.TimeText, " JST") {
			t.Errorf("message %+v", msg)
		}
	}
	if seen[notify.Started] != 1 || seen[notify.NeedsPerson] != 1 || seen[notify.Promoted] != 1 || badSig != 0 {
		t.Fatalf("messages per decision %v, bad signatures %d\n%s", seen, badSig, out.String())
	}
}

func timeNow() time.Time { return time.Now() }

// TestRunAlarmEndToEnd: canaryctl run with signals.alarms, against the
// local CloudWatch (real AWS SDK client, loopback), rolls the rollout
// back when the alarm is in ALARM (for long before the run started, so
// no wall-clock speed matters), with the alarm in the audit trail.
func TestRunAlarmEndToEnd(t *testing.T) {
	slow(t)
	store := t.TempDir()
	m := newMesh(t, 0)
	m.load(t)
	cw := newAlarmFake(t)
	awsEnv(t, cw.URL)
	cw.set("orders-5xx", "ALARM", time.Now().Add(-10*time.Minute))
	// The file's zone is Tokyo; run -tz UTC overrides it for what run
	// shows, the alarm's reason included.
	file := m.rolloutFile(t, "orders", "10, 50", "10m", `timeZone: Asia/Tokyo
signals:
  alarms: {names: [orders-5xx], region: eu-west-2}
`)
	out, errOut, code := ctl(t, store, "run", "-f", file, "--timeout", "120s", "-tz", "UTC")
	if code != exitRolledBack || !strings.Contains(out, "CloudWatch alarm orders-5xx in ALARM since") {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	if !regexp.MustCompile(`in ALARM since \d\d/\d\d/\d{4} \d\d:\d\d:\d\d UTC`).MatchString(out) || strings.Contains(out, " JST") {
		t.Fatalf("run -tz UTC over a file in Asia/Tokyo: the alarm's time is not in UTC\n%s", out)
	}
	hist, _, _ := ctl(t, store, "history", "orders")
	if !strings.Contains(hist, "cloudwatch alarm orders-5xx") {
		t.Fatalf("history:\n%s", hist)
	}
	if v, e, code := ctl(t, store, "validate", "-f", file); code != 0 {
		t.Fatalf("validate: %s %s", v, e)
	}
	// Archived, the ledger of applied signals moves with the rollout: the
	// name deployed again is rolled back by the alarm still in ALARM.
	if out, e, code := ctl(t, store, "archive", "orders"); code != 0 {
		t.Fatalf("archive: exit %d %s %s", code, out, e)
	}
	if _, err := os.Stat(filepath.Join(store, "orders.signals.rec")); !os.IsNotExist(err) {
		t.Fatalf("orders.signals left behind by the archive: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(store, "orders.archived.*.signals.rec")); len(m) != 1 {
		t.Fatalf("the ledger was not archived: %v", m)
	}
	out, errOut, code = ctl(t, store, "run", "-f", file, "--timeout", "30s")
	if code != exitRolledBack || !strings.Contains(out, "CloudWatch alarm orders-5xx in ALARM since") {
		t.Fatalf("run again: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestRunWebhooks: canaryctl run holds the rollout before its first step
// until the confirm-rollout hook says yes, and rolls it back when the
// rollback hook says yes, with the hook as the actor; a hook's secret
// metadata reaches it and is in no output and no record of the store.
func TestRunWebhooks(t *testing.T) {
	slow(t)
	store := t.TempDir()
	m := newMesh(t, 0)
	m.load(t)
	const secret = "tok-canaryctl-8d1e5b37c2"
	var confirm, rollbackYes atomic.Bool
	var asked atomic.Int64
	var mu sync.Mutex
	var payloads []hook.Payload
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p hook.Payload
		_ = json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		payloads = append(payloads, p)
		mu.Unlock()
		switch r.URL.Path {
		case "/confirm":
			asked.Add(1)
			if !confirm.Load() {
				http.Error(w, "not yet", http.StatusForbidden)
			}
		case "/rollback":
			if !rollbackYes.Load() {
				http.Error(w, "no", http.StatusNotFound)
			}
		}
	}))
	defer srv.Close()
	file := m.rolloutFile(t, "orders", "10, 50", "10m", `signals:
  webhooks:
    - {name: start, type: confirm-rollout, url: "`+srv.URL+`/confirm", timeout: 5s}
    - {name: stop, type: rollback, url: "`+srv.URL+`/rollback", timeout: 5s}
    - name: events
      type: event
      url: "`+srv.URL+`/events"
      metadata: {team: shop}
      secretMetadata: {token: {env: ORDERS_HOOK_TOKEN}}
`)
	_, out, finished := startRun(t, store, file, "ORDERS_HOOK_TOKEN="+secret)
	until(t, "the confirm-rollout hook to be asked twice", func() bool { return asked.Load() >= 2 })
	if st, ok := statusOf(t, store, "orders"); !ok || st.Phase != rollback.Pending || st.CanaryWeight != 0 {
		t.Fatalf("with confirm-rollout saying no: %+v\n%s", st, out.String())
	}
	confirm.Store(true)
	until(t, "the rollout to start", func() bool {
		st, ok := statusOf(t, store, "orders")
		return ok && st.Phase == rollback.Progressing && st.CanaryWeight == 10
	})
	rollbackYes.Store(true)
	var ee *exec.ExitError
	if err := finished(); !errors.As(err, &ee) || ee.ExitCode() != exitRolledBack {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	hist, _, _ := ctl(t, store, "history", "orders")
	if !strings.Contains(hist, "webhook stop") {
		t.Fatalf("history:\n%s", hist)
	}
	mu.Lock()
	events := 0
	for _, p := range payloads {
		if p.Metadata["eventMessage"] != "" {
			events++
			if p.Metadata["token"] != secret || p.Metadata["team"] != "shop" || p.Name != "orders" {
				t.Errorf("event payload %+v", p)
			}
		}
	}
	mu.Unlock()
	if events == 0 {
		t.Error("no event payload")
	}
	if strings.Contains(out.String()+hist, secret) {
		t.Errorf("the secret is in run's output or the history")
	}
	_ = filepath.Walk(store, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), secret) {
				t.Errorf("the secret is in the store: %s", p)
			}
		}
		return nil
	})
}

// TestRunImportedWebhooks: the webhooks canaryctl import flagger maps from
// Flagger's webhook page (testdata/flagger/webhooks.yaml) run: spliced
// into a rollout on the in-process mesh, with the hosts pointed at a
// server answering as Flagger's load tester does (the gates approve, no
// rollback asked), the rollout is promoted and every hook type was
// called, each with its metadata.
func TestRunImportedWebhooks(t *testing.T) {
	slow(t)
	out, errOut, code := ctl(t, t.TempDir(), "import", "flagger", "testdata/flagger/webhooks.yaml")
	if code != 0 {
		t.Fatalf("import: exit %d %s", code, errOut)
	}
	i := strings.Index(out, "\nsignals:\n")
	if i < 0 {
		t.Fatalf("no signals section:\n%s", out)
	}
	signals := out[i+1:]
	if j := strings.Index(signals, "\nplan:"); j >= 0 {
		signals = signals[:j+1]
	}
	var mu sync.Mutex
	seen := map[string]hook.Payload{} // by what the payload shows of its hook
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p hook.Payload
		_ = json.NewDecoder(r.Body).Decode(&p)
		key := r.URL.Path
		switch {
		case p.Metadata["eventMessage"] != "":
			key = "event"
		case p.Metadata["type"] == "helmv3":
			key = "pre-rollout"
		case strings.HasPrefix(p.Metadata["cmd"], "hey "):
			key = "rollout"
		case p.Metadata["some"] == "message":
			key = "post-rollout"
		case r.URL.Path == "/gate/approve":
			key += " " + p.Phase
		}
		mu.Lock()
		seen[key] = p
		mu.Unlock()
		switch r.URL.Path {
		case "/gate/halt":
			http.Error(w, "Forbidden", http.StatusForbidden)
		case "/rollback/check":
			http.Error(w, "Forbidden", http.StatusForbidden) // no rollback asked
		}
	}))
	defer srv.Close()
	for _, host := range []string{"http://flagger-loadtester.test", "http://flagger-helmtester.flagger", "http://telegram.bot:8080", "http://event-recevier.notifications"} {
		signals = strings.ReplaceAll(signals, host, srv.URL)
	}
	signals = strings.ReplaceAll(signals, "/gate/halt", "/gate/approve") // the muted gate, approving
	store := t.TempDir()
	m := newMesh(t, 0)
	m.load(t)
	file := m.rolloutFile(t, "podinfo", "10, 50", "1s", signals)
	b, _ := os.ReadFile(file)
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), "  deadline: 60s\n", "  deadline: 60s\n  gates: {beforeIncrease: true, beforePromotion: true}\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	runOut, runErr, code := ctl(t, store, "run", "-f", file, "--timeout", "120s")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, runOut, runErr)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range []string{"/gate/approve Initialized", "pre-rollout", "rollout", "/gate/approve Waiting", "/gate/approve WaitingPromotion", "/rollback/check", "event", "post-rollout"} {
		if _, ok := seen[k]; !ok {
			t.Errorf("no call of %s; calls: %v", k, slices.Collect(maps.Keys(seen)))
		}
	}
	if p := seen["event"]; p.Metadata["cluster"] != "flagger-test" || p.Metadata["environment"] != "test" || p.Name != "podinfo" {
		t.Errorf("event payload %+v", p)
	}
}
