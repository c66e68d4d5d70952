package spec_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/rollback"
)

// promoted is the event the tests tell the notifier and the hooks of: 1
// July 2026 09:00 UTC, 10:00 BST in London, 18:00 JST in Tokyo.
var promoted = rollback.Event{Seq: 1, Rollout: "checkout", Time: time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC),
	Kind: rollback.KindTransition, From: rollback.Promoting, To: rollback.Succeeded, WeightFrom: 10, WeightTo: 100}

// TestTimeZoneOfNotifications: a rollout file's timeZone is the zone of
// the notifications' TimeText and of the webhooks' eventMessage; without
// it both stay in Europe/London.
func TestTimeZoneOfNotifications(t *testing.T) {
	for _, c := range []struct{ zone, want string }{
		{"Asia/Tokyo", "01/07/2026 18:00:00 JST"},
		{"", "01/07/2026 10:00:00 BST"},
	} {
		var mu sync.Mutex
		var texts, events []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			var m struct {
				TimeText string            `json:"timeText"`
				Metadata map[string]string `json:"metadata"`
			}
			_ = json.Unmarshal(b, &m)
			mu.Lock()
			if r.URL.Path == "/notify" {
				texts = append(texts, m.TimeText)
			} else {
				events = append(events, m.Metadata["eventMessage"])
			}
			mu.Unlock()
		}))
		key := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef-key\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		m := good(t)
		if c.zone != "" {
			set(m, "timeZone", c.zone)
		}
		set(m, "signals", map[string]any{
			"notify":   []any{map[string]any{"kind": "webhook", "urlEnv": "HOOK_URL", "keyFile": key}},
			"webhooks": []any{map[string]any{"name": "events", "type": "event", "url": srv.URL + "/event"}},
		})
		ro, err := decode(t, m)
		if err == nil {
			err = ro.Validate(nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		n, err := ro.Notifier(nil, func(string) string { return srv.URL + "/notify" }, nil)
		if err != nil {
			t.Fatal(err)
		}
		hs, err := ro.Webhooks(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- n.Run(ctx) }()
		if err := hs.Sink(n).Record(context.Background(), promoted); err != nil {
			t.Fatal(err)
		}
		for n.Sent() < 1 && len(n.Failures()) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		<-done
		srv.Close()
		if f := n.Failures(); len(f) > 0 {
			t.Fatalf("%q: failures %v", c.zone, f)
		}
		if len(texts) != 1 || texts[0] != c.want {
			t.Errorf("timeZone %q: the notification's time %q, want %q", c.zone, texts, c.want)
		}
		if len(events) != 1 || !strings.HasPrefix(events[0], c.want+"  ") {
			t.Errorf("timeZone %q: the event hook's message %q, want it to start with %q", c.zone, events, c.want)
		}
	}
}

// TestTimeZoneRefused: a zone the database does not know is a FieldError
// naming timeZone, from Validate and from the signals' builders.
func TestTimeZoneRefused(t *testing.T) {
	for _, zone := range []string{"Mars/Olympus", "../../etc/passwd", "/etc/localtime"} {
		m := good(t)
		set(m, "timeZone", zone)
		set(m, "signals", map[string]any{"notify": []any{map[string]any{"kind": "slack", "urlEnv": "SLACK_URL"}}})
		ro, err := decode(t, m)
		if err != nil {
			t.Fatal(err)
		}
		var fe *canary.FieldError
		if err := ro.Validate(nil); !errors.As(err, &fe) || fe.Field != "timeZone" {
			t.Errorf("Validate with timeZone %q: %v, want a FieldError naming timeZone", zone, err)
		}
		if _, err := ro.Notifier(nil, func(string) string { return "https://hooks.slack.com/x" }, nil); !errors.As(err, &fe) || fe.Field != "timeZone" {
			t.Errorf("Notifier with timeZone %q: %v, want a FieldError naming timeZone", zone, err)
		}
	}
}
