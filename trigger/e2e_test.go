package trigger_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/trigger"
)

// binary returns $env, else name on PATH; under -short it skips, and in a
// full run a missing binary fails the test.
func binary(t *testing.T, env, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test against a real Prometheus and Alertmanager: skipped under -short")
	}
	if p := os.Getenv(env); p != "" {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("no %s: set $%s or run `eval \"$(bash scripts/testenv.sh)\"`: %v", name, env, err)
	}
	return p
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs a server binary on a free loopback port (args get the
// address through addrFlag), waits until GET /-/ready answers 200, and
// stops it by its PID when the test ends.
func start(t *testing.T, name, bin, addrFlag string, args ...string) (base string, logs *lockedBuffer) {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		logs = &lockedBuffer{}
		cmd := exec.Command(bin, append(args, addrFlag+"="+addr)...)
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			select {
			case <-exited:
				return
			default:
			}
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		base = "http://" + addr
		deadline := time.Now().Add(60 * time.Second)
		for {
			select {
			case <-exited:
				lastErr = fmt.Errorf("%s exited before it was ready; its log:\n%s", name, logs)
			default:
			}
			if lastErr != nil {
				break
			}
			if resp, err := http.Get(base + "/-/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Cleanup(func() {
						stop()
						if t.Failed() {
							t.Logf("%s log:\n%s", name, logs)
						}
					})
					return base, logs
				}
			}
			if time.Now().After(deadline) {
				stop()
				t.Fatalf("%s not ready on %s after 60s; its log:\n%s", name, addr, logs)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Fatal(lastErr)
	return "", nil
}

