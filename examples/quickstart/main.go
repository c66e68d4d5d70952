// Command quickstart shows a canary rollout end to end on one machine, with
// no mesh and no metrics back end: it starts a stable (v1) and a canary
// (v2) HTTP server on loopback, each a child process of its own (this
// program, re-run as a back end), puts the in-process mesh (httpsplit) in
// front of them, sends bounded load through it, and runs three rollouts:
//
//  1. a healthy canary, promoted step by step;
//  2. a canary that fails 5 % of its requests, rolled back automatically;
//  3. a canary that does 4 MiB of extra hashing per request, rolled back
//     on its CPU use per request.
//
// Each is judged by the default preset on two rate metrics, each
// comparing the canary with the stable version over the same windows: the
// error rate, and latency as the share of requests slower than a bound
// (-slow, 250 ms by default; the mesh reports durations in seconds); and
// by analysis.Resources on each version's resource use, which its back end
// reports itself (httpsplit.ResourceHandler, sampled by
// httpsplit.ResourceMonitor): CPU per request served, memory per replica,
// and restarts.
//
// It prints a timeline (times in Europe/London, or the zone -tz names;
// numbers in UK format) and
// exits 0 when the first rollout succeeded and the other two rolled back.
// A rolled-back canary's process is really stopped (the scaler kills it by
// its PID), and every back end exits when the quickstart does.
//
// With -strategy it runs another release shape instead, a healthy and a
// faulty canary each: abtest (a cohort of requests with header
// X-Cohort: beta to the canary, analysed for three intervals at least),
// bluegreen (analysed through the preview header X-Preview: 1, switched in
// one write, analysed after the switch on a fixed error-rate bound, the old
// version then stopped), mirror (blue/green judged on a mirror of half of
// production's requests, whose responses nobody sees) or affinity (the
// weighted canary with a session cookie: the load stands for 40 users with
// cookie jars, and no user the canary served is sent back to stable while
// sessions are kept).
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -interval 5s -rps 400 -audit /tmp/audit.jsonl
//	go run ./examples/quickstart -strategy abtest
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // Europe/London on machines without a zone database

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/audit"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/workload"
)

type options struct {
	interval  time.Duration
	steps     []int
	holdLooks int
	rps       int
	errorRate float64
	burn      int
	slow      time.Duration
	timeout   time.Duration
	audit     string
	strategy  string
	loc       *time.Location // where the timeline's times are shown (-tz)
}

func parse(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{}
	stages := fs.String("stages", "10,25,50", "canary weights of the plan's stages in percent, comma-separated, rising")
	oldStages := fs.String("steps", "", "deprecated: the old name of -stages (still read)")
	fs.DurationVar(&o.interval, "interval", 2*time.Second, "analysis interval (and metric window)")
	fs.IntVar(&o.holdLooks, "hold", 2, "analysis intervals each step holds")
	fs.IntVar(&o.rps, "rps", 200, "requests per second of load (bounded by -timeout)")
	fs.Float64Var(&o.errorRate, "bad-error-rate", 0.05, "fraction of requests the bad canary fails")
	burnKiB := fs.Int("hungry-work", 4096, "KiB the hungry canary hashes with SHA-256 for every request (CPU work)")
	fs.DurationVar(&o.slow, "slow", 250*time.Millisecond, "a request slower than this counts as slow; the canary's share of slow requests is compared with stable's")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up after this long")
	fs.StringVar(&o.audit, "audit", "", "also append the tamper-evident audit trail (hash-chained JSON lines, UTC) to this file")
	fs.StringVar(&o.strategy, "strategy", "canary", "release shape: "+strings.Join(strategies, ", ")+" (each but canary runs a healthy and a faulty canary)")
	tz := fs.String("tz", display.DefaultZone, "time zone of the timeline: an IANA name such as America/New_York, or UTC")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil || *tz == "" {
		return o, fmt.Errorf("-tz %q: not a time zone (give an IANA name such as Europe/London, or UTC)", *tz)
	}
	o.loc = loc
	stagesFlag := "-stages"
	if *oldStages != "" {
		given := false
		fs.Visit(func(f *flag.Flag) { given = given || f.Name == "stages" })
		if given && *oldStages != *stages {
			return o, fmt.Errorf("-steps %q and -stages %q: -steps is the old name of -stages; give only -stages", *oldStages, *stages)
		}
		fmt.Fprintln(stderr, "quickstart: -steps is deprecated, use -stages (same value)")
		*stages, stagesFlag = *oldStages, "-steps"
	}
	for _, s := range strings.Split(*stages, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return o, fmt.Errorf("%s: %q is not a whole number", stagesFlag, s)
		}
		o.steps = append(o.steps, w)
	}
	switch {
	case o.interval < time.Second:
		return o, fmt.Errorf("-interval %v: must be at least 1s (the mesh measures whole seconds)", o.interval)
	case o.interval%time.Second != 0:
		return o, fmt.Errorf("-interval %v: must be a whole number of seconds", o.interval)
	case o.holdLooks < 1:
		return o, fmt.Errorf("-hold %d: must be at least 1", o.holdLooks)
	case o.rps < 10 || o.rps > 5000:
		return o, fmt.Errorf("-rps %d: must be between 10 and 5,000", o.rps)
	case o.errorRate < 0 || o.errorRate > 1:
		return o, fmt.Errorf("-bad-error-rate %v: must be between 0 and 1", o.errorRate)
	case *burnKiB < 1 || *burnKiB > 16384:
		return o, fmt.Errorf("-hungry-work %d: must be between 1 and 16,384 KiB", *burnKiB)
	case o.slow <= 0:
		return o, fmt.Errorf("-slow %v: must be positive", o.slow)
	case o.timeout <= 0:
		return o, fmt.Errorf("-timeout %v: must be positive", o.timeout)
	case !slices.Contains(strategies, o.strategy):
		return o, fmt.Errorf("-strategy %q: must be one of %s", o.strategy, strings.Join(strategies, ", "))
	}
	o.burn = *burnKiB << 10
	return o, nil
}

