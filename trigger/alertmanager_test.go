package trigger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/trigger"
)

const token = "s3cret-token-that-must-never-show-0123456789"

// payload is an Alertmanager version 4 body as the documentation shows it.
func payload(status string, labels map[string]string, starts time.Time) []byte {
	body := map[string]any{
		"version": "4", "groupKey": `{}:{alertname="CanaryErrors"}`, "truncatedAlerts": 0,
		"status": status, "receiver": "canary",
		"groupLabels": map[string]string{"alertname": labels["alertname"]}, "commonLabels": labels,
		"commonAnnotations": map[string]string{}, "externalURL": "http://127.0.0.1:9093",
		"alerts": []map[string]any{{
			"status": status, "labels": labels,
			"annotations": map[string]string{"summary": "5xx above 10 %"},
			"startsAt":    starts.Format(time.RFC3339Nano), "endsAt": "0001-01-01T00:00:00Z",
			"generatorURL": "http://127.0.0.1:9090/graph", "fingerprint": "4c1f9e0d2b3a5e6f",
		}},
	}
	b, _ := json.Marshal(body)
	return b
}

var checkoutAlert = map[string]string{"alertname": "CanaryErrors", "service": "checkout", "namespace": "shop", "severity": "page"}

type receiverHarness struct {
	s      *subject
	ledger *store.Memory
	h      *trigger.Alertmanager
	now    time.Time

	mu   sync.Mutex
	logs []string
}

func newReceiver(t *testing.T, auth trigger.Authenticator, routes ...trigger.Route) *receiverHarness {
	rh := &receiverHarness{s: newSubject(t, "checkout"), ledger: new(store.Memory), now: t0.Add(30 * time.Second)}
	if routes == nil {
		routes = []trigger.Route{{Match: map[string]string{"service": "checkout", "namespace": "shop"}, Rollout: "checkout", Action: trigger.RollBack}}
	}
	rh.h = &trigger.Alertmanager{
		Applier: &trigger.Applier{Store: rh.ledger, Targets: trigger.Map{"checkout": rh.s.r}},
		Routes:  routes,
		Auth:    auth,
		MaxBody: 64 << 10,
		Now:     func() time.Time { return rh.now },
		Log: func(l string) {
			rh.mu.Lock()
			rh.logs = append(rh.logs, l)
			rh.mu.Unlock()
		},
	}
	return rh
}

func (rh *receiverHarness) post(body []byte, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/alerts", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	rh.h.ServeHTTP(w, req)
	return w
}

var bearer = map[string]string{"Authorization": "Bearer " + token}

func TestAlertmanagerRollsBackOnce(t *testing.T) {
	rh := newReceiver(t, trigger.Bearer{Token: token})
	body := payload("firing", checkoutAlert, t0.Add(20*time.Second))
	for i := 0; i < 3; i++ { // Alertmanager repeats a firing alert
		w := rh.post(body, bearer)
		if w.Code != http.StatusOK {
			t.Fatalf("delivery %d: %d %s", i, w.Code, w.Body)
		}
		var res trigger.Result
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		wantApplied, wantDup := 1, 0
		if i > 0 {
			wantApplied, wantDup = 0, 1
		}
		if len(res.Applied) != wantApplied || res.Duplicates != wantDup {
			t.Fatalf("delivery %d: %+v", i, res)
		}
	}
	st := rh.s.r.Status(rh.now)
	if st.Phase != rollback.RolledBack || rh.s.router.CanaryWeight() != 0 {
		t.Fatalf("phase %v, canary %d %%", st.Phase, rh.s.router.CanaryWeight())
	}
	m := rh.s.manual()
	if len(m) != 1 || m[0].Action != "abort" {
		t.Fatalf("manual events: %v", m)
	}
	for _, want := range []string{`alertname="CanaryErrors"`, `service="checkout"`, `namespace="shop"`, `severity="page"`, "5xx above 10 %", "07/12/2026 09:00:20 GMT"} {
		if !strings.Contains(m[0].Reason, want) {
			t.Errorf("reason %q lacks %q", m[0].Reason, want)
		}
	}
	if m[0].Actor != "alertmanager (receiver canary)" {
		t.Errorf("actor %q", m[0].Actor)
	}
	// The same alert firing again later (a new start) is a new signal;
	// rolling back a rollback records nothing.
	if w := rh.post(payload("firing", checkoutAlert, t0.Add(time.Hour)), bearer); w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if n := len(rh.s.manual()); n != 1 {
		t.Fatalf("%d manual events", n)
	}
}

