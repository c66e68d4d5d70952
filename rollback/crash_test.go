package rollback_test

// The crash harness (issue 9, "Crash safety: write-ahead"): a child process
// (this test binary, re-executed) drives a rollout whose world lives in
// files — a router whose split and write log are files, a scaler, an audit
// trail, the rollout's state in store.File — or, for some rollouts, the
// real providers/httpsplit proxy in front of two live back ends. The parent
// kills it with SIGKILL at random points, starts it again from the store,
// and after every kill and at the end checks:
//
//   - no canary traffic is written while the stored state holds a rollback
//     decision (the router checks the store at every write): every such
//     write is all-stable, with no mirror, test route, cohort or affinity;
//   - no switch back and forth: at most one write rises to 100 %, and none
//     after a write that left 100 % (blue/green's switch and switch back);
//   - one session-affinity value per rollout, across every restart;
//   - never two promotions (the trail has at most one transition to
//     promoting and to succeeded, and never both succeeded and rolled back);
//   - no weight above the plan's largest stage unless the stored state is
//     promoting;
//   - every event in the trail exactly once and in order (Seq 1, 2, 3…);
//   - at the end, the rollout finished as its scenario says and the trail
//     holds every event the state numbered.
//
// The invariants hold whatever the timing: where the kill lands only
// changes which of them is exercised. Counts are printed (t.Logf and one
// line on stdout) and recorded in BENCHMARKS.md.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/workload"
)

const (
	crashEnvDir      = "ROLLBACK_CRASH_DIR"
	crashEnvScenario = "ROLLBACK_CRASH_SCENARIO"
	crashKey         = "crash"
)

var crashPlan = rollback.Plan{Stages: rollback.Weights(10, 30, 50), Interval: time.Minute, ProgressDeadline: 5 * time.Minute}

// The shapes' plans (issue 20).
var (
	crashAB = rollback.Plan{Interval: time.Minute, ProgressDeadline: 5 * time.Minute, Strategy: rollback.StrategyABTest,
		ABTest: &rollback.ABTest{Cohort: []traffic.Match{{Header: "x-beta", Value: "yes"}, {Cookie: "canary", Value: "always"}}, Iterations: 3}}
	crashBG = rollback.Plan{Interval: time.Minute, ProgressDeadline: 5 * time.Minute, Strategy: rollback.StrategyBlueGreen,
		BlueGreen: &rollback.BlueGreen{Preview: traffic.HeaderRoute{Name: "x-preview", Value: "yes"}, Mirror: 10,
			PrePromotion: 2 * time.Minute, PostPromotion: 2 * time.Minute, ScaleDownDelay: 3 * time.Minute}}
	crashAffinity = rollback.Plan{Stages: rollback.Weights(10, 30, 50), Interval: time.Minute, ProgressDeadline: 5 * time.Minute,
		SessionAffinity: &rollback.SessionAffinity{Cookie: "canary-session"}}
)

// crashScenarios: what each rollout does and how it must end.
var crashScenarios = []struct {
	name      string
	httpsplit bool
	bad       bool
	ops       string // "abort", "pause-weight-resume", "promote"
	want      rollback.Phase
	plan      *rollback.Plan // nil: crashPlan
	// badAt100: the canary is bad only once it takes every request
	// (blue/green after the switch).
	badAt100 bool
}{
	{"fakes, good canary", false, false, "", rollback.Succeeded, nil, false},
	{"fakes, bad canary", false, true, "", rollback.RolledBack, nil, false},
	{"fakes, operator aborts", false, false, "abort", rollback.RolledBack, nil, false},
	{"fakes, pause, set weight, resume", false, false, "pause-weight-resume", rollback.Succeeded, nil, false},
	{"fakes, manual promotion", false, false, "promote", rollback.Succeeded, nil, false},
	{"httpsplit, good canary", true, false, "", rollback.Succeeded, nil, false},
	{"httpsplit, bad canary", true, true, "", rollback.RolledBack, nil, false},
	{"fakes, A/B test, good", false, false, "", rollback.Succeeded, &crashAB, false},
	{"fakes, A/B test, bad", false, true, "", rollback.RolledBack, &crashAB, false},
	{"fakes, blue/green, good", false, false, "", rollback.Succeeded, &crashBG, false},
	{"fakes, blue/green, bad before the switch", false, true, "", rollback.RolledBack, &crashBG, false},
	{"fakes, blue/green, bad after the switch", false, false, "", rollback.RolledBack, &crashBG, true},
	{"fakes, session affinity, good", false, false, "", rollback.Succeeded, &crashAffinity, false},
	{"fakes, session affinity, bad", false, true, "", rollback.RolledBack, &crashAffinity, false},
}

