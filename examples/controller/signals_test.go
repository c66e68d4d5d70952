package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/hook"
	"github.com/meshcanary/canary/notify"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/trigger"
)

// gateServer is a loopback confirm-promotion hook: it answers no (403)
// until allowed, and keeps every payload it was sent.
type gateServer struct {
	*httptest.Server
	allow atomic.Bool
	mu    sync.Mutex
	calls []hook.Payload
}

func newGateServer(t *testing.T) *gateServer {
	g := &gateServer{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p hook.Payload
		_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&p)
		g.mu.Lock()
		g.calls = append(g.calls, p)
		g.mu.Unlock()
		if !g.allow.Load() {
			http.Error(w, "not yet", http.StatusForbidden)
		}
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gateServer) payloads() []hook.Payload {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]hook.Payload(nil), g.calls...)
}

// notifyServer is a loopback signed-webhook destination: it keeps the
// messages whose signature checks with key, and counts the others.
type notifyServer struct {
	*httptest.Server
	mu       sync.Mutex
	msgs     []notify.Message
	unsigned int
}

func newNotifyServer(t *testing.T, path string, key []byte) *notifyServer {
	auth, err := trigger.NewHMAC(trigger.HMACConfig{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifyServer{}
	n.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		n.mu.Lock()
		defer n.mu.Unlock()
		var m notify.Message
		if r.URL.Path != path || auth.Authenticate(r, body, time.Now()) != nil || json.Unmarshal(body, &m) != nil {
			n.unsigned++
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		n.msgs = append(n.msgs, m)
	}))
	t.Cleanup(n.Close)
	return n
}

func (n *notifyServer) decisions() ([]notify.Decision, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []notify.Decision
	for _, m := range n.msgs {
		out = append(out, m.Decision)
	}
	return out, n.unsigned
}