func main() {
	if spec := os.Getenv(backendEnv); spec != "" {
		if err := backendMain(spec, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "quickstart back end:", err)
			os.Exit(1)
		}
		return
	}
	o, err := parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	var audit rollback.Sink
	canaries := []canarySpec{
		{name: "checkout-v2-good", label: "healthy canary", want: rollback.Succeeded},
		{name: "checkout-v2-bad", label: "faulty canary", errorRate: o.errorRate, want: rollback.RolledBack},
		{name: "checkout-v2-hungry", label: "CPU-hungry canary", burn: o.burn, want: rollback.RolledBack},
	}
	if o.strategy != "canary" {
		canaries = canaries[:2]
		for i := range canaries {
			canaries[i].name += "-" + o.strategy
		}
	}
	if o.audit != "" {
		sink, err := openAudit(o.audit, out)
		if err != nil {
			return err
		}
		defer sink.Close()
		audit = sink
		// The trail holds each rollout's events once by Seq: a later run
		// appends under new rollout names.
		for i := range canaries {
			canaries[i].name = newName(canaries[i].name, sink.Last())
		}
	}
	if o.strategy == "canary" {
		fmt.Fprintf(out, "meshcanary quickstart — times in %s, analysis every %v, stages %v %%\n", o.loc, o.interval, o.steps)
	} else {
		fmt.Fprintf(out, "meshcanary quickstart — times in %s, analysis every %v, strategy %s\n", o.loc, o.interval, o.strategy)
	}
	var got []string
	ok := true
	for _, c := range canaries {
		phase, err := rollout(ctx, o, out, audit, c)
		if err != nil {
			return err
		}
		got = append(got, fmt.Sprintf("%s %s", c.label, phase))
		ok = ok && phase == c.want
	}
	fmt.Fprintf(out, "\nsummary: %s\n", strings.Join(got, ", "))
	if !ok {
		return fmt.Errorf("expected the healthy canary to succeed and the faulty ones to roll back")
	}
	return nil
}

// openAudit opens (or creates) a tamper-evident audit trail at path
// (package audit): it verifies the chain of what the file already holds,
// repairs a line torn by a crash, and appends.
func openAudit(path string, out io.Writer) (*audit.JSONLines, error) {
	sink, err := audit.OpenFile(path, audit.Config{})
	if err != nil {
		return nil, fmt.Errorf("audit trail %s: %w", path, err)
	}
	fmt.Fprintf(out, "audit trail %s: %d earlier events verified, appending\n", path, sink.Anchor().Lines)
	return sink, nil
}

// newName is base, or base-2, base-3… when the trail already holds a
// rollout of that name.
func newName(base string, held map[string]uint64) string {
	name := base
	for i := 2; held[name] > 0; i++ {
		name = fmt.Sprintf("%s-%d", base, i)
	}
	return name
}

