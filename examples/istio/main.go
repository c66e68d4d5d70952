// Command istio drives a canary rollout on a cluster running Istio and
// Prometheus: it moves traffic between two versions through a
// VirtualService (providers/istio), judges the canary on Istio's standard
// metrics in Prometheus (providers/prometheus) against fixed limits
// ([analysis.Threshold]), and rolls back to the stable version when the
// canary fails.
//
// Subset mode (one Service, DestinationRule subsets v1 and v2):
//
//	go run ./examples/istio -namespace shop -virtualservice reviews -route primary \
//	    -host reviews -stable-subset v1 -canary-subset v2 -destinationrule reviews \
//	    -stable-workload reviews-v1 -canary-workload reviews-v2 \
//	    -prometheus http://prometheus.istio-system:9090
//
// Host mode (two Services): -stable-host reviews-stable -canary-host
// reviews-canary instead of -host and the subsets.
//
// With -validate (and -test-header, -mirror) the canary first receives
// only test requests and mirrored copies. With -dry-run it prints the
// VirtualService as the first write would leave it and writes nothing (for
// GitOps). Ctrl-C aborts the rollout:
// all traffic goes back to the stable version before the program exits.
//
// Exit status: 0 promoted (or dry run printed), 1 rolled back or failed,
// 2 bad flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // Europe/London on machines without a zone database

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/audit"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/istio"
	"github.com/meshcanary/canary/providers/prometheus"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
	"istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the parsed and validated flags.
type options struct {
	kubeconfig  string
	kubeContext string
	router      istio.Config
	prometheus  string
	stableWL    string
	canaryWL    string
	steps       []int
	interval    time.Duration
	maxErrRate  float64
	maxP99ms    float64
	minRequests int64
	validate    time.Duration
	testRoute   *traffic.HeaderRoute
	mirror      int
	dryRun      bool
}

// restConfig finds the cluster the way kubectl does, with client-go's
// standard loading rules (clientcmd.NewDefaultClientConfigLoadingRules):
// the -kubeconfig file if given; else every file listed in $KUBECONFIG,
// merged (missing ones skipped); else ~/.kube/config; and when none of
// these holds a configuration, the in-cluster service account (a pod's
// KUBERNETES_SERVICE_HOST and token). kubeContext, if not empty, picks a
// context other than the current one.
func restConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
}

// errUsage marks an error in the flags (exit status 2).
type errUsage struct{ err error }

func (e errUsage) Error() string { return e.err.Error() }
func (e errUsage) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return errUsage{fmt.Errorf(format, args...)} }