// crashPlanOf is scenario sc's plan.
func crashPlanOf(sc int) rollback.Plan {
	if p := crashScenarios[sc].plan; p != nil {
		return *p
	}
	return crashPlan
}

type crashCounts struct {
	rollouts, kills, restarts, writes, events, violations int
}

func TestCrashHarness(t *testing.T) {
	if dir := os.Getenv(crashEnvDir); dir != "" {
		sc, _ := strconv.Atoi(os.Getenv(crashEnvScenario))
		if err := crashChild(dir, sc); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	target := 1000
	switch {
	case testing.Short():
		target = 30
	case raceEnabled:
		target = 100
	}
	rng := rand.New(rand.NewPCG(9, 14))
	var c crashCounts
	for c.kills < target {
		sc := c.rollouts % len(crashScenarios)
		dir := worldDir(t)
		c.rollouts++
		for attempt := 0; ; attempt++ {
			if attempt > 500 {
				t.Fatalf("rollout %d (%s) did not finish after %d restarts", c.rollouts, crashScenarios[sc].name, attempt)
			}
			killed := runChild(t, dir, sc, rng.IntN(40))
			if killed {
				c.kills++
			}
			if attempt > 0 {
				c.restarts++
			}
			if v := checkWorld(t, dir, sc, !killed); len(v) > 0 {
				c.violations += len(v)
				for _, s := range v {
					t.Errorf("rollout %d (%s), attempt %d: %s", c.rollouts, crashScenarios[sc].name, attempt, s)
				}
				return
			}
			if !killed {
				break
			}
		}
		w, e := worldCounts(dir)
		c.writes += w
		c.events += e
	}
	line := fmt.Sprintf("crash harness: %d rollouts, %d SIGKILLs, %d restarts from the store, %d router writes, %d audit events, %d violations",
		c.rollouts, c.kills, c.restarts, c.writes, c.events, c.violations)
	t.Log(line)
	fmt.Println(line)
}

// worldDir is a fresh directory for one rollout's world, in memory
// (/dev/shm) where there is one: the harness counts kills, not fsyncs.
func worldDir(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "rollback-crash-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// runChild runs the child until it finishes or, after it printed killAfter
// progress lines, kills it with SIGKILL. It reports whether it killed it.
func runChild(t *testing.T, dir string, sc, killAfter int) bool {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHarness$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvDir+"="+dir, crashEnvScenario+"="+strconv.Itoa(sc))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	killed := false
	for n := 0; lines.Scan(); n++ {
		if n == killAfter {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
			break
		}
	}
	io.Copy(io.Discard, out)
	err = cmd.Wait()
	if killed {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
			return true
		}
		if err == nil {
			return false // it had finished before the signal landed
		}
	}
	if err != nil {
		t.Fatalf("child failed: %v\n%s", err, stderr.String())
	}
	return false
}

// The world's files.
const (
	fRouter = "router.json" // the split in force (fake router)
	fLog    = "router.log"  // one line per successful write: split and the stored phase then
	fScaler = "scaler.json"
	fAudit  = "audit.jsonl"
	fClock  = "clock"
)

type routerLogLine struct {
	Split  traffic.Split  `json:"split"`
	Stored rollback.Phase `json:"stored"`
}

// loggingRouter logs every successful write with the phase the store held
// at that moment; the split itself is kept by next (a file or httpsplit).
type loggingRouter struct {
	next  rollback.Splitter
	dir   string
	store store.Store
}