// serve starts h on a loopback port and returns its URL and a stop func.
func serve(h http.Handler) (*url.URL, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	u := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	return u, func() { srv.Close() }, nil
}

// canarySpec is the canary one rollout tries, and the outcome it should
// have.
type canarySpec struct {
	name      string
	label     string
	errorRate float64 // share of requests it fails
	burn      int     // bytes hashed per request (CPU work)
	want      rollback.Phase
}

func (c canarySpec) String() string {
	switch {
	case c.errorRate > 0:
		return fmt.Sprintf("fails %s of requests", display.FormatPercent(c.errorRate))
	case c.burn > 0:
		return fmt.Sprintf("hashes %s KiB more per request", display.FormatNumber(float64(c.burn)/1024, 0))
	}
	return "healthy"
}

// rollout runs one canary rollout through a fresh mesh and returns its
// final phase.
func rollout(ctx context.Context, o options, out io.Writer, audit rollback.Sink, c canarySpec) (rollback.Phase, error) {
	v1, err := startChild(ctx, backendSpec{Version: "v1", Latency: 2 * time.Millisecond})
	if err != nil {
		return 0, err
	}
	defer v1.stop()
	v2, err := startChild(ctx, backendSpec{Version: "v2", Latency: 3 * time.Millisecond, ErrorRate: c.errorRate, Burn: c.burn})
	if err != nil {
		return 0, err
	}
	defer v2.stop()
	scaler := &processScaler{replicas: map[workload.Version]int32{workload.Stable: 1, workload.Canary: 1},
		stop: map[workload.Version]func(){workload.Canary: v2.stop, workload.Stable: v1.stop}}
	mesh, err := httpsplit.New(httpsplit.Config{Stable: v1.url, Canary: v2.url})
	if err != nil {
		return 0, err
	}
	defer mesh.Close()
	meshURL, stopMesh, err := serve(mesh)
	if err != nil {
		return 0, err
	}
	defer stopMesh()
	// Each back end is a process of its own that reports its CPU time and
	// memory; the monitor samples them four times a window.
	monitor, err := httpsplit.NewResourceMonitor(httpsplit.ResourceMonitorConfig{Stable: []string{v1.resources()}, Canary: []string{v2.resources()}})
	if err != nil {
		return 0, err
	}

	// The analysis: the default preset on two rate metrics, each comparing
	// the canary with the stable version over the same windows, so that
	// load on the machine (which slows and fails both alike) does not
	// decide: the error rate, and latency as the share of requests slower
	// than o.slow (counts, not a single percentile). A regression is at
	// least 2 × stable's rate and 3 points above it (a larger margin than
	// the preset's 0.5 points, so that a few hundred requests decide when
	// stable has no errors or slow requests at all).
	errRate := metrics.MustParse(metrics.PromQL, "error-rate", `error_rate{version="{{version}}"}`)
	slow := metrics.MustParse(metrics.PromQL, "slow",
		fmt.Sprintf(`slow{version="{{version}}",le="%s"}`, strconv.FormatFloat(o.slow.Seconds(), 'f', -1, 64)))
	preset := analysis.DefaultPreset(analysis.PresetMetrics{ErrorRate: "error-rate", Slow: "slow", Margin: 0.03})
	// And resource use, judged per unit of work: CPU per request served
	// (a canary at 10 % of the traffic uses less CPU in total, which is
	// no improvement) and memory per replica, each failing on evidence of
	// more than 2 × stable's, passing on evidence of less than 2.5 × (at
	// β = 10 %, five looks a step); a restart of the canary fails it on its
	// own. The margins are wide because one process's CPU per request is
	// noisy on a busy machine, and a Go program's fixed costs weigh more at
	// a tenth of the traffic (the healthy canary here measures 1.2–1.5 ×
	// stable's per request at 10 %).
	resources := analysis.Resources{
		Usage: []analysis.ResourceUsage{
			{Metric: "cpu", Per: analysis.ResourcePerRequest},
			{Metric: "memory", Per: analysis.ResourcePerReplica},
		},
		Faults:      []string{"restarts"},
		Requests:    "requests",
		Replicas:    "replicas",
		Tolerance:   1.5,
		FailMargin:  1,
		Beta:        0.1,
		MinRequests: 20,
	}
	query := func(name string) metrics.Template {
		return metrics.MustParse(metrics.PromQL, name, name+`{version="{{version}}"}`)
	}
	sinks := []rollback.Sink{rollback.SinkFunc(func(_ context.Context, e rollback.Event) error {
		fmt.Fprintln(out, "  "+describe(e, o))
		return nil
	})}
	if audit != nil {
		sinks = append(sinks, audit)
	}
	cfg := rollback.Config{
		Name:   c.name,
		Plan:   rollback.Plan{Stages: rollback.Weights(o.steps...), Interval: o.interval, Hold: time.Duration(o.holdLooks) * o.interval, ProgressDeadline: 15 * o.interval},
		Policy: rollback.PresetPolicy(preset),
		Target: rollback.Target{Service: "checkout", Stable: rollback.Workload{Version: "stable"}, Canary: rollback.Workload{Version: "canary"}},
		Metrics: []rollback.Metric{
			{Name: "error-rate", Provider: mesh, Query: errRate},
			{Name: "slow", Provider: mesh, Query: slow},
			{Name: "requests", Provider: mesh, Query: query("requests")},
			{Name: "cpu", Provider: monitor, Query: query("cpu")},
			{Name: "memory", Provider: monitor, Query: query("memory")},
			{Name: "replicas", Provider: monitor, Query: query("replicas")},
			{Name: "restarts", Provider: monitor, Query: query("restarts")},
		},
		Analyzer: analysis.All(preset.Analyzer, resources),
		Router:   mesh,
		Scaler:   scaler,
		Sink:     fanOut(sinks),
	}
	var shape *shapeLoad
	if o.strategy != "canary" {
		// A release shape: judged by the preset on error rate and latency
		// (the cohort, the preview or the mirror gets a share of the
		// traffic, too small for resource use per request to be steady).
		cfg.Plan = shapePlan(o)
		cfg.Analyzer = preset.Analyzer
		cfg.Metrics = cfg.Metrics[:3]
		if o.strategy == "mirror" {
			for i := range cfg.Metrics {
				cfg.Metrics[i].Provider = mesh.MirrorView()
			}
		}
		if cfg.Plan.Strategy == rollback.StrategyBlueGreen {
			cfg.PostPromotionAnalyzer = postAnalyzer()
		}
		shape = newShapeLoad(o, mesh)
	}
	r, err := rollback.New(cfg)
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(out, "\n%s: stable v1 at %s (pid %d), canary v2 at %s (pid %d, %s), mesh at %s\n",
		c.name, v1.url.Host, v1.cmd.Process.Pid, v2.url.Host, v2.cmd.Process.Pid, c, meshURL.Host)

	loadCtx, stopLoad := context.WithCancel(ctx)
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); load(loadCtx, meshURL.String(), o.rps, &sent, &failed, shape) }()
	go func() { defer wg.Done(); _ = monitor.Run(loadCtx, o.interval/4) }()
	defer func() { stopLoad(); wg.Wait() }()

	for {
		st, err := r.Step(ctx, time.Now())
		if err != nil {
			fmt.Fprintln(out, "  step error (retried at the next step):", err)
		}
		if st.Phase.Final() {
			stopLoad()
			wg.Wait()
			fmt.Fprintf(out, "%s: %s — %s requests sent through the mesh, %s answered 5xx%s\n",
				c.name, st.Phase, display.FormatNumber(float64(sent.Load()), 0), display.FormatNumber(float64(failed.Load()), 0), shape.report())
			return st.Phase, nil
		}
		wait := time.Until(st.Next)
		select {
		case <-ctx.Done():
			return st.Phase, fmt.Errorf("%s: gave up in phase %s: %w", c.name, st.Phase, ctx.Err())
		case <-time.After(wait):
		}
	}
}

