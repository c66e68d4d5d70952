package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// EnvBinary names the variable that points at the prometheus binary.
const EnvBinary = "MESHCANARY_PROMETHEUS"

// Job is the scrape job's name; every exporter series carries job="mesh".
const Job = "mesh"

// Options tune StartWith. The zero value is what Start uses.
type Options struct {
	// ScrapeInterval is how often Prometheus scrapes the exporter; zero
	// means 1s. It must be whole seconds.
	ScrapeInterval time.Duration
	// Workloads are the exporter's workloads; nil means DefaultWorkloads().
	Workloads []Workload
}

// Server is a running Prometheus that scrapes Exporter.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:port.
	URL string
	// Exporter is the synthetic exporter it scrapes.
	Exporter *Exporter
	// ScrapeInterval is the scrape interval in force.
	ScrapeInterval time.Duration

	logs *syncBuffer
}

// Binary returns the prometheus binary to run: $MESHCANARY_PROMETHEUS, or
// prometheus on PATH.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("promtest: $%s=%s: %w", EnvBinary, p, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return "", fmt.Errorf("promtest: no prometheus binary: set $%s or install Debian's prometheus (bash scripts/testenv.sh does): %w", EnvBinary, err)
	}
	return p, nil
}

// Start starts Prometheus with the default options; see StartWith.
func Start(t testing.TB) *Server { t.Helper(); return StartWith(t, Options{}) }

// StartWith starts the exporter and a Prometheus scraping it, both on
// 127.0.0.1, with storage in a temporary directory; both stop when the
// test ends. Under -short it skips the test; in a full run a missing
// binary or a server that does not come up fails it.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test against a real Prometheus: skipped under -short; run it with bash scripts/test.sh")
	}
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	if o.ScrapeInterval == 0 {
		o.ScrapeInterval = time.Second
	}
	if o.ScrapeInterval < time.Second || o.ScrapeInterval%time.Second != 0 {
		t.Fatalf("promtest: ScrapeInterval %v must be whole seconds", o.ScrapeInterval)
	}
	if o.Workloads == nil {
		o.Workloads = DefaultWorkloads()
	}
	exp := NewExporter(o.Workloads, nil)
	hs := httptest.NewServer(exp) // httptest listens on 127.0.0.1
	t.Cleanup(hs.Close)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	secs := strconv.Itoa(int(o.ScrapeInterval / time.Second))
	yml := "global:\n" +
		"  scrape_interval: " + secs + "s\n" +
		"  scrape_timeout: " + secs + "s\n" +
		"  evaluation_interval: " + secs + "s\n" +
		"scrape_configs:\n" +
		"  - job_name: " + Job + "\n" +
		"    static_configs:\n" +
		"      - targets: ['" + hs.Listener.Addr().String() + "']\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}

	// A free port can be taken by someone else between our probe and
	// Prometheus's bind; try a few.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := launch(t, bin, cfg, filepath.Join(dir, "data"+strconv.Itoa(attempt)))
		if err == nil {
			s.Exporter = exp
			s.ScrapeInterval = o.ScrapeInterval
			return s
		}
		lastErr = err
	}
	t.Fatalf("promtest: %v", lastErr)
	return nil
}

func launch(t testing.TB, bin, cfg, data string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	logs := &syncBuffer{}
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+data,
		"--storage.tsdb.retention.time=1h",
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
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

	s := &Server{URL: "http://" + addr, logs: logs}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return nil, fmt.Errorf("prometheus exited before it was ready (%v); its log:\n%s", waitErr, logs.String())
		default:
		}
		if ready(s.URL) {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("prometheus not ready on %s after 30s; its log:\n%s", addr, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})
	return s, nil
}

func ready(base string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(base + "/-/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitForData blocks until Prometheus holds at least window of the
// exporter's samples, with a scrape interval to spare on each side, and
// returns an instant End (a whole second, already scraped) such that
// queries over (End-window, End] see only steady counters. It fails the
// test if no scrape is stored within 30s.
func (s *Server) WaitForData(ctx context.Context, t testing.TB, window time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var first time.Time
	for first.IsZero() {
		ts, err := s.instant(ctx, `timestamp(up{job="`+Job+`"} == 1)`)
		switch {
		case err != nil && ctx.Err() != nil:
			t.Fatalf("promtest: waiting for the first scrape: %v", err)
		case err == nil && !ts.IsZero():
			first = ts
		case time.Now().After(deadline):
			t.Fatalf("promtest: no scrape of the exporter stored after 30s (last error %v); prometheus log:\n%s", err, s.logs.String())
		default:
			time.Sleep(200 * time.Millisecond)
		}
	}
	end := first.Add(window + 2*s.ScrapeInterval).Truncate(time.Second).Add(time.Second)
	// Wait until a scrape after End is stored, so nothing before End is
	// still in flight.
	wait := time.Until(end.Add(s.ScrapeInterval + 500*time.Millisecond))
	select {
	case <-ctx.Done():
		t.Fatalf("promtest: %v", ctx.Err())
	case <-time.After(wait):
	}
	// On a loaded machine a scrape can run late: wait (30s at most) until
	// one that started after End is stored.
	deadline = time.Now().Add(30 * time.Second)
	for {
		ts, err := s.instant(ctx, `timestamp(up{job="`+Job+`"})`)
		if err == nil && ts.After(end) {
			return end
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			t.Fatalf("promtest: no scrape after %v stored (last %v, error %v)", end, ts, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// instant evaluates q now and returns the value of its single sample read
// as Unix seconds (zero time when the result is empty).
func (s *Server) instant(ctx context.Context, q string) (time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return time.Time{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return time.Time{}, err
	}
	if body.Status != "success" {
		return time.Time{}, errors.New(body.Error)
	}
	if len(body.Data.Result) == 0 {
		return time.Time{}, nil
	}
	str, _ := body.Data.Result[0].Value[1].(string)
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(f * 1000)), nil
}

// Logs is what Prometheus has logged so far.
func (s *Server) Logs() string { return s.logs.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
