package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/notify"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/trigger"
)

var t0 = time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC) // 10:00 BST

var errTmpl = metrics.MustParse(metrics.PromQL, "error-rate",
	`sum(rate(requests{version="{{version}}",code=~"5.."}[{{window}}])) / sum(rate(requests{version="{{version}}"}[{{window}}]))`)

func newRollout(t *testing.T, name string, canaryErrors float64, sink rollback.Sink) *rollback.Rollout {
	t.Helper()
	router := fake.NewRouter()
	p := fake.NewProvider(router)
	q := func(v string) string { r, _ := errTmpl.Render(metrics.Vars{Version: v, Window: time.Minute}); return r }
	p.Script(q("v2"), fake.Constant(canaryErrors, 1234))
	p.Script(q("v1"), fake.Constant(0.001, 12345))
	r, err := rollback.New(rollback.Config{
		Name:     name,
		Plan:     rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute, Hold: time.Minute},
		Target:   rollback.Target{Stable: rollback.Workload{Version: "v1"}, Canary: rollback.Workload{Version: "v2"}},
		Metrics:  []rollback.Metric{{Name: "error-rate", Provider: p, Query: errTmpl}},
		Analyzer: analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("error-rate", 0.02)}},
		Router:   router,
		Sink:     sink,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// drive produces every decision: checkout starts, advances a stage, is