// syncBuffer is a log sink the replica and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func (f *fixture) secret(t testing.TB, name string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: f.ns}, StringData: data}
	if _, err := f.kc.CoreV1().Secrets(f.ns).Create(f.ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func hasDecision(ds []notify.Decision, d notify.Decision) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

// spec.signals end to end, with the controller running as the
// ServiceAccount of deploy/rbac.yaml: a confirm-promotion webhook (a
// loopback server) that says no holds the healthy rollout at its
// promotion, asked again and again, until it says yes, and it is sent
// the metadata, the one key read from a Secret included; a faulty
// rollout's signed notification webhook, whose URL and HMAC key are read
// from a Secret, receives the rolled-back message, signed with that key.
// No secret value appears in a status, an Event or a log line.
func TestSignalsEndToEnd(t *testing.T) {
	f := newFixture(t)
	gate := newGateServer(t)
	urlToken, hmacKey, mdToken := randomHex(t, 16), randomHex(t, 32), randomHex(t, 16)
	recv := newNotifyServer(t, "/n/"+urlToken, []byte(hmacKey))
	f.secret(t, "signals", map[string]string{"url": recv.URL + "/n/" + urlToken, "hmac": hmacKey, "token": mdToken})

	held := rolloutSpec("held")
	held["signals"] = map[string]any{"webhooks": []any{map[string]any{
		"name": "ship-it", "type": "confirm-promotion", "url": gate.URL + "/promote", "timeout": "30s",
		"metadata":       map[string]any{"team": "shop"},
		"secretMetadata": map[string]any{"token": map[string]any{"name": "signals", "key": "token"}},
	}}}
	f.app(t, "held", held)
	faulty := rolloutSpec("faulty-told")
	faulty["signals"] = map[string]any{"notify": []any{map[string]any{"kind": "webhook",
		"urlSecretRef": map[string]any{"name": "signals", "key": "url"},
		"keySecretRef": map[string]any{"name": "signals", "key": "hmac"}}}}
	f.app(t, "faulty-told", faulty)

	cfg := f.applyRBAC(t, nil)
	w := newWire()
	cfg.WrapTransport = w.wrap
	o := f.controllerOptions(t, "replica-0", cfg)
	o.Notify.Interval = time.Millisecond // deliver as soon as queued
	logs := &syncBuffer{}
	o.Log = slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	start(t, o)

	// Held at the promotion while the hook says no: asked more than once,
	// the canary at the last stage before 100.
	poll(t, 3*time.Minute, "held to wait at its promotion, the hook asked twice", func() (bool, string) {
		r := f.rollout(t, "held")
		return r.Status.Phase == "awaiting-approval" && len(gate.payloads()) >= 2, fmt.Sprintf("%+v, %d calls", r.Status, len(gate.payloads()))
	})
	if r := f.rollout(t, "held"); r.Status.CanaryWeight != 50 {
		t.Fatalf("held at weight %d, want 50", r.Status.CanaryWeight)
	}
	if wt := f.canaryWeight(t, "held", "held-canary"); wt != 50 {
		t.Fatalf("VirtualService canary weight %d while held, want 50", wt)
	}
	p := gate.payloads()[0]
	if p.Name != "held" || p.Namespace != f.ns || p.Metadata["team"] != "shop" || p.Metadata["token"] != mdToken {
		t.Errorf("the hook was sent %+v", p)
	}
	gate.allow.Store(true)
	poll(t, 3*time.Minute, "held to be promoted once the hook says yes", func() (bool, string) {
		r := f.rollout(t, "held")
		return r.Status.Phase == "succeeded", fmt.Sprintf("%+v", r.Status)
	})
	if wt := f.canaryWeight(t, "held", "held-canary"); wt != 100 {
		t.Errorf("promoted canary weight %d, want 100", wt)
	}

	poll(t, 3*time.Minute, "faulty-told rolled back and its rolled-back message delivered, signed", func() (bool, string) {
		r := f.rollout(t, "faulty-told")
		ds, bad := recv.decisions()
		return r.Status.Phase == "rolled-back" && hasDecision(ds, notify.RolledBack), fmt.Sprintf("%s; decisions %v, %d refused", r.Status.Phase, ds, bad)
	})
	if _, bad := recv.decisions(); bad != 0 {
		t.Errorf("%d notifications were not signed with the Secret's key (or went to another path)", bad)
	}

	// No secret anywhere the controller writes or says.
	var seen strings.Builder
	for _, name := range []string{"held", "faulty-told"} {
		b, _ := json.Marshal(f.rollout(t, name).Status)
		seen.Write(b)
	}
	evs, err := f.kc.CoreV1().Events(f.ns).List(f.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		seen.WriteString(e.Reason + " " + e.Message + "\n")
	}
	seen.WriteString(logs.String())
	for what, v := range map[string]string{"the notification URL's token": urlToken, "the HMAC key": hmacKey, "the secret metadata": mdToken} {
		if strings.Contains(seen.String(), v) {
			t.Errorf("%s appears in a status, an Event or the log", what)
		}
	}
	for _, r := range w.snapshot() {
		if r.Status == http.StatusForbidden {
			t.Errorf("%s %s: 403 Forbidden for %s (deploy/rbac.yaml lacks it)", r.Method, r.Path, f.serviceAccount())
		}
	}
}

// A Secret spec.signals names that is missing, lacks the key, or holds
// a key too short to sign with, is refused like any invalid spec: a
// Valid=False condition and an InvalidSpec Event naming the reference,
// without the value; once the Secret is right, the rollout runs.
func TestSignalsInvalidSecrets(t *testing.T) {
	f := newFixture(t)
	short := randomHex(t, 4)
	f.secret(t, "short", map[string]string{"url": "http://127.0.0.1:9/n", "hmac": short})
	notifySpec := func(name, urlKey, keyKey string) map[string]any {
		return map[string]any{"notify": []any{map[string]any{"kind": "webhook",
			"urlSecretRef": map[string]any{"name": name, "key": urlKey},
			"keySecretRef": map[string]any{"name": name, "key": keyKey}}}}
	}
	cases := map[string]struct {
		signals map[string]any
		field   string
	}{
		"no-secret": {notifySpec("absent", "url", "hmac"), "spec.signals.notify[0].urlSecretRef.name"},
		"no-key":    {notifySpec("short", "nope", "hmac"), "spec.signals.notify[0].urlSecretRef.key"},
		"short-key": {notifySpec("short", "url", "hmac"), "spec.signals.notify[0].keySecretRef"},
	}
	for name, c := range cases {
		s := rolloutSpec(name)
		s["signals"] = c.signals
		f.app(t, name, s)
	}
	logs := &syncBuffer{}
	o := f.controllerOptions(t, "replica-0", nil)
	o.Log = slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	start(t, o)
	for name, c := range cases {
		poll(t, 2*time.Minute, name+"'s condition and Event", func() (bool, string) {
			r := f.rollout(t, name)
			ok := false
			for _, cond := range r.Status.Conditions {
				ok = ok || cond.Type == "Valid" && cond.Status == "False" && strings.Contains(cond.Message, c.field)
			}
			evOK := false
			for _, e := range f.events(t, name) {
				evOK = evOK || e.Reason == "InvalidSpec" && strings.Contains(e.Message, c.field)
				if strings.Contains(e.Message, short) {
					t.Errorf("an Event shows the key: %s", e.Message)
				}
			}
			return ok && evOK, fmt.Sprintf("status %+v", r.Status)
		})
		if r := f.rollout(t, name); r.Status.Phase != "" && r.Status.Phase != "pending" {
			t.Errorf("%s moved to %s with its Secret refused", name, r.Status.Phase)
		}
	}
	if strings.Contains(logs.String(), short) {
		t.Error("the log shows the short key")
	}
	// Corrected to name a Secret that is right, the rollout runs.
	f.secret(t, "present", map[string]string{"url": "http://127.0.0.1:9/n", "hmac": randomHex(t, 32)})
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"signals": notifySpec("present", "url", "hmac")}})
	if _, err := f.dc.Resource(GVR).Namespace(f.ns).Patch(f.ctx, "no-secret", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 3*time.Minute, "no-secret to run once its Secret exists", func() (bool, string) {
		r := f.rollout(t, "no-secret")
		return r.Status.Phase == "succeeded", fmt.Sprintf("%+v", r.Status)
	})
}

