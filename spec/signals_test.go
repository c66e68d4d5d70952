package spec_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/spec"
)

func signalsRollout(t *testing.T, signals any) (*spec.Rollout, error) {
	t.Helper()
	m := good(t)
	set(m, "signals", signals)
	ro, err := decode(t, m)
	if err != nil {
		return nil, err
	}
	return ro, ro.Validate(nil)
}

func TestSignalsDecodedAndBuilt(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := signalsRollout(t, map[string]any{
		"report": "https://canary.example/checkout.html",
		"notify": []any{
			map[string]any{"kind": "slack", "urlEnv": "SLACK_URL"},
			map[string]any{"kind": "webhook", "urlEnv": "HOOK_URL", "keyFile": key},
		},
		"webhooks": []any{
			map[string]any{"name": "gate", "type": "confirm-promotion", "url": "http://127.0.0.1:1/gate", "timeout": "5s"},
			map[string]any{"name": "load", "type": "rollout", "url": "http://127.0.0.1:1/load", "retries": 1},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SLACK_URL": "https://hooks.slack.com/services/T0/B0/secret", "HOOK_URL": "https://ops.example/canary"}
	n, err := ro.Notifier(nil, func(k string) string { return env[k] }, nil)
	if err != nil || n == nil {
		t.Fatalf("Notifier: %v", err)
	}
	cfg := rollback.Config{Target: rollback.Target{Canary: rollback.Workload{Version: "canary"}}, Sink: n}
	hs, err := ro.ApplyWebhooks(&cfg, nil, nil)
	if err != nil || hs == nil || cfg.Gate == nil || len(cfg.Metrics) != 1 || cfg.Metrics[0].Name != "webhooks" || cfg.Analyzer == nil {
		t.Fatalf("ApplyWebhooks: %v %+v", err, cfg)
	}
	// A missing URL is refused without showing anything secret.
	if _, err := ro.Notifier(nil, func(string) string { return "" }, nil); err == nil {
		t.Fatal("a missing URL was accepted")
	}
}

func TestSignalsRefused(t *testing.T) {
	for _, c := range []struct {
		signals any
		field   string
	}{
		{map[string]any{"notify": []any{map[string]any{"kind": "pager", "urlEnv": "X"}}}, "signals.notify[0].kind"},
		{map[string]any{"notify": []any{map[string]any{"kind": "slack"}}}, "signals.notify[0].urlEnv"},
		{map[string]any{"notify": []any{map[string]any{"kind": "slack", "url": "https://hooks.slack.com/x"}}}, "signals.notify[0].url"},
		{map[string]any{"notify": []any{map[string]any{"kind": "webhook", "urlEnv": "X"}}}, "signals.notify[0].keyFile"},
		{map[string]any{"webhooks": []any{map[string]any{"name": "a", "type": "pre-flight", "url": "http://x"}}}, "signals.webhooks[0].type"},
		{map[string]any{"report": "ftp://x"}, "signals.report"},
	} {
		_, err := signalsRollout(t, c.signals)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%v: %v, want a FieldError naming %s", c.signals, err, c.field)
		}
	}
}
