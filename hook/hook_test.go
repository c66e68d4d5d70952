package hook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/hook"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/trigger"
	"github.com/meshcanary/canary/workload"
)

var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

var errTmpl = metrics.MustParse(metrics.PromQL, "error-rate",
	`sum(rate(requests{version="{{version}}",code=~"5.."}[{{window}}])) / sum(rate(requests{version="{{version}}"}[{{window}}]))`)

// server is a hook endpoint that records the payloads it is sent and
// answers with the code its answer function gives.
type server struct {
	*httptest.Server
	mu       sync.Mutex
	payloads []hook.Payload
	paths    []string
	answer   atomic.Int32
}

func newServer(t *testing.T, code int) *server {
	s := &server{}
	s.answer.Store(int32(code))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p hook.Payload
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &p); err != nil || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.payloads = append(s.payloads, p)
		s.paths = append(s.paths, r.URL.Path)
		s.mu.Unlock()
		code := int(s.answer.Load())
		if code == 0 { // hang until the client gives up
			<-r.Context().Done()
			return
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "gate closed by the release manager\nsecond line")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) got(path string) []hook.Payload {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []hook.Payload
	for i, p := range s.payloads {
		if path == "" || s.paths[i] == path {
			out = append(out, p)
		}
	}
	return out
}

type harness struct {
	cfg    rollback.Config
	events []rollback.Event
	router *fake.Router
}

func newHarness(t *testing.T, set *hook.Set, plan rollback.Plan) *harness {
	h := &harness{router: fake.NewRouter()}
	p := fake.NewProvider(h.router)
	q := func(v string) string { r, _ := errTmpl.Render(metrics.Vars{Version: v, Window: time.Minute}); return r }
	p.Script(q("v2"), fake.Constant(0.001, 1000))
	p.Script(q("v1"), fake.Constant(0.001, 1000))
	m, err := set.Metric("v2")
	if err != nil {
		t.Fatal(err)
	}
	h.cfg = rollback.Config{
		Name:     "checkout",
		Plan:     plan,
		Target:   rollback.Target{Namespace: "shop", Stable: rollback.Workload{Version: "v1"}, Canary: rollback.Workload{Version: "v2"}},
		Metrics:  []rollback.Metric{{Name: "error-rate", Provider: p, Query: errTmpl}, m},
		Analyzer: analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("error-rate", 0.02), hook.Limit()}},
		Router:   h.router,
		Gate:     set.Gate(),
		Sink: set.Sink(rollback.SinkFunc(func(_ context.Context, e rollback.Event) error {
			h.events = append(h.events, e)
			return nil
		})),
	}
	return h
}