func (l *loggingRouter) SetSplit(ctx context.Context, s traffic.Split) error {
	stored := rollback.Pending
	if data, _, err := l.store.Load(ctx, crashKey); err == nil {
		var st rollback.State
		if json.Unmarshal(data, &st) == nil {
			stored = st.Phase
		}
	}
	b, _ := json.Marshal(routerLogLine{Split: s, Stored: stored})
	if err := l.next.SetSplit(ctx, s); err != nil {
		return err
	}
	return appendLine(filepath.Join(l.dir, fLog), b)
}

func (l *loggingRouter) Split(ctx context.Context) (traffic.Split, error) { return l.next.Split(ctx) }
func (l *loggingRouter) Release(ctx context.Context) error                { return l.next.Release(ctx) }

// CanaryWeight lets the fake provider follow the split.
func (l *loggingRouter) CanaryWeight() int {
	s, _ := l.next.Split(context.Background())
	return s.Canary
}

// fileRouter keeps its split in a file.
type fileRouter struct{ path string }

func (f fileRouter) SetSplit(_ context.Context, s traffic.Split) error {
	if err := s.Validate(); err != nil {
		return err
	}
	b, _ := json.Marshal(s)
	return writeFile(f.path, b)
}

func (f fileRouter) Split(context.Context) (traffic.Split, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return traffic.AllStable(), nil
	}
	if err != nil {
		return traffic.Split{}, err
	}
	var s traffic.Split
	return s, json.Unmarshal(b, &s)
}

func (f fileRouter) Release(ctx context.Context) error {
	s, err := f.Split(ctx)
	if err != nil {
		return err
	}
	return f.SetSplit(ctx, traffic.Split{Stable: s.Stable, Canary: s.Canary}) // as traffic.Router.Release
}

// fileScaler keeps the replica counts in a file.
type fileScaler struct{ path string }

func (f fileScaler) load() map[workload.Version]int32 {
	m := map[workload.Version]int32{workload.Stable: 4, workload.Canary: 1}
	if b, err := os.ReadFile(f.path); err == nil {
		json.Unmarshal(b, &m)
	}
	return m
}

func (f fileScaler) Replicas(_ context.Context, v workload.Version) (int32, error) {
	if err := v.Check(); err != nil {
		return 0, err
	}
	return f.load()[v], nil
}

func (f fileScaler) Scale(_ context.Context, v workload.Version, n int32) error {
	if err := v.Check(); err != nil {
		return err
	}
	m := f.load()
	m[v] = n
	b, _ := json.Marshal(m)
	return writeFile(f.path, b)
}

// fileSink is a JSON-lines trail that skips any Seq it already holds, as
// the Sink contract asks; it drops a torn last line when it opens.
type fileSink struct {
	mu   sync.Mutex
	path string
	last uint64
}

func openFileSink(path string) (*fileSink, error) {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if i := strings.LastIndexByte(string(b), '\n'); len(b) > 0 && i != len(b)-1 {
		if err := os.Truncate(path, int64(i+1)); err != nil { // a torn line
			return nil, err
		}
		b = b[:i+1]
	}
	s := &fileSink{path: path}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e rollback.Event
		if line != "" && json.Unmarshal([]byte(line), &e) == nil {
			s.last = e.Seq
		}
	}
	return s, nil
}