func TestAlertmanagerResolvedResumesNothing(t *testing.T) {
	rh := newReceiver(t, trigger.Bearer{Token: token}, trigger.Route{Match: map[string]string{"severity": "page"}, Action: trigger.Pause})
	labels := map[string]string{"alertname": "Latency", "rollout": "checkout", "severity": "page"}
	if w := rh.post(payload("firing", labels, t0.Add(10*time.Second)), bearer); w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if ph := rh.s.r.Status(rh.now).Phase; ph != rollback.Paused {
		t.Fatalf("phase %v, want paused (the explicit rollout label selects it)", ph)
	}
	rh.now = rh.now.Add(5 * time.Minute)
	w := rh.post(payload("resolved", labels, t0.Add(10*time.Second)), bearer)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"resolved":1`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if _, err := rh.s.r.Step(context.Background(), rh.now); err != nil {
		t.Fatal(err)
	}
	if ph := rh.s.r.Status(rh.now).Phase; ph != rollback.Paused {
		t.Fatalf("phase %v after the alert resolved, want still paused", ph)
	}
	// An alert no route selects does nothing.
	w = rh.post(payload("firing", map[string]string{"alertname": "Other", "severity": "page"}, t0), bearer)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"unmatched":1`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if n := len(rh.s.manual()); n != 1 {
		t.Fatalf("%d manual events, want 1", n)
	}
}

func TestAlertmanagerRefuses(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef-hmac-key")
	good := payload("firing", checkoutAlert, t0)
	signed := func(h *trigger.HMAC, ts time.Time, nonce string, body []byte) map[string]string {
		return map[string]string{
			trigger.HeaderTimestamp: itoa(ts.Unix()), trigger.HeaderNonce: nonce,
			trigger.HeaderSignature: h.Sign(ts, nonce, body),
		}
	}
	type tc struct {
		name   string
		hmac   bool
		method string
		ctype  string
		body   []byte
		hdr    func(h *trigger.HMAC, now time.Time) map[string]string
		code   int
	}
	big := append([]byte(`{"version":"4","status":"firing","alerts":[],"pad":"`), bytes.Repeat([]byte("x"), 70<<10)...)
	big = append(big, `"}`...)
	cases := []tc{
		{name: "no token", body: good, hdr: func(*trigger.HMAC, time.Time) map[string]string { return nil }, code: 401},
		{name: "wrong token", body: good, hdr: func(*trigger.HMAC, time.Time) map[string]string {
			return map[string]string{"Authorization": "Bearer " + token[:len(token)-1] + "X"}
		}, code: 401},
		{name: "basic auth", body: good, hdr: func(*trigger.HMAC, time.Time) map[string]string {
			return map[string]string{"Authorization": "Basic " + token}
		}, code: 401},
		{name: "GET", method: http.MethodGet, body: nil, hdr: func(*trigger.HMAC, time.Time) map[string]string { return bearer }, code: 405},
		{name: "form", ctype: "application/x-www-form-urlencoded", body: good, hdr: func(*trigger.HMAC, time.Time) map[string]string { return bearer }, code: 415},
		{name: "oversized", body: big, hdr: func(*trigger.HMAC, time.Time) map[string]string { return bearer }, code: 413},
		{name: "not JSON", body: []byte(`{"version":"4",`), hdr: func(*trigger.HMAC, time.Time) map[string]string { return bearer }, code: 400},
		{name: "trailing data", body: append(append([]byte{}, good...), good...), hdr: func(*trigger.HMAC, time.Time) map[string]string { return bearer }, code: 400},
		{name: "version 3", body: bytes.Replace(good, []byte(`"version":"4"`), []byte(`"version":"3"`), 1), hdr: func(*trigger.HMAC, time.Time) map[string]string { return bearer }, code: 400},
		{name: "alert without alertname", body: payload("firing", map[string]string{"service": "checkout", "namespace": "shop"}, t0), hdr: func(*trigger.HMAC, time.Time) map[string]string { return bearer }, code: 400},
		{name: "alert without start", body: bytes.Replace(good, []byte(`"startsAt":"2026-12-07T09:00:00Z"`), []byte(`"startsAt":"0001-01-01T00:00:00Z"`), 1), hdr: func(*trigger.HMAC, time.Time) map[string]string { return bearer }, code: 400},
		{name: "unsigned", hmac: true, body: good, hdr: func(*trigger.HMAC, time.Time) map[string]string { return nil }, code: 401},
		{name: "bad signature", hmac: true, body: good, hdr: func(h *trigger.HMAC, now time.Time) map[string]string {
			m := signed(h, now, "nonce-0123456789ab", good)
			m[trigger.HeaderSignature] = "v1=00" + m[trigger.HeaderSignature][5:]
			return m
		}, code: 401},
		{name: "body changed after signing", hmac: true, body: bytes.Replace(good, []byte("checkout"), []byte("payments"), 1), hdr: func(h *trigger.HMAC, now time.Time) map[string]string {
			return signed(h, now, "nonce-0123456789ab", good)
		}, code: 401},
		{name: "stale", hmac: true, body: good, hdr: func(h *trigger.HMAC, now time.Time) map[string]string {
			return signed(h, now.Add(-6*time.Minute), "nonce-0123456789ab", good)
		}, code: 401},
		{name: "short nonce", hmac: true, body: good, hdr: func(h *trigger.HMAC, now time.Time) map[string]string {
			return signed(h, now, "n1", good)
		}, code: 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var auth trigger.Authenticator = trigger.Bearer{Token: token}
			h, _ := trigger.NewHMAC(trigger.HMACConfig{Key: key})
			if c.hmac {
				auth = h
			}
			rh := newReceiver(t, auth)
			method := c.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "/alerts", bytes.NewReader(c.body))
			ct := c.ctype
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
			for k, v := range c.hdr(h, rh.now) {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			rh.h.ServeHTTP(w, req)
			if w.Code != c.code {
				t.Fatalf("status %d, want %d: %s", w.Code, c.code, w.Body)
			}
			if strings.TrimSpace(w.Body.String()) == "" {
				t.Error("no explanation in the body")
			}
			rh.assertNothingApplied(t)
			rh.assertNoSecret(t, w.Body.String())
		})
	}
}