// parse reads args into options. It touches neither the cluster nor
// Prometheus.
func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("istio", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	var host, stableHost, canaryHost, stableSubset, canarySubset, steps, testHeader string
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig `file`; the default is kubectl's: the files in $KUBECONFIG, else ~/.kube/config, else the in-cluster service account")
	fs.StringVar(&o.kubeContext, "context", "", "kubeconfig `context` to use instead of the current one")
	fs.StringVar(&o.router.Namespace, "namespace", "", "namespace of the VirtualService and the workloads (required)")
	fs.StringVar(&o.router.VirtualService, "virtualservice", "", "VirtualService `name` (required)")
	fs.StringVar(&o.router.Route, "route", "", "name of the managed HTTP route (spec.http[].name); empty if the VirtualService has one route")
	fs.StringVar(&host, "host", "", "subset mode: the Service host both versions share")
	fs.StringVar(&stableSubset, "stable-subset", "", "subset mode: the stable version's DestinationRule subset")
	fs.StringVar(&canarySubset, "canary-subset", "", "subset mode: the canary version's DestinationRule subset")
	fs.StringVar(&o.router.DestinationRule, "destinationrule", "", "subset mode: DestinationRule `name` holding the subsets (empty: any rule for the host)")
	fs.BoolVar(&o.router.CreateSubsets, "create-subsets", false, "subset mode: create missing subsets, selecting pods by -version-label=<subset>")
	fs.StringVar(&o.router.VersionLabel, "version-label", istio.DefaultVersionLabel, "pod label `key` of created subsets")
	fs.StringVar(&stableHost, "stable-host", "", "host mode: the stable version's Service host")
	fs.StringVar(&canaryHost, "canary-host", "", "host mode: the canary version's Service host")
	fs.StringVar(&o.prometheus, "prometheus", "", "Prometheus base `URL`, e.g. http://prometheus.istio-system:9090 (required)")
	fs.StringVar(&o.stableWL, "stable-workload", "", "stable Deployment `name` as Istio reports it (destination_workload) (required)")
	fs.StringVar(&o.canaryWL, "canary-workload", "", "canary Deployment `name` as Istio reports it (destination_workload) (required)")
	fs.StringVar(&steps, "steps", "5,10,25,50,100", "canary weights, comma-separated, increasing, ending at 100")
	fs.DurationVar(&o.interval, "interval", time.Minute, "analysis interval (and hold of each step)")
	fs.Float64Var(&o.maxErrRate, "max-error-rate", 0.01, "highest canary 5xx ratio allowed (0-1)")
	fs.Float64Var(&o.maxP99ms, "max-p99-ms", 500, "highest canary p99 latency allowed, in ms")
	fs.Int64Var(&o.minRequests, "min-requests", 20, "fewest canary requests per interval for a verdict; fewer is inconclusive")
	fs.DurationVar(&o.validate, "validate", 0, "validate the canary with no production traffic for this long before the first step (with -test-header and/or -mirror)")
	fs.StringVar(&testHeader, "test-header", "", "during -validate, send requests carrying this header (`name=value`) to the canary")
	fs.IntVar(&o.mirror, "mirror", 0, "during -validate, copy this `percentage` of requests to the canary")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the VirtualService as the first step would write it, and write nothing")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: istio [flags]\n\nDrives a canary rollout through an Istio VirtualService, judged on Prometheus metrics.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errUsage{err}
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected arguments: %q", fs.Args())
	}
	switch {
	case host != "" && (stableHost != "" || canaryHost != ""):
		return nil, usagef("-host (subset mode) and -stable-host/-canary-host (host mode) exclude each other")
	case host != "":
		if stableSubset == "" || canarySubset == "" {
			return nil, usagef("subset mode (-host) needs -stable-subset and -canary-subset")
		}
		o.router.Stable = istio.Destination{Host: host, Subset: stableSubset}
		o.router.Canary = istio.Destination{Host: host, Subset: canarySubset}
	case stableHost != "" || canaryHost != "":
		if stableHost == "" || canaryHost == "" {
			return nil, usagef("host mode needs both -stable-host and -canary-host")
		}
		o.router.Stable = istio.Destination{Host: stableHost, Subset: stableSubset}
		o.router.Canary = istio.Destination{Host: canaryHost, Subset: canarySubset}
	default:
		return nil, usagef("give -host with -stable-subset and -canary-subset (subset mode), or -stable-host and -canary-host (host mode)")
	}
	if err := o.router.Validate(); err != nil {
		return nil, usagef("%s", flagNames.Replace(err.Error()))
	}
	if o.prometheus == "" {
		return nil, usagef("-prometheus is required")
	}
	if u, err := url.Parse(o.prometheus); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("-prometheus %q: want an http:// or https:// URL", o.prometheus)
	}
	for _, w := range []struct{ flag, v string }{{"-stable-workload", o.stableWL}, {"-canary-workload", o.canaryWL}} {
		if !metrics.ValidValue(w.v) {
			return nil, usagef("%s %q: want a workload name (letters, digits, '-', '_', '.')", w.flag, w.v)
		}
	}
	for _, s := range strings.Split(steps, ",") {
		w, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || w < 1 || w > 100 || (len(o.steps) > 0 && w <= o.steps[len(o.steps)-1]) {
			return nil, usagef("-steps %q: want increasing whole percentages between 1 and 100", steps)
		}
		o.steps = append(o.steps, w)
	}
	if o.steps[len(o.steps)-1] != 100 {
		return nil, usagef("-steps %q: the last step must be 100 (the promotion)", steps)
	}
	if o.interval < time.Second {
		return nil, usagef("-interval %v: want at least 1s", o.interval)
	}
	if o.maxErrRate < 0 || o.maxErrRate > 1 {
		return nil, usagef("-max-error-rate %v: want a ratio between 0 and 1", o.maxErrRate)
	}
	if o.maxP99ms <= 0 {
		return nil, usagef("-max-p99-ms %v: want a positive number of milliseconds", o.maxP99ms)
	}
	if o.minRequests < 0 {
		return nil, usagef("-min-requests %d: must not be negative", o.minRequests)
	}
	if testHeader != "" {
		name, value, ok := strings.Cut(testHeader, "=")
		hr := traffic.HeaderRoute{Name: name, Value: value}
		if err := (traffic.Split{Stable: 100, TestRoute: hr}).Validate(); !ok || err != nil || name != strings.ToLower(name) {
			return nil, usagef("-test-header %q: want name=value with a lower-case HTTP header name and a value of 1-256 printable characters", testHeader)
		}
		o.testRoute = &hr
	}
	if o.mirror < 0 || o.mirror > 100 {
		return nil, usagef("-mirror %d: want a percentage between 0 and 100", o.mirror)
	}
	if o.validate < 0 || o.validate > rollback.MaxValidation {
		return nil, usagef("-validate %v: want between 0 and %v", o.validate, rollback.MaxValidation)
	}
	if o.validate == 0 && (o.testRoute != nil || o.mirror > 0) {
		return nil, usagef("-test-header and -mirror apply during -validate; set -validate too")
	}
	return o, nil
}