func (s *fileSink) Record(_ context.Context, e rollback.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Seq <= s.last {
		return nil // already held: exactly once
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := appendLine(s.path, b); err != nil {
		return err
	}
	s.last = e.Seq
	return nil
}

func appendLine(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	return errors.Join(err, f.Close())
}

// writeFile replaces path atomically (a kill leaves the old or the new).
func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// crashChild drives scenario sc's rollout in dir until it is final,
// printing a line at every step and before every operation.
func crashChild(dir string, sc int) error {
	ctx := context.Background()
	scn := crashScenarios[sc]
	st, err := store.NewFile(filepath.Join(dir, "store"))
	if err != nil {
		return err
	}
	sink, err := openFileSink(filepath.Join(dir, fAudit))
	if err != nil {
		return err
	}
	clock := t0
	if b, err := os.ReadFile(filepath.Join(dir, fClock)); err == nil {
		if ns, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			clock = time.Unix(0, ns).UTC()
		}
	}
	var simNow sync.Mutex
	now := func() time.Time { simNow.Lock(); defer simNow.Unlock(); return clock }

	var next rollback.Splitter = fileRouter{filepath.Join(dir, fRouter)}
	tmpl := metrics.MustParse(metrics.PromQL, "error-rate", `error_rate{version="{{version}}"}`)
	var provider metrics.Provider
	var drive func(at time.Time)
	router := &loggingRouter{dir: dir, store: st}
	if scn.httpsplit {
		rate := 0.0
		if scn.bad {
			rate = 0.2
		}
		v1, _ := httpsplit.NewBackend(httpsplit.BackendConfig{Version: "v1"})
		v2, _ := httpsplit.NewBackend(httpsplit.BackendConfig{Version: "v2", ErrorRate: rate})
		s1, s2 := httptest.NewServer(v1), httptest.NewServer(v2)
		defer s1.Close()
		defer s2.Close()
		u1, _ := url.Parse(s1.URL)
		u2, _ := url.Parse(s2.URL)
		var proxyNow time.Time
		p, err := httpsplit.New(httpsplit.Config{Stable: u1, Canary: u2, Now: func() time.Time { simNow.Lock(); defer simNow.Unlock(); return proxyNow }})
		if err != nil {
			return err
		}
		defer p.Close()
		next, provider = p, p
		drive = func(at time.Time) { // 200 requests ending inside the window before at
			simNow.Lock()
			proxyNow = at.Add(-time.Second)
			simNow.Unlock()
			for i := 0; i < 200; i++ {
				p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			}
		}
	} else {
		fp := fake.NewProvider(router)
		q := func(v string) string { s, _ := tmpl.Render(metrics.Vars{Version: v}); return s }
		rate := 0.001
		if scn.bad {
			rate = 0.1
		}
		fp.Script(q("canary"), fake.Constant(rate, 500))
		if scn.badAt100 {
			fp.Script(q("canary"), func(p fake.Point) (float64, int64, bool) {
				if p.CanaryWeight == 100 {
					return 0.1, 500, true
				}
				return rate, 500, true
			})
		}
		fp.Script(q("stable"), fake.Constant(0.002, 5000))
		provider = fp
		drive = func(time.Time) {}
	}
	router.next = next
	cfg := rollback.Config{
		Name:     "crash",
		Plan:     crashPlanOf(sc),
		Target:   rollback.Target{Stable: rollback.Workload{Version: "stable"}, Canary: rollback.Workload{Version: "canary"}},
		Metrics:  []rollback.Metric{{Name: "error-rate", Provider: provider, Query: tmpl}},
		Analyzer: analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("error-rate", 0.02)}},
		Router:   router,
		Scaler:   fileScaler{filepath.Join(dir, fScaler)},
		Sink:     sink,
		Store:    st,
		Key:      crashKey,
	}
	r, err := rollback.Open(ctx, cfg)
	if err != nil && !errors.Is(err, rollback.ErrFinished) { // finished: deliver what is left
		return err
	}
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	for i := 0; i < 1000; i++ {
		at := now()
		say("step %v", at)
		drive(at)
		status, _ := r.Step(ctx, at)
		el := at.Sub(t0)
		switch {
		case scn.ops == "abort" && el >= 150*time.Second:
			say("abort")
			status, _ = r.Abort(ctx, at, "alice", "crash test")
		case scn.ops == "promote" && el >= 150*time.Second:
			say("promote")
			status, _ = r.Promote(ctx, at, "alice", "crash test")
		case scn.ops == "pause-weight-resume" && el >= 70*time.Second && el < 100*time.Second && status.Phase == rollback.Progressing:
			say("pause")
			status, _ = r.Pause(ctx, at, "alice", "crash test")
		case scn.ops == "pause-weight-resume" && el >= 100*time.Second && el < 130*time.Second && status.Phase == rollback.Paused && status.CanaryWeight != 20:
			say("set-weight")
			status, _ = r.SetWeight(ctx, at, 20, "alice", "crash test")
		case scn.ops == "pause-weight-resume" && el >= 130*time.Second && status.Phase == rollback.Paused:
			say("resume")
			status, _ = r.Resume(ctx, at, "alice", "crash test")
		}
		if status.Phase.Final() && status.Next.IsZero() {
			say("done %v", status.Phase)
			return nil
		}
		n := status.Next
		if !n.After(at) {
			n = at.Add(time.Second)
		}
		if n.Sub(at) > 4*time.Second {
			n = at.Add(4 * time.Second) // finer steps: more places to be killed
		}
		if err := writeFile(filepath.Join(dir, fClock), []byte(strconv.FormatInt(n.UnixNano(), 10))); err != nil {
			return err
		}
		simNow.Lock()
		clock = n
		simNow.Unlock()
	}
	return fmt.Errorf("rollout not final after 1000 steps: %v", r.Status(now()))
}