// paused by a person, resumed and promoted; payments fails its checks and
// is rolled back.
func drive(t *testing.T, sink rollback.Sink) {
	t.Helper()
	ctx := context.Background()
	a := newRollout(t, "checkout", 0.001, sink)
	now := t0
	step := func(r *rollback.Rollout) rollback.Status {
		st, err := r.Step(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	for step(a).CanaryWeight != 50 {
		now = now.Add(time.Minute)
	}
	if _, err := a.Pause(ctx, now, "alice", "checking the dashboards"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Resume(ctx, now, "alice", "fine"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Promote(ctx, now, "alice", "ship it"); err != nil {
		t.Fatal(err)
	}
	for !step(a).Phase.Final() {
		now = now.Add(time.Second)
	}
	b := newRollout(t, "payments", 0.05, sink)
	for !step(b).Phase.Final() {
		now = now.Add(time.Minute)
	}
}

var allDecisions = []notify.Decision{notify.Started, notify.Advanced, notify.NeedsPerson, notify.FailedCheck, notify.RolledBack, notify.Promoted}

// clock is a simulated clock: Sleep advances it at once.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	return ctx.Err()
}

// collector is an HTTP endpoint recording what it is sent, answering
// with codes[i] to the i-th request (then 200).
type collector struct {
	mu     sync.Mutex
	bodies [][]byte
	hdrs   []http.Header
	codes  []int
	calls  int
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	code := http.StatusOK
	if c.calls < len(c.codes) {
		code = c.codes[c.calls]
	}
	c.calls++
	if code == http.StatusOK {
		c.bodies = append(c.bodies, b)
		c.hdrs = append(c.hdrs, r.Header.Clone())
	}
	w.WriteHeader(code)
}

func (c *collector) got() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.bodies...)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEveryDecisionValidForEachService(t *testing.T) {
	slack, teams, hook := &collector{}, &collector{}, &collector{}
	ss, ts, hs := httptest.NewServer(slack), httptest.NewServer(teams), httptest.NewServer(hook)
	defer ss.Close()
	defer ts.Close()
	defer hs.Close()
	key := []byte("0123456789abcdef0123456789abcdef-notify")
	signer, _ := trigger.NewHMAC(trigger.HMACConfig{Key: key})
	clk := &clock{now: t0}
	var trail []rollback.Event
	n, err := notify.New(notify.Config{
		Next: rollback.SinkFunc(func(_ context.Context, e rollback.Event) error { trail = append(trail, e); return nil }),
		Destinations: []notify.Destination{
			notify.Slack{URL: ss.URL + "/services/T0/B0/slacksecret"},
			notify.Teams{URL: ts.URL + "/workflows/teamssecret"},
			notify.Webhook{URL: hs.URL + "/hook", Signer: signer},
		},
		Report: func(r string) string { return "https://canary.example/reports/" + r + ".html" },
		Now:    clk.Now, Sleep: clk.Sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	drive(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	want := len(allDecisions) + 2 // two starts, two failed checks
	waitUntil(t, "every message delivered", func() bool { return n.Sent() == 3*want })
	cancel()
	<-done
	if len(trail) == 0 || len(n.Failures()) != 0 {
		t.Fatalf("trail %d events, failures %v", len(trail), n.Failures())
	}

	seen := map[notify.Decision]int{}
	for i, b := range hook.got() {
		var m notify.Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		seen[m.Decision]++
		if m.Reason == "" && m.Decision != notify.FailedCheck || m.Report == "" || !strings.HasSuffix(m.TimeText, "BST") {
			t.Errorf("webhook message %d: %+v", i, m)
		}
		// The receiver side of trigger verifies the signature.
		v, _ := trigger.NewHMAC(trigger.HMACConfig{Key: key})
		req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(string(b)))
		req.Header = hook.hdrs[i]
		if err := v.Authenticate(req, b, clk.Now()); err != nil {
			t.Errorf("webhook message %d: signature: %v", i, err)
		}
		if m.Decision == notify.RolledBack || m.Decision == notify.FailedCheck {
			if len(m.Evidence) == 0 || !strings.Contains(m.Evidence[0], "1,234 requests") || !strings.Contains(m.Evidence[0], "0.05") {
				t.Errorf("%s without its evidence: %q", m.Decision, m.Evidence)
			}
		}
	}
	for _, d := range allDecisions {
		if seen[d] == 0 {
			t.Errorf("no %s message", d)
		}
	}
	if seen[notify.FailedCheck] != 2 || seen[notify.RolledBack] != 1 || seen[notify.Promoted] != 1 || seen[notify.Started] != 2 {
		t.Errorf("messages per decision: %v", seen)
	}
	for i, b := range slack.got() {
		if err := checkSlack(b); err != nil {
			t.Errorf("slack message %d: %v\n%s", i, err, b)
		}
	}
	for i, b := range teams.got() {
		if err := checkTeams(b); err != nil {
			t.Errorf("teams message %d: %v\n%s", i, err, b)
		}
	}
	// The rate limit: consecutive messages to one destination at least
	// the interval apart.
	for _, w := range clk.waits {
		if w > time.Second {
			t.Errorf("a wait of %s with every endpoint up (waits %v)", w, clk.waits)
		}
	}
}

func TestDownEndpointDelaysNothingAndLosesNothing(t *testing.T) {
	down := &collector{codes: []int{503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503}}
	flaky := &collector{codes: []int{500, 429, 200, 503}}
	ds, fs := httptest.NewServer(down), httptest.NewServer(flaky)
	defer ds.Close()
	defer fs.Close()
	clk := &clock{now: t0}
	var fmu sync.Mutex
	var reported []notify.Failure
	n, err := notify.New(notify.Config{
		Destinations: []notify.Destination{
			notify.Slack{URL: ds.URL + "/services/T0/B0/slacksecret"},
			notify.Teams{URL: fs.URL + "/workflows/teamssecret"},
		},
		Attempts: 3,
		Now:      clk.Now, Sleep: clk.Sleep,
		Failed: func(f notify.Failure) { fmu.Lock(); reported = append(reported, f); fmu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing delivers yet: every Record returns at once (the rollout
	// runs to its end without a delivery goroutine).
	drive(t, n)
	want := len(allDecisions) + 2
	if n.Pending() != 2*want {
		t.Fatalf("%d pending, want %d", n.Pending(), 2*want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	waitUntil(t, "every message delivered or reported", func() bool {
		fmu.Lock()
		defer fmu.Unlock()
		return n.Sent()+len(reported) == 2*want
	})
	cancel()
	<-done
	if n.Sent() != want || len(reported) != want {
		t.Fatalf("sent %d (want %d to the flaky endpoint), reported %d (want %d for the down one)", n.Sent(), want, len(reported), want)
	}
	for _, f := range reported {
		if f.Destination != "slack" || f.Attempts != 3 || !errors.Is(f.Err, notify.ErrUndelivered) || !strings.Contains(f.Err.Error(), "503") {
			t.Errorf("failure %+v", f)
		}
		if strings.Contains(f.Err.Error(), "slacksecret") {
			t.Errorf("the URL leaked: %v", f.Err)
		}
	}
	// Back-off: 2 s then 4 s between a message's attempts.
	var two, four bool
	for _, w := range clk.waits {
		two = two || w == 2*time.Second
		four = four || w == 4*time.Second
	}
	if !two || !four {
		t.Errorf("waits %v: want the 2 s and 4 s back-off", clk.waits)
	}
}

func TestUnreachableEndpointLeaksNoURL(t *testing.T) {
	s := httptest.NewServer(http.NotFoundHandler())
	url := s.URL + "/services/T0/B0/slacksecret"
	s.Close() // connection refused
	clk := &clock{now: t0}
	n, err := notify.New(notify.Config{
		Destinations: []notify.Destination{notify.Slack{URL: url}, notify.Slack{URL: "::not a url/slacksecret"}},
		Attempts:     2, Now: clk.Now, Sleep: clk.Sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Record(context.Background(), rollback.Event{Seq: 1, Rollout: "checkout", Kind: rollback.KindTransition, From: rollback.Pending, To: rollback.Progressing, WeightTo: 10, Time: t0}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	waitUntil(t, "both failures reported", func() bool { return len(n.Failures()) == 2 })
	cancel()
	<-done
	for _, f := range n.Failures() {
		if strings.Contains(f.Err.Error(), "slacksecret") || strings.Contains(f.Err.Error(), "/services/") {
			t.Errorf("the URL leaked: %v", f.Err)
		}
	}
}

func TestQueueFullIsReported(t *testing.T) {
	n, err := notify.New(notify.Config{Destinations: []notify.Destination{notify.Teams{URL: "http://127.0.0.1:1/x"}}, Queue: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 5; i++ {
		e := rollback.Event{Seq: i, Rollout: "r", Kind: rollback.KindTransition, From: rollback.Progressing, To: rollback.Progressing, WeightFrom: int(i), WeightTo: int(i) + 1}
		if err := n.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	// The same event again (a rollout offering it again) queues nothing.
	_ = n.Record(context.Background(), rollback.Event{Seq: 5, Rollout: "r", Kind: rollback.KindTransition, From: rollback.Progressing, To: rollback.Progressing, WeightFrom: 5, WeightTo: 6})
	f := n.Failures()
	if n.Pending() != 2 || len(f) != 3 || !errors.Is(f[0].Err, notify.ErrQueueFull) {
		t.Fatalf("pending %d, failures %v", n.Pending(), f)
	}
}

// TestPendingCountsAMessageInFlight: a message taken off its queue counts
// as pending until it was delivered, so a caller that waits for Pending to
// reach 0 before it stops Run (canaryctl run does) loses no message that
// was being posted (canaryctl's signals test lost "promoted" that way).
func TestPendingCountsAMessageInFlight(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-release
	}))
	defer srv.Close()
	n, err := notify.New(notify.Config{Destinations: []notify.Destination{notify.Teams{URL: srv.URL + "/x"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	e := rollback.Event{Seq: 1, Rollout: "r", Kind: rollback.KindTransition, From: rollback.Promoting, To: rollback.Succeeded, WeightFrom: 10, WeightTo: 100}
	if err := n.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	<-arrived // off the queue, being posted
	if p := n.Pending(); p != 1 {
		t.Errorf("Pending() = %d while the message is being posted, want 1", p)
	}
	close(release)
	waitUntil(t, "the message delivered", func() bool { return n.Sent() == 1 })
	if p := n.Pending(); p != 0 {
		t.Errorf("Pending() = %d after delivery, want 0", p)
	}
	cancel()
	<-done
}

// A message's TimeText is in Config.Location (Europe/London when nil, as
// TestEveryDecisionValidForEachService shows); Time stays UTC.
func TestMessageTimeInLocation(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	hook := &collector{}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	clk := &clock{now: t0}
	n, err := notify.New(notify.Config{
		Destinations: []notify.Destination{notify.Webhook{URL: hs.URL + "/hook"}},
		Location:     tokyo,
		Now:          clk.Now, Sleep: clk.Sleep,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	e := rollback.Event{Seq: 1, Time: t0, Rollout: "checkout", Kind: rollback.KindTransition,
		From: rollback.Progressing, To: rollback.RollingBack, WeightFrom: 10, Reason: "error rate"}
	if err := n.Record(ctx, e); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the message delivered", func() bool { return len(hook.got()) == 1 })
	cancel()
	<-done
	var m notify.Message
	if err := json.Unmarshal(hook.got()[0], &m); err != nil {
		t.Fatal(err)
	}
	if m.TimeText != "01/07/2026 18:00:00 JST" || !m.Time.Equal(t0) || m.Time.Location() != time.UTC {
		t.Errorf("time %v, text %q; want UTC and 01/07/2026 18:00:00 JST", m.Time, m.TimeText)
	}
}
