package spec_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/hook"
)

// TestWebhookMetadata: a webhook's metadata and secretMetadata from the
// rollout file reach the hook in Flagger's payload (name, namespace,
// phase, checksum, metadata); the secret's value is read from the
// environment or a file when the hooks are built, and is in neither the
// decoded file (as JSON, what a store keeps) nor an error.
func TestWebhookMetadata(t *testing.T) {
	const secret = "tok-3f9a1c27b8e64d05"
	var mu sync.Mutex
	var got []hook.Payload
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p hook.Payload
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("payload %s: %v", b, err)
		}
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
		if p.Metadata["answer"] == "no" {
			http.Error(w, "refused", http.StatusForbidden)
		}
	}))
	defer srv.Close()
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte("  file-"+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := signalsRollout(t, map[string]any{"webhooks": []any{
		map[string]any{"name": "start", "type": "confirm-rollout", "url": srv.URL, "timeout": "5s", "retries": 1,
			"metadata":       map[string]any{"type": "cmd", "cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"},
			"secretMetadata": map[string]any{"token": map[string]any{"env": "LOADTEST_TOKEN"}, "key": map[string]any{"file": keyFile}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	w := ro.Signals.Webhooks[0]
	if w.Metadata["type"] != "cmd" || w.SecretMetadata["token"].Env != "LOADTEST_TOKEN" || w.Timeout.D().Seconds() != 5 || w.Retries != 1 {
		t.Fatalf("decoded as %+v", w)
	}
	env := func(k string) string {
		if k == "LOADTEST_TOKEN" {
			return secret
		}
		return ""
	}
	set, err := ro.Webhooks(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := set.ConfirmRollout(context.Background()); !ok || err != nil {
		t.Fatalf("ConfirmRollout: %v %v", ok, err)
	}
	mu.Lock()
	p := got[0]
	mu.Unlock()
	if p.Name != ro.Name || p.Namespace != ro.Target.Namespace || p.Phase != "Initialized" || len(p.Checksum) != 16 ||
		p.Metadata["cmd"] != "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/" || p.Metadata["token"] != secret || p.Metadata["key"] != "file-"+secret {
		t.Errorf("payload %+v", p)
	}
	b, _ := json.Marshal(ro)
	if strings.Contains(string(b), secret) {
		t.Errorf("the decoded rollout holds the secret: %s", b)
	}
	// The environment variable unset: refused naming the field, no value.
	if _, err := ro.Webhooks(func(string) string { return "" }, nil); !isField(err, "signals.webhooks[0].secretMetadata.token.env") {
		t.Errorf("unset variable: %v", err)
	}
	// A hook that says no: the error says which, never the metadata.
	ro.Signals.Webhooks[0].Metadata["answer"] = "no"
	set, err = ro.Webhooks(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := set.ConfirmRollout(context.Background())
	if ok || err != nil {
		t.Errorf("a refusing confirm-rollout hook: %v %v", ok, err)
	}
	for _, f := range set.Failures() {
		if strings.Contains(f, secret) || strings.Contains(f, srv.URL) || !strings.Contains(f, "start") {
			t.Errorf("failure %q", f)
		}
	}
}

func isField(err error, field string) bool {
	var fe *canary.FieldError
	return errors.As(err, &fe) && fe.Field == field
}

// TestWebhooksRefused: every bad webhook field is a FieldError naming
// it as written in the file, and none shows a metadata value.
func TestWebhooksRefused(t *testing.T) {
	const secret = "s3cr3t-value-in-metadata"
	hookWith := func(kv ...any) map[string]any {
		m := map[string]any{"name": "h", "type": "rollout", "url": "http://loadtester.test/"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	many := map[string]any{}
	for i := range 65 {
		many[fmt.Sprintf("k%d", i)] = secret
	}
	for _, c := range []struct {
		hooks []any
		field string
	}{
		{[]any{hookWith("name", "")}, "signals.webhooks[0].name"},
		{[]any{hookWith(), hookWith()}, "signals.webhooks[1].name"},
		{[]any{hookWith("type", "")}, "signals.webhooks[0].type"},
		{[]any{hookWith("url", "ftp://x/"+secret)}, "signals.webhooks[0].url"},
		{[]any{hookWith("url", "")}, "signals.webhooks[0].url"},
		{[]any{hookWith("retries", 11)}, "signals.webhooks[0].retries"},
		{[]any{hookWith("timeout", "-1s")}, "signals.webhooks[0].timeout"},
		{[]any{hookWith("timeout", "10ms")}, "signals.webhooks[0].timeout"},
		{[]any{hookWith("metadata", map[string]any{"cmd": 5})}, "signals.webhooks[0].metadata.cmd"},
		{[]any{hookWith("metadata", "cmd")}, "signals.webhooks[0].metadata"},
		{[]any{hookWith("metadata", map[string]any{"-bad": secret})}, "signals.webhooks[0].metadata"},
		{[]any{hookWith("metadata", map[string]any{"cmd": strings.Repeat(secret, 1000)})}, "signals.webhooks[0].metadata.cmd"},
		{[]any{hookWith("metadata", many)}, "signals.webhooks[0].metadata"},
		{[]any{hookWith("secretMetadata", map[string]any{"token": map[string]any{}})}, "signals.webhooks[0].secretMetadata.token"},
		{[]any{hookWith("secretMetadata", map[string]any{"token": map[string]any{"env": "A", "file": "/x"}})}, "signals.webhooks[0].secretMetadata.token"},
		{[]any{hookWith("secretMetadata", map[string]any{"token": map[string]any{"env": "1A"}})}, "signals.webhooks[0].secretMetadata.token.env"},
		{[]any{hookWith("secretMetadata", map[string]any{"token": map[string]any{"value": secret}})}, "signals.webhooks[0].secretMetadata.token.value"},
		{[]any{hookWith("metadata", map[string]any{"token": secret}, "secretMetadata", map[string]any{"token": map[string]any{"env": "T"}})}, "signals.webhooks[0].secretMetadata.token"},
		{[]any{hookWith("muteAlert", true)}, "signals.webhooks[0].muteAlert"},
	} {
		_, err := signalsRollout(t, map[string]any{"webhooks": c.hooks})
		if !isField(err, c.field) {
			t.Errorf("%v: %v, want a FieldError naming %s", c.hooks, err, c.field)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows a metadata value: %v", err)
		}
	}
}