func fanOut(sinks []rollback.Sink) rollback.Sink {
	return rollback.SinkFunc(func(ctx context.Context, e rollback.Event) error {
		var errs []error
		for _, s := range sinks {
			errs = append(errs, s.Record(ctx, e))
		}
		return errors.Join(errs...)
	})
}

// describe renders an event for the timeline.
func describe(e rollback.Event, o options) string {
	at := e.Time.In(o.loc).Format("15:04:05 MST")
	switch e.Kind {
	case rollback.KindAnalysis:
		var parts, res []string
		for _, d := range e.Verdict.Details {
			switch {
			case d.Metric == "cpu" || d.Metric == "memory":
				res = append(res, describeUse(d))
			case d.Metric == "restarts":
				res = append(res, "restarts: "+d.Reason)
			case d.Value == nil:
				parts = append(parts, fmt.Sprintf("%s: %s", d.Metric, d.Reason))
			case d.Metric == "error-rate":
				parts = append(parts, fmt.Sprintf("errors %s of %s canary requests so far: %s", display.FormatPercent(*d.Value),
					display.FormatNumber(float64(d.Count), 0), d.Reason))
			default:
				parts = append(parts, fmt.Sprintf("slower than %s ms %s of %s canary requests so far: %s",
					display.FormatNumber(float64(o.slow.Milliseconds()), 0), display.FormatPercent(*d.Value),
					display.FormatNumber(float64(d.Count), 0), d.Reason))
			}
		}
		s := fmt.Sprintf("%s  analysis at %d %%: %-12s %s; failed checks %d", at, e.WeightTo, strings.ToUpper(e.Verdict.Outcome.String()),
			strings.Join(parts, ", "), e.Failures)
		if len(res) > 0 {
			s += "\n                resources: " + strings.Join(res, "; ")
		}
		return s
	case rollback.KindTransition:
		s := fmt.Sprintf("%s  %s → %s", at, e.From, e.To)
		if e.WeightFrom != e.WeightTo {
			s += fmt.Sprintf(", canary %d %% → %d %%", e.WeightFrom, e.WeightTo)
		}
		return s + " — " + e.Reason
	case rollback.KindAction:
		if e.Split != nil {
			return fmt.Sprintf("%s  router: %v (written, read back)", at, *e.Split)
		}
		if e.Action == "release" {
			return fmt.Sprintf("%s  router: rollout's own routes released", at)
		}
		return fmt.Sprintf("%s  %s: %s", at, e.Action, e.Reason)
	}
	return fmt.Sprintf("%s  %s", at, display.Event(e, o.loc))
}