func TestAlertmanagerReplayRefused(t *testing.T) {
	h, err := trigger.NewHMAC(trigger.HMACConfig{Key: []byte("0123456789abcdef0123456789abcdef-hmac-key")})
	if err != nil {
		t.Fatal(err)
	}
	rh := newReceiver(t, h, trigger.Route{Match: map[string]string{"service": "checkout"}, Rollout: "checkout", Action: trigger.Pause})
	body := payload("firing", checkoutAlert, t0)
	hdr := map[string]string{
		trigger.HeaderTimestamp: itoa(rh.now.Unix()), trigger.HeaderNonce: "nonce-0123456789ab",
		trigger.HeaderSignature: h.Sign(rh.now, "nonce-0123456789ab", body),
	}
	if w := rh.post(body, hdr); w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if _, err := rh.s.r.Resume(context.Background(), rh.now, "alice", "checked"); err != nil {
		t.Fatal(err)
	}
	before := len(rh.s.trail())
	rh.now = rh.now.Add(time.Minute)
	w := rh.post(body, hdr)
	if w.Code != http.StatusConflict {
		t.Fatalf("replay: %d %s", w.Code, w.Body)
	}
	if len(rh.s.trail()) != before || rh.s.r.Status(rh.now).Phase != rollback.Progressing {
		t.Fatal("the replay acted")
	}
}

func (rh *receiverHarness) assertNothingApplied(t *testing.T) {
	t.Helper()
	if _, _, err := rh.ledger.Load(context.Background(), trigger.Key("checkout")); err == nil {
		t.Error("the ledger was written")
	}
	if m := rh.s.manual(); len(m) != 0 {
		t.Errorf("the rollout was acted on: %v", m)
	}
	if ph := rh.s.r.Status(rh.now).Phase; ph != rollback.Progressing {
		t.Errorf("phase %v", ph)
	}
}

func (rh *receiverHarness) assertNoSecret(t *testing.T, texts ...string) {
	t.Helper()
	rh.mu.Lock()
	all := append(append([]string{}, texts...), rh.logs...)
	rh.mu.Unlock()
	if len(rh.logs) == 0 {
		t.Error("nothing logged")
	}
	for _, s := range all {
		if strings.Contains(s, token) || strings.Contains(s, token[:12]) || strings.Contains(s, "hmac-key") {
			t.Errorf("a secret leaked: %q", s)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// The firing time in the audit reason is in the receiver's Location
// (Europe/London when nil, as TestAlertmanagerRollsBackOnce shows).
func TestAlertmanagerReasonInLocation(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	rh := newReceiver(t, trigger.Bearer{Token: token})
	rh.h.Location = tokyo
	if w := rh.post(payload("firing", checkoutAlert, t0.Add(20*time.Second)), bearer); w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	m := rh.s.manual()
	if len(m) != 1 || !strings.Contains(m[0].Reason, "firing since 07/12/2026 18:00:20 JST") {
		t.Fatalf("manual events %d, want one whose reason gives the time in Tokyo: %+v", len(m), m)
	}
}