// checkWorld checks the invariants on dir; finished says the child ended
// on its own (the rollout is final).
func checkWorld(t *testing.T, dir string, sc int, finished bool) []string {
	t.Helper()
	var v []string
	want, plan := crashScenarios[sc].want, crashPlanOf(sc)
	max := 0 // an A/B test moves no weight before its promotion
	switch {
	case plan.Strategy == rollback.StrategyBlueGreen:
		max = 100 // the switch, analysed before the promotion
	case plan.Strategy != rollback.StrategyABTest:
		max = plan.Stages[len(plan.Stages)-1].Weight
	}
	if b, err := os.ReadFile(filepath.Join(dir, fLog)); err == nil {
		rises, left100, affinity := 0, false, ""
		prev := traffic.AllStable()
		for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var l routerLogLine
			if line == "" || json.Unmarshal([]byte(line), &l) != nil {
				continue // a line torn by the kill
			}
			rolledBack := l.Stored == rollback.RollingBack || l.Stored == rollback.RolledBack
			promoting := l.Stored == rollback.Promoting || l.Stored == rollback.Succeeded
			if rolledBack && l.Split != traffic.AllStable() {
				v = append(v, fmt.Sprintf("write %d: canary traffic %v after a saved rollback decision", i+1, l.Split))
			}
			if l.Split.Canary > max && !promoting {
				v = append(v, fmt.Sprintf("write %d: %v above the plan's %d %% while the saved state is %v", i+1, l.Split, max, l.Stored))
			}
			switch {
			case l.Split.Canary == 100 && prev.Canary != 100:
				rises++
				if rises > 1 || left100 {
					v = append(v, fmt.Sprintf("write %d: %v switches to 100 %% again (a switch back and forth)", i+1, l.Split))
				}
			case l.Split.Canary != 100 && prev.Canary == 100:
				left100 = true
			}
			if a := l.Split.Affinity; !a.IsZero() {
				if affinity != "" && a.Value != affinity {
					v = append(v, fmt.Sprintf("write %d: affinity value %q, an earlier write's was %q", i+1, a.Value, affinity))
				}
				affinity = a.Value
			} else if plan.SessionAffinity != nil && l.Split.Canary > 0 && l.Split.Canary < 100 {
				v = append(v, fmt.Sprintf("write %d: %v carries no affinity", i+1, l.Split))
			}
			prev = l.Split
		}
	}
	events := readTrail(dir)
	promotions, successes, rollbacks := 0, 0, 0
	for i, e := range events {
		if e.Seq != uint64(i+1) {
			v = append(v, fmt.Sprintf("trail line %d holds event %d: not exactly once and in order", i+1, e.Seq))
			break
		}
		if e.Kind == rollback.KindTransition {
			switch e.To {
			case rollback.Promoting:
				promotions++
			case rollback.Succeeded:
				successes++
			case rollback.RolledBack:
				rollbacks++
			}
		}
	}
	if promotions > 1 || successes > 1 || successes > 0 && rollbacks > 0 {
		v = append(v, fmt.Sprintf("%d promotions, %d successes, %d rollbacks in one rollout", promotions, successes, rollbacks))
	}
	if b, err := os.ReadFile(filepath.Join(dir, fRouter)); err == nil && finished {
		// The fake router's split in force at the end (httpsplit keeps
		// none): all-stable after a rollback, all-canary after a
		// promotion, nothing of the rollout's routes left.
		var s traffic.Split
		end := map[rollback.Phase]traffic.Split{rollback.RolledBack: traffic.AllStable(), rollback.Succeeded: traffic.Weighted(100)}
		if json.Unmarshal(b, &s) != nil || s != end[want] {
			v = append(v, fmt.Sprintf("the split in force at the end is %v, want %v", s, end[want]))
		}
	}
	if finished {
		st, _ := store.NewFile(filepath.Join(dir, "store"))
		data, _, err := st.Load(context.Background(), crashKey)
		var s rollback.State
		if err == nil {
			err = json.Unmarshal(data, &s)
		}
		switch {
		case err != nil:
			v = append(v, fmt.Sprintf("final state unreadable: %v", err))
		case s.Phase != want:
			v = append(v, fmt.Sprintf("ended %v, want %v (%s)", s.Phase, want, s.Reason))
		case len(events) == 0 || events[len(events)-1].Seq != s.Seq || len(s.Undelivered) != 0:
			v = append(v, fmt.Sprintf("trail ends at %d events, the state numbered %d (%d undelivered)", len(events), s.Seq, len(s.Undelivered)))
		}
	}
	return v
}