// checkSignals refuses what the CRD's schema would (for an API server
// without it, or an older object), naming the field and never a URL or
// a metadata value, and sets the plan's gates of the confirmation hooks.
func TestCheckSignalsFields(t *testing.T) {
	good := func() *Signals {
		ref := &SecretKeyRef{Name: "hooks", Key: "url"}
		return &Signals{
			Webhooks: []WebhookSpec{{Name: "gate", Type: "confirm-promotion", URL: "https://gate.example/secret-path", Metadata: map[string]string{"cmd": "hey"}}},
			Notify:   []NotifySpec{{Kind: "webhook", URLSecretRef: ref, KeySecretRef: &SecretKeyRef{Name: "hooks", Key: "hmac"}}},
		}
	}
	var plan rollback.Plan
	if err := checkSignals(good(), &plan); err != nil {
		t.Fatalf("good signals refused: %v", err)
	}
	if !plan.ApprovePromotion || plan.ApproveIncrease {
		t.Errorf("a confirm-promotion hook set the gates %+v", plan)
	}
	for _, c := range []struct {
		edit  func(s *Signals)
		field string
	}{
		{func(s *Signals) { s.Webhooks[0].Type = "rollback" }, "spec.signals.webhooks[0].type"},
		{func(s *Signals) { s.Webhooks[0].Name = "" }, "spec.signals.webhooks[0].name"},
		{func(s *Signals) { s.Webhooks = append(s.Webhooks, s.Webhooks[0]) }, "spec.signals.webhooks[1].name"},
		{func(s *Signals) { s.Webhooks[0].URL = "ftp://gate.example/secret-path" }, "spec.signals.webhooks[0].url"},
		{func(s *Signals) { s.Webhooks[0].Timeout = "0s" }, "spec.signals.webhooks[0].timeout"},
		{func(s *Signals) { s.Webhooks[0].Retries = 11 }, "spec.signals.webhooks[0].retries"},
		{func(s *Signals) {
			s.Webhooks[0].SecretMetadata = map[string]SecretKeyRef{"cmd": {Name: "hooks", Key: "cmd"}}
		}, "spec.signals.webhooks[0].secretMetadata.cmd"},
		{func(s *Signals) {
			s.Webhooks[0].SecretMetadata = map[string]SecretKeyRef{"token": {Name: "Hooks!", Key: "cmd"}}
		}, "spec.signals.webhooks[0].secretMetadata.token.name"},
		{func(s *Signals) { s.Notify[0].Kind = "email" }, "spec.signals.notify[0].kind"},
		{func(s *Signals) { s.Notify[0].URLSecretRef = nil }, "spec.signals.notify[0].urlSecretRef"},
		{func(s *Signals) { s.Notify[0].KeySecretRef = nil }, "spec.signals.notify[0].keySecretRef"},
		{func(s *Signals) { s.Notify[0].Kind = "teams" }, "spec.signals.notify[0].keySecretRef"},
		{func(s *Signals) { s.Notify[0].URLSecretRef.Key = "a/b" }, "spec.signals.notify[0].urlSecretRef.key"},
		{func(s *Signals) { s.Report = "mailto:team@example" }, "spec.signals.report"},
	} {
		s := good()
		c.edit(s)
		err := checkSignals(s, &rollback.Plan{})
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: got %v, want a FieldError naming it", c.field, err)
			continue
		}
		if strings.Contains(err.Error(), "secret-path") {
			t.Errorf("%s: the error shows the URL: %v", c.field, err)
		}
	}
}