// waitFor polls cond every 100 ms for up to limit (a generous bound, not
// a speed assertion) and fails the test with what if it never holds.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAlertmanagerEndToEnd: a Prometheus alerting rule fires on a metric
// the test raises; Alertmanager delivers the alert, and its repeats, to
// the receiver with a bearer token; the rollout is rolled back at once,
// once, with the alert's labels in the audit event.
func TestAlertmanagerEndToEnd(t *testing.T) {
	prom := binary(t, "MESHCANARY_PROMETHEUS", "prometheus")
	am := binary(t, "MESHCANARY_ALERTMANAGER", "prometheus-alertmanager")
	dir := t.TempDir()

	// The metric the rule watches.
	var mu sync.Mutex
	ratio, scrapes := 0.0, 0
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		scrapes++
		fmt.Fprintf(w, "# TYPE canary_error_ratio gauge\ncanary_error_ratio{service=\"checkout\",namespace=\"shop\"} %g\n", ratio)
	}))
	defer exporter.Close()

	// The rollout, its clock (simulated: the test owns time) and the
	// receiver. Every delivery records the simulated instant it reached
	// the receiver.
	s := newSubject(t, "checkout")
	var clockMu sync.Mutex
	now := t0.Add(30 * time.Second)
	clock := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }
	recv := &trigger.Alertmanager{
		Applier: &trigger.Applier{Store: new(store.Memory), Targets: trigger.Map{"checkout": s.r}},
		Routes:  []trigger.Route{{Match: map[string]string{"service": "checkout", "namespace": "shop"}, Rollout: "checkout", Action: trigger.RollBack}},
		Auth:    trigger.Bearer{Token: token},
		Now:     clock,
		Log:     func(l string) { t.Log(l) },
	}
	type delivery struct {
		status string
		code   int
		at     time.Time
		result trigger.Result
	}
	var dmu sync.Mutex
	var deliveries []delivery
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		at := clock()
		rec := httptest.NewRecorder()
		recv.ServeHTTP(rec, r)
		var p trigger.Payload
		_ = json.Unmarshal(body, &p)
		d := delivery{status: p.Status, code: rec.Code, at: at}
		_ = json.Unmarshal(rec.Body.Bytes(), &d.result)
		dmu.Lock()
		deliveries = append(deliveries, d)
		dmu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	defer receiver.Close()
	firing := func() []delivery {
		dmu.Lock()
		defer dmu.Unlock()
		var out []delivery
		for _, d := range deliveries {
			if d.status == "firing" {
				out = append(out, d)
			}
		}
		return out
	}

	// Alertmanager: every group sent at once and repeated every 2 s, to
	// the receiver with the bearer token from a file.
	tokenFile := filepath.Join(dir, "token")
	write(t, tokenFile, token)
	write(t, filepath.Join(dir, "alertmanager.yml"), `route:
  receiver: canary
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
receivers:
  - name: canary
    webhook_configs:
      - url: `+receiver.URL+`/alerts
        send_resolved: true
        http_config:
          authorization:
            credentials_file: `+tokenFile+`
`)
	amURL, _ := start(t, "alertmanager", am, "--web.listen-address",
		"--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "am"),
		"--cluster.listen-address=", "--log.level=warn")

	// Prometheus: scrapes and evaluates every second; the rule fires as
	// soon as the ratio is above 10 %.
	write(t, filepath.Join(dir, "rules.yml"), `groups:
  - name: canary
    rules:
      - alert: CanaryErrors
        expr: canary_error_ratio > 0.1
        labels:
          severity: page
        annotations:
          summary: checkout canary 5xx above 10 %
`)
	write(t, filepath.Join(dir, "prometheus.yml"), `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [`+filepath.Join(dir, "rules.yml")+`]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['`+strings.TrimPrefix(amURL, "http://")+`']
scrape_configs:
  - job_name: mesh
    static_configs:
      - targets: ['`+strings.TrimPrefix(exporter.URL, "http://")+`']
`)
	start(t, "prometheus", prom, "--web.listen-address",
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "prom"), "--log.level=warn")

	// While the ratio is low, scrapes run and nothing fires.
	waitFor(t, 60*time.Second, "Prometheus never scraped the exporter 3 times", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return scrapes >= 3
	})
	if n := len(firing()); n != 0 {
		t.Fatalf("%d firing deliveries before the ratio rose", n)
	}
	if ph := s.r.Status(clock()).Phase; ph != rollback.Progressing {
		t.Fatalf("phase %v before the alert", ph)
	}

	mu.Lock()
	ratio = 0.5
	mu.Unlock()
	waitFor(t, 2*time.Minute, "no firing alert reached the receiver", func() bool { return len(firing()) >= 1 })
	// Repeats of the same firing alert: at least two more deliveries.
	waitFor(t, 2*time.Minute, "Alertmanager did not repeat the alert", func() bool { return len(firing()) >= 3 })

	got := firing()
	first := got[0]
	if first.code != http.StatusOK || len(first.result.Applied) != 1 {
		t.Fatalf("first delivery: %d %+v", first.code, first.result)
	}
	for i, d := range got[1:] {
		if d.code != http.StatusOK || len(d.result.Applied) != 0 || d.result.Duplicates != 1 {
			t.Fatalf("repeat %d: %d %+v", i+1, d.code, d.result)
		}
	}
	// Rolled back within one analysis interval of the alert reaching the
	// receiver (the receiver's abort writes the router before it answers).
	st := s.r.Status(clock())
	if st.Phase != rollback.RolledBack || s.router.CanaryWeight() != 0 {
		t.Fatalf("phase %v, canary %d %%, want rolled back with no canary traffic", st.Phase, s.router.CanaryWeight())
	}
	var aborts, rolledBack []rollback.Event
	for _, e := range s.trail() {
		if e.Kind == rollback.KindManual {
			aborts = append(aborts, e)
		}
		if e.Kind == rollback.KindTransition && e.To == rollback.RolledBack {
			rolledBack = append(rolledBack, e)
		}
	}
	if len(aborts) != 1 || aborts[0].Action != "abort" || len(rolledBack) != 1 {
		t.Fatalf("want one abort and one rolled-back transition, got %v and %v", aborts, rolledBack)
	}
	if d := rolledBack[0].Time.Sub(first.at); d < 0 || d > interval {
		t.Fatalf("rolled back %s after the alert reached the receiver, want within the %s analysis interval", d, interval)
	}
	for _, want := range []string{`alertname="CanaryErrors"`, `service="checkout"`, `namespace="shop"`, `severity="page"`, `job="mesh"`, "checkout canary 5xx above 10 %"} {
		if !strings.Contains(aborts[0].Reason, want) {
			t.Errorf("audit reason %q lacks %s", aborts[0].Reason, want)
		}
	}
	if !strings.HasPrefix(aborts[0].Actor, "alertmanager (receiver canary)") {
		t.Errorf("actor %q", aborts[0].Actor)
	}
	t.Logf("%d firing deliveries, one abort: %s", len(got), display.Event(aborts[0], nil))
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