func readTrail(dir string) []rollback.Event {
	b, _ := os.ReadFile(filepath.Join(dir, fAudit))
	var out []rollback.Event
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e rollback.Event
		if line != "" && json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

func worldCounts(dir string) (writes, events int) {
	if b, err := os.ReadFile(filepath.Join(dir, fLog)); err == nil {
		writes = strings.Count(string(b), "\n")
	}
	return writes, len(readTrail(dir))
}

// The harness's checks catch what they look for: a log that switches to
// 100 % twice, canary traffic written after a saved rollback, two
// affinity values, a split left in force.
func TestCrashChecksCatch(t *testing.T) {
	bg := -1
	for i, sc := range crashScenarios {
		if sc.plan == &crashBG && sc.want == rollback.RolledBack {
			bg = i
		}
	}
	aff := len(crashScenarios) - 1 // session affinity, bad
	for _, tc := range []struct {
		name  string
		sc    int
		log   []routerLogLine
		split traffic.Split
		want  string
	}{
		{"switch back and forth", bg, []routerLogLine{{traffic.Weighted(100), rollback.Progressing}, {traffic.AllStable(), rollback.RollingBack},
			{traffic.Weighted(100), rollback.Progressing}}, traffic.AllStable(), "switches to 100 % again"},
		{"cohort after a rollback", bg, []routerLogLine{{traffic.Split{Stable: 100, Mirror: 10}, rollback.RollingBack}}, traffic.AllStable(), "after a saved rollback decision"},
		{"two affinity values", aff, []routerLogLine{{traffic.Split{Stable: 90, Canary: 10, Affinity: traffic.Affinity{Cookie: "c", Value: "a", MaxAge: 1}}, rollback.Progressing},
			{traffic.Split{Stable: 70, Canary: 30, Affinity: traffic.Affinity{Cookie: "c", Value: "b", MaxAge: 1}}, rollback.Progressing}}, traffic.AllStable(), "an earlier write's"},
		{"left in force", bg, nil, traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x", Value: "y"}}, "in force at the end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, l := range tc.log {
				b, _ := json.Marshal(l)
				appendLine(filepath.Join(dir, fLog), b)
			}
			b, _ := json.Marshal(tc.split)
			writeFile(filepath.Join(dir, fRouter), b)
			v := checkWorld(t, dir, tc.sc, true)
			if !strings.Contains(strings.Join(v, "\n"), tc.want) {
				t.Errorf("violations %q, want one saying %q", v, tc.want)
			}
		})
	}
}