// The other hook types that decide: a confirm-rollout webhook that says
// no keeps its Rollout from starting (phase pending, no traffic, the
// reason in the status) until it says yes, and a pre-rollout webhook
// that says no is a failed check: a canary whose metrics are healthy is
// rolled back.
func TestSignalsStartGateAndFailedCheck(t *testing.T) {
	f := newFixture(t)
	confirm := newGateServer(t)
	pre := newGateServer(t) // never allowed
	waits := rolloutSpec("waits")
	waits["signals"] = map[string]any{"webhooks": []any{map[string]any{"name": "go", "type": "confirm-rollout", "url": confirm.URL + "/"}}}
	f.app(t, "waits", waits)
	checked := rolloutSpec("checked")
	checked["signals"] = map[string]any{"webhooks": []any{map[string]any{"name": "smoke", "type": "pre-rollout", "url": pre.URL + "/"}}}
	f.app(t, "checked", checked)
	start(t, f.controllerOptions(t, "replica-0", nil))

	poll(t, 3*time.Minute, "waits to be held pending, the hook asked twice", func() (bool, string) {
		r := f.rollout(t, "waits")
		return r.Status.Phase == "pending" && strings.Contains(r.Status.Reason, "confirm-rollout") && len(confirm.payloads()) >= 2,
			fmt.Sprintf("%+v, %d calls", r.Status, len(confirm.payloads()))
	})
	if wt := f.canaryWeight(t, "waits", "waits-canary"); wt != 0 {
		t.Fatalf("canary weight %d before the rollout was confirmed", wt)
	}
	confirm.allow.Store(true)
	poll(t, 3*time.Minute, "waits to be promoted once confirmed", func() (bool, string) {
		r := f.rollout(t, "waits")
		return r.Status.Phase == "succeeded", fmt.Sprintf("%+v", r.Status)
	})

	poll(t, 3*time.Minute, "checked to be rolled back on its pre-rollout hook's no", func() (bool, string) {
		r := f.rollout(t, "checked")
		return r.Status.Phase == "rolled-back", fmt.Sprintf("%+v, %d calls", r.Status, len(pre.payloads()))
	})
	if len(pre.payloads()) == 0 {
		t.Error("the pre-rollout hook was never called")
	}
	if wt := f.canaryWeight(t, "checked", "checked-canary"); wt != 0 {
		t.Errorf("rolled-back canary weight %d", wt)
	}
}
