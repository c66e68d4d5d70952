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
	// History is how much of the exporter's past is loaded into
	// Prometheus's storage before it starts, one point per ScrapeInterval;
	// zero means one minute. See Server.WaitForData.
	History time.Duration
}

// Server is a running Prometheus that scrapes Exporter.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:port.
	URL string
	// Exporter is the synthetic exporter it scrapes.
	Exporter *Exporter
	// ScrapeInterval is the scrape interval in force.
	ScrapeInterval time.Duration
	// HistoryEnd is the last instant of the history loaded before the
	// start (a whole second in the past); the history covers
	// [HistoryEnd-History, HistoryEnd] at ScrapeInterval.
	HistoryEnd time.Time
	// History is the length of that history.
	History time.Duration

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

// EnvPromtool names the variable that points at the promtool binary.
const EnvPromtool = "MESHCANARY_PROMTOOL"

// Promtool returns the promtool binary, which loads the history:
// $MESHCANARY_PROMTOOL, else promtool next to the prometheus binary, else
// promtool on PATH (Debian's prometheus package ships both).
func Promtool(prometheus string) (string, error) {
	if p := os.Getenv(EnvPromtool); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("promtest: $%s=%s: %w", EnvPromtool, p, err)
		}
		return p, nil
	}
	if p := filepath.Join(filepath.Dir(prometheus), "promtool"); fileExists(p) {
		return p, nil
	}
	p, err := exec.LookPath("promtool")
	if err != nil {
		return "", fmt.Errorf("promtest: no promtool next to %s nor on PATH: set $%s (it comes with Prometheus): %w", prometheus, EnvPromtool, err)
	}
	return p, nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// Start starts Prometheus with the default options; see StartWith.
func Start(t testing.TB) *Server { t.Helper(); return StartWith(t, Options{}) }

// StartWith starts the exporter and a Prometheus scraping it, both on
// 127.0.0.1, with storage in a temporary directory; both stop when the
// test ends. Before Prometheus starts, the exporter's last o.History
// (a minute by default) is written into that storage with promtool, one
// point every ScrapeInterval on an exact grid, so that queries over it do
// not depend on when scrapes happened to run (see WaitForData). Under -short it skips the test; in a full run a missing
// binary or a server that does not come up fails it.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	return startWith(t, o, nil)
}

// startWith is StartWith, with res (when not nil) served and scraped as
// job ResourceJob beside the exporter, its history loaded the same way.
func startWith(t testing.TB, o Options, res *ResourceExporter) *Server {
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
	if o.History == 0 {
		o.History = time.Minute
	}
	if o.History < 0 || o.History%o.ScrapeInterval != 0 {
		t.Fatalf("promtest: History %v must be a positive multiple of ScrapeInterval %v", o.History, o.ScrapeInterval)
	}
	promtool, err := Promtool(bin)
	if err != nil {
		t.Fatal(err)
	}
	// The exporter's counters start at zero History before the end of the
	// history, and its live scrapes continue the same counters.
	historyEnd := time.Now().Truncate(o.ScrapeInterval)
	exp := NewExporter(o.Workloads, nil)
	exp.start = historyEnd.Add(-o.History)
	hs := httptest.NewServer(exp) // httptest listens on 127.0.0.1
	t.Cleanup(hs.Close)

	dir := t.TempDir()
	history := filepath.Join(dir, "history.om")
	var hist bytes.Buffer
	exp.WriteHistory(&hist, exp.start, historyEnd, o.ScrapeInterval)
	resTarget := ""
	if res != nil {
		res.start = exp.start
		resTarget = newLoopbackServer(t, res)
		// One OpenMetrics file: the exporter's families, then the
		// resource exporter's (their names differ), one "# EOF".
		hist.Truncate(hist.Len() - len("# EOF\n"))
		res.WriteHistory(&hist, res.start, historyEnd, o.ScrapeInterval)
	}
	if err := os.WriteFile(history, hist.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
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
	if res != nil {
		yml += "  - job_name: " + ResourceJob + "\n" +
			"    honor_labels: true\n" +
			"    static_configs:\n" +
			"      - targets: ['" + resTarget + "']\n"
	}
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}

	// A free port can be taken by someone else between our probe and
	// Prometheus's bind; try a few.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		data := filepath.Join(dir, "data"+strconv.Itoa(attempt))
		if out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", history, data).CombinedOutput(); err != nil {
			t.Fatalf("promtest: %s tsdb create-blocks-from openmetrics: %v\n%s", promtool, err, out)
		}
		s, err := launch(t, bin, cfg, data)
		if err == nil {
			s.Exporter = exp
			s.ScrapeInterval = o.ScrapeInterval
			s.HistoryEnd, s.History = historyEnd, o.History
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

// WaitForData returns an instant End such that queries over
// (End-window, End] see the exporter's steady counters at every
// ScrapeInterval, exactly on the grid: End is HistoryEnd, and the data is
// the history loaded before Prometheus started, so the answer does not
// depend on scrape timing or on the machine's load. It checks that
// Prometheus holds every point of the window and fails the test if not (or
// if window, with a scrape interval to spare, is longer than History).
func (s *Server) WaitForData(ctx context.Context, t testing.TB, window time.Duration) time.Time {
	t.Helper()
	if window+2*s.ScrapeInterval > s.History {
		t.Fatalf("promtest: a %v window needs Options.History of at least %v (have %v)", window, window+2*s.ScrapeInterval, s.History)
	}
	end := s.HistoryEnd
	// Prometheus 2 includes a range's left end, Prometheus 3 does not.
	want := float64(window / s.ScrapeInterval)
	w := s.Exporter.Workloads[0]
	q := fmt.Sprintf(`count_over_time(istio_requests_total{reporter="destination",destination_workload_namespace=%q,destination_workload=%q,destination_version=%q,response_code="200"}[%ds] @ %d)`,
		w.Namespace, w.Name, w.Version, int(window/time.Second), end.Unix())
	got, err := s.instantValue(ctx, q)
	if err != nil || (got != want && got != want+1) {
		t.Fatalf("promtest: the loaded history holds %v points in the %v before %v, want %v or %v (error %v); query %s\nprometheus log:\n%s",
			got, window, end, want, want+1, err, q, s.logs.String())
	}
	return end
}

// WaitForScrapes waits until the exporter has been scraped n times, 30s at
// most, and fails the test if it has not.
func (s *Server) WaitForScrapes(ctx context.Context, t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.Exporter.Scrapes() < n {
		if ctx.Err() != nil || time.Now().After(deadline) {
			t.Fatalf("promtest: %d scrapes of the exporter after 30s, want %d; prometheus log:\n%s", s.Exporter.Scrapes(), n, s.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// instantValue evaluates q now and returns the value of its single sample
// (an error when the result is empty).
func (s *Server) instantValue(ctx context.Context, q string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
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
		return 0, err
	}
	if body.Status != "success" {
		return 0, errors.New(body.Error)
	}
	if len(body.Data.Result) == 0 {
		return 0, fmt.Errorf("%s: empty result", q)
	}
	str, _ := body.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(str, 64)
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