// describeUse renders a resource-use detail: the canary's and stable's
// use per unit and their ratio, or why the look did not count.
func describeUse(d analysis.Detail) string {
	if d.Value == nil || d.Stable == nil || d.Score == nil {
		return d.Metric + ": " + d.Reason
	}
	if d.Metric == "cpu" {
		return fmt.Sprintf("CPU per request canary %s µs, stable %s µs (%s×, %s)", display.FormatNumber(*d.Value*1e6, 0),
			display.FormatNumber(*d.Stable*1e6, 0), display.FormatNumber(*d.Score, 2), verdictWord(d))
	}
	return fmt.Sprintf("memory per replica canary %s MB, stable %s MB (%s×, %s)", display.FormatNumber(*d.Value/1e6, 1),
		display.FormatNumber(*d.Stable/1e6, 1), display.FormatNumber(*d.Score, 2), verdictWord(d))
}

// verdictWord says where a resource check stands.
func verdictWord(d analysis.Detail) string {
	switch d.Outcome {
	case analysis.Fail:
		return "FAIL: " + d.Reason
	case analysis.Pass:
		return "pass"
	}
	return "undecided"
}

// load sends about rps requests a second to target until ctx ends. It is
// bounded: one ticker, at most 64 requests in flight.
func load(ctx context.Context, target string, rps int, sent, failed *atomic.Int64, shape *shapeLoad) {
	client := &http.Client{Timeout: 5 * time.Second}
	var n int64
	tick := time.NewTicker(time.Second / time.Duration(rps))
	defer tick.Stop()
	slots := make(chan struct{}, 64)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case slots <- struct{}{}:
		default:
			continue // the mesh is slow: drop rather than queue
		}
		wg.Add(1)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target+"/checkout", nil)
		c, sess := shape.prepare(n, req, client)
		n++
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			resp, err := c.Do(req)
			if err != nil {
				return
			}
			shape.served(ctx, sess, resp)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			sent.Add(1)
			if resp.StatusCode >= 500 {
				failed.Add(1)
			}
		}()
	}
}

// processScaler is a [workload.Scaler] over this program's own servers:
// scaling a version to zero shuts its server down, so a rolled-back canary
// really stops serving. It cannot start a stopped server again.
type processScaler struct {
	mu       sync.Mutex
	replicas map[workload.Version]int32
	stop     map[workload.Version]func()
}

func (p *processScaler) Replicas(_ context.Context, v workload.Version) (int32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.replicas[v], nil
}

func (p *processScaler) Scale(_ context.Context, v workload.Version, n int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case n == p.replicas[v]:
		return nil
	case n == 0 && p.stop[v] != nil:
		p.stop[v]()
		p.replicas[v] = 0
		return nil
	}
	return fmt.Errorf("quickstart: cannot scale %s from %d to %d replicas", v, p.replicas[v], n)
}