func TestConfirmPromotionHoldsUntilYes(t *testing.T) {
	gate := newServer(t, http.StatusForbidden)
	set, err := hook.New(hook.Config{Name: "checkout", Namespace: "shop", Checksum: "85d557f47b", Hooks: []hook.Hook{
		{Name: "promotion gate", Type: hook.ConfirmPromotion, URL: gate.URL + "/gate", Metadata: map[string]string{"team": "payments"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, set, rollback.Plan{Stages: rollback.Weights(20), Interval: time.Minute, ApprovePromotion: true})
	r, err := rollback.New(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := t0
	var st rollback.Status
	for i := 0; i < 30; i++ {
		st, _ = r.Step(ctx, now)
		if st.Phase == rollback.AwaitingApproval {
			break
		}
		now = now.Add(time.Minute)
	}
	if st.Phase != rollback.AwaitingApproval {
		t.Fatalf("phase %v, want awaiting-approval", st.Phase)
	}
	// The gate says no: the rollout holds, asking at every step.
	asked := len(gate.got("/gate"))
	for i := 0; i < 5; i++ {
		now = now.Add(time.Minute)
		if st, _ = r.Step(ctx, now); st.Phase != rollback.AwaitingApproval || h.router.CanaryWeight() != 20 {
			t.Fatalf("with the gate closed: phase %v, canary %d %%", st.Phase, h.router.CanaryWeight())
		}
	}
	if n := len(gate.got("/gate")); n < asked+5 {
		t.Fatalf("the gate was asked %d times over 5 steps", n-asked)
	}
	p := gate.got("/gate")[0]
	if p.Name != "checkout" || p.Namespace != "shop" || p.Checksum != "85d557f47b" || p.Phase != "WaitingPromotion" || p.Metadata["team"] != "payments" {
		t.Fatalf("payload %+v", p)
	}
	// It says yes: promoted.
	gate.answer.Store(http.StatusOK)
	for i := 0; i < 10 && !st.Phase.Final(); i++ {
		now = now.Add(time.Minute)
		st, _ = r.Step(ctx, now)
	}
	if st.Phase != rollback.Succeeded {
		t.Fatalf("phase %v after the gate opened", st.Phase)
	}
	var approved bool
	for _, e := range h.events {
		approved = approved || strings.Contains(e.Actor, "promotion gate")
	}
	if !approved {
		t.Fatal("no event names the hook as the approver")
	}
}

func TestPreRolloutFailureIsAFailedCheck(t *testing.T) {
	pre := newServer(t, http.StatusInternalServerError)
	set, err := hook.New(hook.Config{Name: "checkout", Namespace: "shop", Checksum: "c1", Hooks: []hook.Hook{
		{Name: "smoke test", Type: hook.PreRollout, URL: pre.URL + "/smoke", Retries: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, set, rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute})
	r, err := rollback.New(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	var st rollback.Status
	for i := 0; i < 30 && !st.Phase.Final(); i++ {
		st, _ = r.Step(context.Background(), now)
		now = now.Add(time.Minute)
	}
	if st.Phase != rollback.RolledBack {
		t.Fatalf("phase %v, want rolled back after the failure limit", st.Phase)
	}
	failed := 0
	for _, e := range h.events {
		if e.Kind == rollback.KindAnalysis && e.Verdict.Outcome == analysis.Fail {
			failed++
			if line := display.Event(e, nil); !strings.Contains(line, "webhooks") {
				t.Errorf("the failed analysis does not name the hooks: %s", line)
			}
		}
	}
	if failed != 2 {
		t.Fatalf("%d failed analyses, want 2 (the default limit)", failed)
	}
	// Retries: two calls per analysis.
	if n := len(pre.got("/smoke")); n != 4 {
		t.Fatalf("%d calls, want 4 (2 analyses × 1 retry)", n)
	}
	if f := set.Failures(); len(f) == 0 || !strings.Contains(f[0], "answered 500: gate closed by the release manager") || strings.Contains(f[0], pre.URL) {
		t.Fatalf("failures %q", f)
	}
}

func TestPreRolloutThenRolloutHooks(t *testing.T) {
	srv := newServer(t, http.StatusOK)
	set, err := hook.New(hook.Config{Name: "checkout", Namespace: "shop", Checksum: "c1", Hooks: []hook.Hook{
		{Name: "smoke", Type: hook.PreRollout, URL: srv.URL + "/pre"},
		{Name: "load", Type: hook.Rollout, URL: srv.URL + "/rollout"},
		{Name: "post", Type: hook.PostRollout, URL: srv.URL + "/post"},
		{Name: "events", Type: hook.Event, URL: srv.URL + "/event", Metadata: map[string]string{"cluster": "test"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, set, rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute})
	r, _ := rollback.New(h.cfg)
	now := t0
	var st rollback.Status
	for i := 0; i < 30 && !st.Phase.Final(); i++ {
		st, _ = r.Step(context.Background(), now)
		now = now.Add(time.Minute)
	}
	if st.Phase != rollback.Succeeded {
		t.Fatalf("phase %v", st.Phase)
	}
	analyses := 0
	for _, e := range h.events {
		if e.Kind == rollback.KindAnalysis {
			analyses++
		}
	}
	if pre, ro := len(srv.got("/pre")), len(srv.got("/rollout")); pre != 1 || ro != analyses {
		t.Fatalf("pre-rollout called %d times (want 1), rollout %d (want %d, one per analysis)", pre, ro, analyses)
	}
	if post := srv.got("/post"); len(post) != 1 || post[0].Phase != "Succeeded" {
		t.Fatalf("post-rollout: %+v", post)
	}
	ev := srv.got("/event")
	if len(ev) != len(h.events) {
		t.Fatalf("%d event hook calls for %d events", len(ev), len(h.events))
	}
	if m := ev[0].Metadata; m["eventType"] != "Normal" || m["eventMessage"] == "" || m["timestamp"] != "1796634000000" || m["cluster"] != "test" {
		t.Fatalf("event payload %+v", ev[0])
	}
}

// The event hooks' eventMessage is the event as display.Event writes it
// in Config.Location (Europe/London when nil).
func TestEventMessageInLocation(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, http.StatusOK)
	set, err := hook.New(hook.Config{Name: "checkout", Location: tokyo, Hooks: []hook.Hook{
		{Name: "events", Type: hook.Event, URL: srv.URL + "/event"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	e := rollback.Event{Seq: 1, Time: time.Date(2026, 7, 1, 13, 0, 0, 0, time.UTC), Rollout: "checkout",
		Kind: rollback.KindManual, To: rollback.Paused, Action: "pause", Actor: "bob"}
	if err := set.Sink(nil).Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	ev := srv.got("/event")
	if len(ev) != 1 {
		t.Fatalf("%d event hook calls, want 1", len(ev))
	}
	if got, want := ev[0].Metadata["eventMessage"], display.Event(e, tokyo); got != want || !strings.HasPrefix(got, "01/07/2026 22:00:00 JST") {
		t.Errorf("eventMessage %q, want %q", got, want)
	}
}

func TestHangingHookIsCut(t *testing.T) {
	hang := newServer(t, 0)
	set, err := hook.New(hook.Config{Name: "checkout", Checksum: "c1", Hooks: []hook.Hook{
		{Name: "slow gate", Type: hook.ConfirmTrafficIncrease, URL: hang.URL + "/gate", Timeout: 50 * time.Millisecond},
		{Name: "slow load", Type: hook.Rollout, URL: hang.URL + "/load", Timeout: 50 * time.Millisecond},
		{Name: "slow start", Type: hook.ConfirmRollout, URL: hang.URL + "/start", Timeout: 50 * time.Millisecond},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ok, err := set.ConfirmRollout(ctx)
	if ok {
		t.Fatalf("a hanging confirm-rollout hook confirmed (%v)", err)
	}
	a, err := set.Gate().Check(ctx, rollbackGate())
	if err != nil || a.Approved || !strings.Contains(a.Reason, "cut at its 50ms timeout") {
		t.Fatalf("gate: %+v, %v", a, err)
	}
	m, _ := set.Metric("v2")
	q, _ := m.Query.Render(metrics.Vars{Version: "v2", Window: time.Minute})
	res, err := m.Provider.Query(ctx, metrics.Query{Text: q, Window: time.Minute, End: t0})
	if err != nil || res.Value != 0 {
		t.Fatalf("a hanging rollout hook: %+v, %v", res, err)
	}
	// The stable version's query calls nothing.
	q, _ = m.Query.Render(metrics.Vars{Version: "v1", Window: time.Minute})
	before := len(hang.got(""))
	if res, _ := m.Provider.Query(ctx, metrics.Query{Text: q, Window: time.Minute, End: t0}); res.Value != 1 || len(hang.got("")) != before {
		t.Fatalf("stable query: %+v", res)
	}
}

func TestRollbackHookActsOnce(t *testing.T) {
	rb := newServer(t, http.StatusNotFound)
	set, _ := hook.New(hook.Config{Name: "checkout", Checksum: "c1", Hooks: []hook.Hook{{Name: "rollback gate", Type: hook.Rollback, URL: rb.URL}}})
	h := newHarness(t, set, rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute})
	r, _ := rollback.New(h.cfg)
	ctx := context.Background()
	if _, err := r.Step(ctx, t0); err != nil {
		t.Fatal(err)
	}
	a := &trigger.Applier{Store: new(store.Memory), Targets: trigger.Map{"checkout": r}}
	if yes, err := set.CheckRollback(ctx, t0, a); yes || err != nil {
		t.Fatalf("a 404 rolled back: %v %v", yes, err)
	}
	rb.answer.Store(http.StatusOK)
	for i := 0; i < 3; i++ {
		if yes, err := set.CheckRollback(ctx, t0.Add(time.Duration(i)*time.Second), a); !yes || err != nil {
			t.Fatalf("check %d: %v %v", i, yes, err)
		}
	}
	if st := r.Status(t0); st.Phase != rollback.RolledBack {
		t.Fatalf("phase %v", st.Phase)
	}
	aborts := 0
	for _, e := range h.events {
		if e.Kind == rollback.KindManual && e.Action == "abort" && e.Actor == "webhook rollback gate" {
			aborts++
		}
	}
	if aborts != 1 {
		t.Fatalf("%d aborts", aborts)
	}
}

func TestLoadTestIsBounded(t *testing.T) {
	var hits atomic.Int64
	canarySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer canarySrv.Close()
	lt := &hook.LoadTest{URL: canarySrv.URL, Requests: 50, Concurrency: 4}
	hk, err := lt.Hook("load")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := hk.Func(context.Background(), hook.Payload{}); err != nil {
			t.Fatal(err)
		}
	}
	if hits.Load() != 150 || lt.Stats() != (hook.LoadStats{Sent: 150, Answered: 150}) {
		t.Fatalf("hits %d, stats %+v", hits.Load(), lt.Stats())
	}
	canarySrv.Close()
	if err := hk.Func(context.Background(), hook.Payload{}); err == nil {
		t.Fatal("an unreachable canary passed the load test")
	}
	if _, err := (&hook.LoadTest{URL: canarySrv.URL, Requests: hook.MaxLoadRequests + 1}).Hook("x"); err == nil {
		t.Fatal("an unbounded load test accepted")
	}
}

func TestBadHooksRefused(t *testing.T) {
	for _, h := range []hook.Hook{
		{Type: hook.Rollout, URL: "http://x"},
		{Name: "a", Type: "pre-flight", URL: "http://x"},
		{Name: "a", Type: hook.Rollout},
		{Name: "a", Type: hook.Rollout, URL: "ftp://x/secret"},
		{Name: "a", Type: hook.Rollout, URL: "http://x", Timeout: -time.Second},
	} {
		_, err := hook.New(hook.Config{Name: "checkout", Hooks: []hook.Hook{h}})
		var fe *canary.FieldError
		if !errors.As(err, &fe) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%+v: %v", h, err)
		}
	}
}

func rollbackGate() workload.GateRequest {
	return workload.GateRequest{Rollout: "checkout", Kind: workload.BeforeIncrease, From: 10, To: 50, Since: t0}
}
