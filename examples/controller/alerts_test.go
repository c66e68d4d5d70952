package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/meshcanary/canary/trigger"
)

// alertPayload is an Alertmanager webhook body (version 4) with one
// firing alert naming the Rollout label ("<namespace>.<name>").
func alertPayload(t *testing.T, label, fingerprint string, startsAt time.Time) []byte {
	t.Helper()
	labels := map[string]string{"alertname": "CanaryErrors", "rollout": label, "severity": "page"}
	b, err := json.Marshal(trigger.Payload{Version: "4", GroupKey: `{}:{alertname="CanaryErrors"}`, Status: "firing",
		Receiver: "meshcanary", GroupLabels: map[string]string{"alertname": "CanaryErrors"}, CommonLabels: labels,
		ExternalURL: "http://alertmanager.invalid:9093",
		Alerts: []trigger.Alert{{Status: "firing", Labels: labels, Annotations: map[string]string{"summary": "5xx above 5 %"},
			StartsAt: startsAt, GeneratorURL: "http://prometheus.invalid:9090/graph", Fingerprint: fingerprint}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postAlert posts body to the receiver at url with the bearer token and
// returns the status and the decoded result.
func postAlert(t *testing.T, url, token string, body []byte) (int, trigger.Result) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res trigger.Result
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, res
}

// informersOnly builds a replica that watches (its informers run) but
// contests no shard: the replica an alert reaches when another holds the
// rollout's shard.
func informersOnly(t *testing.T, o Config) *Controller {
	t.Helper()
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c.start(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		t.Fatal("caches did not sync")
	}
	return c
}

// Alertmanager → the controller's receiver → the Rollout rolled back,
// once. Two replicas run as deploy/rbac.yaml's ServiceAccount: A holds
// every shard and drives both rollouts (held at their first stage); B
// watches but holds no shard. A firing alert naming one rollout reaches
// B (B opens the rollout from its state ConfigMap and aborts it; A's
// stale copy is fenced off by the store and reloads), one naming the
// other reaches A (which aborts the rollout it drives). Both roll back,
// with one ManualAbort Event each naming Alertmanager and the alert's
// labels; every repeated delivery, to either replica, is a duplicate and
// acts on nothing. A wrong token is refused (401) and an alert naming no
// Rollout applies nothing. The RBAC manifest is unchanged: no request is
// Forbidden.
func TestAlertRollsBack(t *testing.T) {
	f := newFixture(t)
	held := func(name string) map[string]any {
		s := rolloutSpec(name)
		s["plan"] = map[string]any{"stages": []any{int64(10), int64(50), int64(100)}, "interval": "1s", "hold": "1h"}
		return s
	}
	f.app(t, "alert-remote", held("alert-remote"))
	f.app(t, "alert-local", held("alert-local"))
	cfgA := f.applyRBAC(t, nil)
	cfgB := rest.CopyConfig(cfgA)
	wA, wB := newWire(), newWire()
	cfgA.WrapTransport, cfgB.WrapTransport = wA.wrap, wB.wrap
	a := start(t, f.controllerOptions(t, "replica-a", cfgA))
	poll(t, 2*time.Minute, "replica A to hold every shard", func() (bool, string) {
		return len(a.shards.Held()) == 4, fmt.Sprint(a.shards.Held())
	})
	b := informersOnly(t, f.controllerOptions(t, "replica-b", cfgB))
	for _, name := range []string{"alert-remote", "alert-local"} {
		poll(t, 2*time.Minute, name+" at its first stage", func() (bool, string) {
			r := f.rollout(t, name)
			return r.Status.Phase == "progressing" && r.Status.CanaryWeight == 10 && f.canaryWeight(t, name, name+"-canary") == 10,
				fmt.Sprintf("%+v", r.Status)
		})
	}

	const token = "alert-token-for-tests"
	serve := func(c *Controller) string {
		recv, err := c.AlertReceiver(trigger.Bearer{Token: token}, "")
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(recv) // loopback
		t.Cleanup(srv.Close)
		return srv.URL + "/alerts"
	}
	urlA, urlB := serve(a), serve(b)
	since := time.Now().Add(-2 * time.Minute).UTC()
	remote := alertPayload(t, AlertName(f.ns, "alert-remote"), "3f1c9a0b2d4e5f60", since)
	local := alertPayload(t, AlertName(f.ns, "alert-local"), "7a8b9c0d1e2f3a4b", since)

	// Refused before anything: a wrong token.
	if code, _ := postAlert(t, urlB, "not-the-token", remote); code != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d, want 401", code)
	}
	// An alert naming no Rollout applies nothing.
	if code, res := postAlert(t, urlA, token, alertPayload(t, AlertName(f.ns, "nothing-here"), "0000000000000001", since)); code != http.StatusOK || len(res.Applied) != 0 || len(res.Errors) != 1 {
		t.Errorf("an alert naming no Rollout: %d %+v, want 200 with one error and nothing applied", code, res)
	}
	if r := f.rollout(t, "alert-remote"); r.Status.Phase != "progressing" {
		t.Fatalf("alert-remote is %s before any valid alert", r.Status.Phase)
	}

	if code, res := postAlert(t, urlB, token, remote); code != http.StatusOK || len(res.Applied) != 1 || res.Applied[0].Rollout != AlertName(f.ns, "alert-remote") {
		t.Fatalf("the alert on replica B (no shard): %d %+v, want 200 with one rollback applied", code, res)
	}
	if n := len(b.shards.Held()); n != 0 {
		t.Fatalf("replica B holds %d shards; the test means it to hold none", n)
	}
	if code, res := postAlert(t, urlA, token, local); code != http.StatusOK || len(res.Applied) != 1 {
		t.Fatalf("the alert on replica A (the holder): %d %+v, want 200 with one rollback applied", code, res)
	}
	for _, name := range []string{"alert-remote", "alert-local"} {
		poll(t, 2*time.Minute, name+" to be rolled back", func() (bool, string) {
			r := f.rollout(t, name)
			return r.Status.Phase == "rolled-back", fmt.Sprintf("%+v", r.Status)
		})
		if w := f.canaryWeight(t, name, name+"-canary"); w != 0 {
			t.Errorf("%s: canary weight %d after the rollback, want 0", name, w)
		}
	}

	// Alertmanager sends a firing alert again (repeat_interval, a retry,
	// another replica of Alertmanager): every delivery is a duplicate.
	for _, url := range []string{urlA, urlB} {
		for _, body := range [][]byte{remote, local} {
			if code, res := postAlert(t, url, token, body); code != http.StatusOK || res.Duplicates != 1 || len(res.Applied) != 0 {
				t.Errorf("a repeated delivery: %d %+v, want 200 with one duplicate and nothing applied", code, res)
			}
		}
	}
	for _, name := range []string{"alert-remote", "alert-local"} {
		var aborts []string
		poll(t, time.Minute, name+"'s ManualAbort Event", func() (bool, string) {
			aborts = nil
			for _, e := range f.events(t, name) {
				if e.Reason == "ManualAbort" {
					aborts = append(aborts, fmt.Sprintf("%s (count %d)", e.Message, e.Count))
				}
			}
			return len(aborts) > 0, fmt.Sprint(aborts)
		})
		if len(aborts) != 1 || !strings.Contains(aborts[0], "by alertmanager (receiver meshcanary)") ||
			!strings.Contains(aborts[0], `rollout="`+AlertName(f.ns, name)+`"`) || !strings.Contains(aborts[0], "count 1)") {
			t.Errorf("%s: ManualAbort Events %q, want one naming Alertmanager and the alert's labels", name, aborts)
		}
		// The ledger: one ConfigMap per Rollout, owned by it.
		cm, err := f.kc.CoreV1().ConfigMaps(f.ns).Get(f.ctx, "meshcanary-signals-"+name, metav1.GetOptions{})
		if err != nil || len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].Name != name || strings.Count(cm.Data["record"], `"id"`) != 1 {
			t.Errorf("%s's ledger: %v %+v", name, err, cm)
		}
	}
	for who, w := range map[string]*wire{"A": wA, "B": wB} {
		for _, r := range w.snapshot() {
			if r.Status == http.StatusForbidden {
				t.Errorf("replica %s: %s %s Forbidden for %s (deploy/rbac.yaml lacks it)", who, r.Method, r.Path, f.serviceAccount())
			}
		}
	}
}

// The flags: a receiver needs exactly one credential, and no error holds
// the secret.
func TestAlertAuthFlags(t *testing.T) {
	dir := t.TempDir()
	tok := dir + "/token"
	if err := os.WriteFile(tok, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := alertAuth("", ""); err == nil || !strings.Contains(err.Error(), "exactly one of -alerts-token-file and -alerts-hmac-key-file") {
		t.Errorf("no credential: %v", err)
	}
	if _, err := alertAuth(tok, tok); err == nil {
		t.Error("both credentials accepted")
	}
	a, err := alertAuth(tok, "")
	if b, ok := a.(trigger.Bearer); err != nil || !ok || b.Token != "s3cret-token" {
		t.Errorf("token file: %#v %v", a, err)
	}
	// An HMAC key shorter than 32 bytes is refused without showing it.
	if _, err := alertAuth("", tok); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("short HMAC key: %v", err)
	}
	if _, err := alertAuth(dir+"/missing", ""); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// run refuses -alerts-address without a credential before it talks
	// to any API server.
	err = run(context.Background(), []string{"-kubeconfig", dir + "/none", "-alerts-address", "127.0.0.1:0"}, fakeMetrics{})
	if err == nil || !strings.Contains(err.Error(), "-alerts-token-file") {
		t.Errorf("run without a credential: %v", err)
	}
	err = run(context.Background(), []string{"-kubeconfig", dir + "/none", "-alerts-address", "127.0.0.1:0",
		"-alerts-token-file", tok, "-alerts-path", "alerts"}, fakeMetrics{})
	if err == nil || !strings.Contains(err.Error(), "-alerts-path") {
		t.Errorf("run with a path without /: %v", err)
	}
}

// The flags, in a controller process: -alerts-address on loopback (port
// 0: the address is read from the process's log) and -alerts-token-file.
// A firing alert posted to it rolls the Rollout back; a second delivery
// is a duplicate.
func TestAlertReceiverProcess(t *testing.T) {
	f := newFixture(t)
	spec := rolloutSpec("proc-alert")
	spec["plan"] = map[string]any{"stages": []any{int64(10), int64(100)}, "interval": "1s", "hold": "1h"}
	f.app(t, "proc-alert", spec)
	tok := t.TempDir() + "/token"
	if err := os.WriteFile(tok, []byte("process-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startReplica(t, f, kubeconfig(t, f.applyRBAC(t, nil)), "proc-0", 4,
		"-alerts-address", "127.0.0.1:0", "-alerts-token-file", tok)
	var addr string
	poll(t, 2*time.Minute, "the receiver's address in the log", func() (bool, string) {
		b, err := os.ReadFile(r.log)
		if err != nil {
			return false, err.Error()
		}
		for _, line := range strings.Split(string(b), "\n") {
			var rec struct{ Msg, Address string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "receiving Alertmanager webhooks" {
				addr = rec.Address
				return true, ""
			}
		}
		return false, string(b)
	})
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("the receiver listens on %q, want loopback", addr)
	}
	poll(t, 2*time.Minute, "proc-alert at its first stage", func() (bool, string) {
		ro := f.rollout(t, "proc-alert")
		return ro.Status.Phase == "progressing" && ro.Status.CanaryWeight == 10, fmt.Sprintf("%+v", ro.Status)
	})
	body := alertPayload(t, AlertName(f.ns, "proc-alert"), "5e6f7a8b9c0d1e2f", time.Now().Add(-time.Minute).UTC())
	url := "http://" + addr + "/alerts"
	if code, _ := postAlert(t, "http://"+addr+"/other", "process-token", body); code != http.StatusNotFound {
		t.Errorf("a post to another path: %d, want 404", code)
	}
	if code, res := postAlert(t, url, "process-token", body); code != http.StatusOK || len(res.Applied) != 1 {
		t.Fatalf("the alert: %d %+v, want 200 with one rollback applied", code, res)
	}
	poll(t, 2*time.Minute, "proc-alert to be rolled back", func() (bool, string) {
		ro := f.rollout(t, "proc-alert")
		return ro.Status.Phase == "rolled-back", fmt.Sprintf("%+v", ro.Status)
	})
	if w := f.canaryWeight(t, "proc-alert", "proc-alert-canary"); w != 0 {
		t.Errorf("canary weight %d after the rollback, want 0", w)
	}
	if code, res := postAlert(t, url, "process-token", body); code != http.StatusOK || res.Duplicates != 1 || len(res.Applied) != 0 {
		t.Errorf("the repeated delivery: %d %+v, want one duplicate", code, res)
	}
}