// flagNames turns [istio.Config] field names in errors into flag names.
var flagNames = strings.NewReplacer(
	"Config.Namespace", "-namespace",
	"Config.VirtualService", "-virtualservice",
	"Config.Route", "-route",
	"Config.Stable.Host", "-host/-stable-host",
	"Config.Canary.Host", "-host/-canary-host",
	"Config.Stable.Subset", "-stable-subset",
	"Config.Canary.Subset", "-canary-subset",
	"Config.DestinationRule", "-destinationrule",
	"Config.VersionLabel", "-version-label",
	"Config.CreateSubsets", "-create-subsets",
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "istio: %v\nRun with -h for usage.\n", err)
		return 2
	}
	if err := rollout(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "istio: %v\n", err)
		return 1
	}
	return 0
}

func rollout(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	rc, err := restConfig(o.kubeconfig, o.kubeContext)
	if err != nil {
		if o.kubeconfig != "" {
			return fmt.Errorf("kubeconfig %s: %w", o.kubeconfig, err)
		}
		return fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := versioned.NewForConfig(rc)
	if err != nil {
		return err
	}
	driver, err := istio.NewDriver(client, o.router)
	if err != nil {
		return err
	}
	router := traffic.NewRouter(driver, driver.RouterConfig())
	first := traffic.Weighted(o.steps[0])
	if o.validate > 0 {
		first = traffic.Split{Stable: 100, Mirror: o.mirror}
		if o.testRoute != nil {
			first.TestRoute = *o.testRoute
		}
	}
	if o.dryRun {
		vs, err := driver.Desired(ctx, first)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(vs)
	}

	prom, err := prometheus.New(prometheus.Config{Address: o.prometheus})
	if err != nil {
		return err
	}
	q, err := prometheus.IstioQueries(prometheus.IstioLabels{})
	if err != nil {
		return err
	}
	p99, err := q.Latency(0.99)
	if err != nil {
		return err
	}
	// Request counts for the minimum-request gate, taken for the canary
	// (only the canary is judged, so the stable windows are skipped).
	counted, err := prom.WithCount(q.RequestCount, metrics.Vars{Namespace: o.router.Namespace, Workload: o.canaryWL, Version: o.router.Canary.Subset})
	if err != nil {
		return err
	}
	plan := rollback.Plan{Stages: rollback.Weights(o.steps...), Interval: o.interval}
	if o.validate > 0 {
		plan.ZeroTraffic = &rollback.ZeroTraffic{Duration: o.validate, Mirror: o.mirror}
		if o.testRoute != nil {
			plan.ZeroTraffic.TestRoute = *o.testRoute
		}
	}
	trail, err := audit.New(stdout, audit.Config{}, audit.Report{}) // the audit trail as JSON lines, hash-chained
	if err != nil {
		return err
	}
	ro, err := rollback.New(rollback.Config{
		Name: o.router.Namespace + "/" + o.router.VirtualService,
		Plan: plan,
		Target: rollback.Target{
			Namespace: o.router.Namespace,
			Service:   o.router.Canary.Host,
			Stable:    rollback.Workload{Name: o.stableWL, Version: o.router.Stable.Subset},
			Canary:    rollback.Workload{Name: o.canaryWL, Version: o.router.Canary.Subset},
		},
		Metrics: []rollback.Metric{
			{Name: "error-rate", Provider: counted, Query: q.ErrorRate, SkipStable: true},
			{Name: "latency-p99", Provider: counted, Query: p99, SkipStable: true},
		},
		Analyzer: analysis.Threshold{
			Limits:   []analysis.Limit{analysis.AtMost("error-rate", o.maxErrRate), analysis.AtMost("latency-p99", o.maxP99ms)},
			MinCount: o.minRequests,
		},
		Router: router,
		Sink:   trail,
	})
	if err != nil {
		return err
	}
	for {
		st, err := ro.Step(ctx, time.Now())
		if ctx.Err() != nil {
			return abort(ro)
		}
		if err != nil {
			// Transient errors (the API server or Prometheus unreachable)
			// are retried at the next interval; the rollout's deadline
			// bounds how long.
			fmt.Fprintf(stderr, "istio: step: %v\n", err)
		}
		if st.Phase.Final() {
			if st.Phase == rollback.Succeeded {
				_ = router.Release(context.WithoutCancel(ctx))
				return nil
			}
			return fmt.Errorf("rolled back: %s", st.Reason)
		}
		wait := time.Until(st.Next)
		if st.Next.IsZero() || err != nil {
			wait = o.interval
		}
		select {
		case <-ctx.Done():
			return abort(ro)
		case <-time.After(max(wait, 100*time.Millisecond)):
		}
	}
}

// abort sends all traffic back to stable after an interrupt.
func abort(ro *rollback.Rollout) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := ro.Abort(ctx, time.Now(), "operator", "interrupted")
	if err != nil {
		return fmt.Errorf("interrupted; abort failed, check the VirtualService: %w", err)
	}
	return fmt.Errorf("interrupted; rollout aborted (phase %s)", st.Phase)
}
