package spec

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

// Builtin is a named built-in query template: the value's template and,
// where one exists, the template counting the requests behind it over the
// same window.
type Builtin struct {
	Query metrics.Template
	Count metrics.Template // zero Template when there is none
}

// Lookup resolves a built-in template by name.
type Lookup func(name string) (Builtin, bool)

// Builtins are the package's own built-in templates: the metrics of the
// in-process mesh (providers/httpsplit), named "httpsplit/<metric>".
// Tools add the templates of the adapters they link (for example the Istio
// and Envoy PromQL of providers/prometheus) through a Lookup.
var Builtins = func() map[string]Builtin {
	count := metrics.MustParse(metrics.PromQL, "httpsplit/requests", `requests{version="{{version}}"}`)
	m := map[string]Builtin{}
	for _, n := range []string{"error-rate", "success-rate", "request-rate", "requests", "latency-mean",
		"latency-p50", "latency-p90", "latency-p95", "latency-p99", "latency-p999"} {
		name := "httpsplit/" + n
		m[name] = Builtin{Query: metrics.MustParse(metrics.PromQL, name,
			strings.ReplaceAll(n, "-", "_")+`{version="{{version}}"}`), Count: count}
	}
	return m
}()

func (l Lookup) find(name string) (Builtin, bool) {
	if b, ok := Builtins[name]; ok {
		return b, true
	}
	if l != nil {
		return l(name)
	}
	return Builtin{}, false
}

// Query is one metric's templates, resolved.
type Query struct {
	Name       string
	Query      metrics.Template
	Count      metrics.Template // zero when none
	Window     time.Duration
	Baseline   time.Duration
	SkipStable bool
}

// Queries resolves every metric's templates: Query parsed in its dialect,
// or Builtin looked up.
func (ro *Rollout) Queries(lookup Lookup) ([]Query, error) {
	if len(ro.Metrics) > 0 {
		if ro.Provider == nil {
			return nil, canary.Invalid("provider", nil, "is required when metrics are given (httpsplit or prometheus)")
		}
		switch ro.Provider.Kind() {
		case "":
			return nil, canary.Invalid("provider", nil, "must set httpsplit or prometheus")
		case "httpsplit":
			if ro.Provider.Prometheus != nil {
				return nil, canary.Invalid("provider", nil, "must set only one of httpsplit, prometheus")
			}
			if ro.Router.HTTPSplit == nil {
				return nil, canary.Invalid("provider.httpsplit", nil, "measures the httpsplit router's traffic; this rollout's router is %s", ro.Router.Kind())
			}
		case "prometheus":
			if err := checkURL("provider.prometheus.address", ro.Provider.Prometheus.Address); err != nil {
				return nil, err
			}
		}
	}
	seen := map[string]bool{}
	out := make([]Query, 0, len(ro.Metrics))
	for i, m := range ro.Metrics {
		f := fmt.Sprintf("metrics[%d]", i)
		switch {
		case m.Name == "":
			return nil, canary.Invalid(f+".name", nil, "is required")
		case seen[m.Name]:
			return nil, canary.Invalid(f+".name", m.Name, "is used twice")
		case (m.Query == "") == (m.Builtin == ""):
			return nil, canary.Invalid(f, m.Name, "must set exactly one of query and builtin")
		}
		seen[m.Name] = true
		q := Query{Name: m.Name, Window: m.Window.D(), Baseline: m.Baseline.D(), SkipStable: m.SkipStable}
		if m.Builtin != "" {
			if m.Dialect != "" {
				return nil, canary.Invalid(f+".dialect", m.Dialect, "is set by the built-in template; leave it out")
			}
			b, ok := lookup.find(m.Builtin)
			if !ok {
				return nil, canary.Invalid(f+".builtin", m.Builtin, "is not a built-in template; known: %s", strings.Join(BuiltinNames(nil), ", "))
			}
			q.Query, q.Count = b.Query, b.Count
		} else {
			d, err := dialect(m.Dialect)
			if err != nil {
				return nil, canary.Invalid(f+".dialect", m.Dialect, "%v", err)
			}
			if q.Query, err = metrics.Parse(d, m.Name, m.Query); err != nil {
				return nil, renameUnder(err, f+".query", true)
			}
		}
		if m.Count != "" {
			t, err := metrics.Parse(q.Query.Dialect(), m.Name+"-count", m.Count)
			if err != nil {
				return nil, renameUnder(err, f+".count", true)
			}
			q.Count = t
		}
		if m.Window.D()%time.Second != 0 {
			return nil, canary.Invalid(f+".window", FormatDuration(m.Window.D()), "must be a whole number of seconds")
		}
		out = append(out, q)
	}
	return out, nil
}

// BuiltinNames lists the package's built-in template names and those of
// names (the caller's), sorted, for messages and help.
func BuiltinNames(extra []string) []string {
	var n []string
	for k := range Builtins {
		n = append(n, k)
	}
	n = append(n, extra...)
	slices.Sort(n)
	return n
}

func dialect(s string) (metrics.Dialect, error) {
	switch s {
	case "", "promql":
		return metrics.PromQL, nil
	case "nrql":
		return metrics.NRQL, nil
	case "datadog":
		return metrics.Datadog, nil
	}
	return 0, fmt.Errorf("must be promql, nrql or datadog")
}

// PresetNames are the names LookupPreset knows, the default first.
func PresetNames() []string {
	var n []string
	for _, p := range analysis.Presets(analysis.PresetMetrics{ErrorRate: "error-rate"}) {
		n = append(n, p.Name)
	}
	return n
}

// LookupPreset returns the analysis preset called name, reading the
// metrics m. An unknown name is a *[canary.FieldError] for "analysis.preset"
// listing the known ones.
func LookupPreset(name string, m analysis.PresetMetrics) (analysis.Preset, error) {
	for _, p := range analysis.Presets(m) {
		if p.Name == name {
			return p, nil
		}
	}
	return analysis.Preset{}, canary.Invalid("analysis.preset", name, "is not a preset; known: %s", strings.Join(PresetNames(), ", "))
}

// Core returns the parts of the [rollback.Config] that need no connection:
// Name, Plan, Policy, Target and Analyzer (nil when the file has no
// metrics). Backtests ([rollback.Replay]) need only these.
func (ro *Rollout) Core(lookup Lookup) (rollback.Config, error) {
	if err := ro.validateHead(); err != nil {
		return rollback.Config{}, err
	}
	qs, err := ro.Queries(lookup)
	if err != nil {
		return rollback.Config{}, err
	}
	plan, err := ro.RollbackPlan()
	if err != nil {
		return rollback.Config{}, err
	}
	cfg := rollback.Config{Name: ro.Name, Plan: plan, Target: rollback.Target{Namespace: ro.Target.Namespace, Service: ro.Target.Service,
		Stable: rollback.Workload{Name: ro.Target.Stable.Workload, Version: ro.Target.Stable.Version},
		Canary: rollback.Workload{Name: ro.Target.Canary.Workload, Version: ro.Target.Canary.Version}}}
	names := map[string]bool{}
	for _, q := range qs {
		names[q.Name] = true
	}
	a := ro.Analysis
	switch {
	case len(qs) > 0 && a == nil:
		return rollback.Config{}, canary.Invalid("analysis", nil, "is required when metrics are given (a preset, or analyzers)")
	case len(qs) == 0 && a != nil:
		return rollback.Config{}, canary.Invalid("analysis", nil, "needs metrics to read; add metrics or remove analysis")
	case a == nil:
		cfg.Policy, err = ro.policy(rollback.Policy{})
		return cfg, err
	}
	var parts []analysis.Analyzer
	base := rollback.Policy{}
	if a.Preset != "" {
		pm := analysis.PresetMetrics{ErrorRate: a.ErrorRate, Latency: a.Latency}
		if pm.ErrorRate == "" {
			pm.ErrorRate = "error-rate"
		}
		if pm.Latency == "" && names["latency-p99"] {
			pm.Latency = "latency-p99"
		}
		if !names[pm.ErrorRate] {
			return rollback.Config{}, canary.Invalid("analysis.errorRate", pm.ErrorRate, "names no metric of this rollout")
		}
		if pm.Latency != "" && !names[pm.Latency] {
			return rollback.Config{}, canary.Invalid("analysis.latency", pm.Latency, "names no metric of this rollout")
		}
		p, err := LookupPreset(a.Preset, pm)
		if err != nil {
			return rollback.Config{}, err
		}
		parts = append(parts, p.Analyzer)
		base = rollback.PresetPolicy(p)
	} else if a.ErrorRate != "" || a.Latency != "" {
		return rollback.Config{}, canary.Invalid("analysis.errorRate", nil, "errorRate and latency name a preset's metrics; set preset too")
	}
	latency := latencyMetrics(ro.Metrics)
	for i, an := range a.Analyzers {
		x, err := an.build(fmt.Sprintf("analysis.analyzers[%d]", i), names)
		if err != nil {
			return rollback.Config{}, err
		}
		if err := an.checkLatencyBounds(fmt.Sprintf("analysis.analyzers[%d]", i), latency); err != nil {
			return rollback.Config{}, err
		}
		parts = append(parts, x)
	}
	switch {
	case len(parts) == 0:
		return rollback.Config{}, canary.Invalid("analysis", nil, "must give a preset or at least one analyzer")
	case a.Combine != "" && a.Combine != "all" && a.Combine != "any":
		return rollback.Config{}, canary.Invalid("analysis.combine", a.Combine, "must be all or any")
	case a.Combine == "any" && a.Preset != "":
		return rollback.Config{}, canary.Invalid("analysis.combine", a.Combine, "extra analyzers add to a preset (all must pass); leave combine out")
	case len(parts) == 1:
		cfg.Analyzer = parts[0]
	case a.Combine == "any":
		cfg.Analyzer = analysis.Any(parts...)
	default:
		cfg.Analyzer = analysis.All(parts...)
	}
	if len(a.PostPromotion) > 0 && plan.Strategy != rollback.StrategyBlueGreen {
		return rollback.Config{}, canary.Invalid("analysis.postPromotion", nil, "is only used with plan.strategy bluegreen")
	}
	var post []analysis.Analyzer
	for i, an := range a.PostPromotion {
		f := fmt.Sprintf("analysis.postPromotion[%d]", i)
		x, err := an.build(f, names)
		if err != nil {
			return rollback.Config{}, err
		}
		if err := an.checkLatencyBounds(f, latency); err != nil {
			return rollback.Config{}, err
		}
		post = append(post, x)
	}
	switch len(post) {
	case 0:
	case 1:
		cfg.PostPromotionAnalyzer = post[0]
	default:
		cfg.PostPromotionAnalyzer = analysis.All(post...)
	}
	if cfg.Policy, err = ro.policy(base); err != nil {
		return rollback.Config{}, err
	}
	if err := plan.Validate(); err != nil {
		return rollback.Config{}, renameUnder(err, "", false)
	}
	if err := cfg.Policy.Validate(); err != nil {
		return rollback.Config{}, renameUnder(err, "", false)
	}
	return cfg, nil
}

func direction(field, s string) (analysis.Direction, error) {
	switch s {
	case "", "increase":
		return analysis.Increase, nil
	case "decrease":
		return analysis.Decrease, nil
	case "either":
		return analysis.Either, nil
	}
	return 0, canary.Invalid(field, s, "must be increase, decrease or either")
}

func (an Analyzer) build(f string, names map[string]bool) (analysis.Analyzer, error) {
	n := 0
	for _, set := range []bool{an.Threshold != nil, an.Compare != nil, an.Sequential != nil, an.DualWindow != nil, an.Cost != nil, an.HistoryRate != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, canary.Invalid(f, nil, "must set exactly one of threshold, compare, sequential, dualWindow, cost, historyRate (%d set)", n)
	}
	metric := func(field, m string) error {
		if m != "" && !names[m] {
			return canary.Invalid(field, m, "names no metric of this rollout")
		}
		return nil
	}
	type validator interface{ Validate() error }
	var x analysis.Analyzer
	var sub string
	switch {
	case an.Threshold != nil:
		sub = f + ".threshold"
		t := analysis.Threshold{MinCount: an.Threshold.MinCount}
		for i, l := range an.Threshold.Limits {
			lf := fmt.Sprintf("%s.limits[%d]", sub, i)
			if err := metric(lf+".metric", l.Metric); err != nil {
				return nil, err
			}
			lim := analysis.Limit{Metric: l.Metric}
			if l.Min != nil {
				lim.Min, lim.HasMin = *l.Min, true
			}
			if l.Max != nil {
				lim.Max, lim.HasMax = *l.Max, true
			}
			t.Limits = append(t.Limits, lim)
		}
		x = t
	case an.Compare != nil:
		sub = f + ".compare"
		c := analysis.Compare{MinCount: an.Compare.MinCount}
		for i, r := range an.Compare.Metrics {
			rf := fmt.Sprintf("%s.metrics[%d]", sub, i)
			if err := metric(rf+".metric", r.Metric); err != nil {
				return nil, err
			}
			d, err := direction(rf+".direction", r.Direction)
			if err != nil {
				return nil, err
			}
			c.Metrics = append(c.Metrics, analysis.Relative{Metric: r.Metric, Direction: d, Tolerance: r.Tolerance, Margin: r.Margin, Cumulative: r.Cumulative})
		}
		x = c
	case an.Sequential != nil:
		sub = f + ".sequential"
		s := an.Sequential
		if err := metric(sub+".metric", s.Metric); err != nil {
			return nil, err
		}
		x = *s
	case an.DualWindow != nil:
		sub = f + ".dualWindow"
		w := an.DualWindow
		if err := metric(sub+".metric", w.Metric); err != nil {
			return nil, err
		}
		d, err := direction(sub+".direction", w.Direction)
		if err != nil {
			return nil, err
		}
		x = analysis.DualWindow{Metric: w.Metric, Direction: d, Bound: w.Bound, Tolerance: w.Tolerance,
			RequireBoth: w.RequireBoth, MinCount: w.MinCount}
	case an.Cost != nil:
		return an.Cost.build(f+".cost", metric)
	case an.HistoryRate != nil:
		sub = f + ".historyRate"
		if err := metric(sub+".metric", an.HistoryRate.Metric); err != nil {
			return nil, err
		}
		x = *an.HistoryRate
	}
	if v, ok := x.(validator); ok {
		if err := v.Validate(); err != nil {
			return nil, renameUnder(err, sub, true)
		}
	}
	return x, nil
}

// RouterFactory builds the router the file's router block describes.
type RouterFactory func(ctx context.Context, r Routing) (rollback.Splitter, error)

// ProviderFactory builds the metrics provider the file's provider block
// describes; router is the router just built (the httpsplit router is its
// own provider).
type ProviderFactory func(ctx context.Context, p Provider, router rollback.Splitter) (metrics.Provider, error)

// Factories build what needs a connection.
type Factories struct {
	Router   RouterFactory
	Provider ProviderFactory
	// Lookup resolves built-in templates beyond Builtins; may be nil.
	Lookup Lookup
}

// Build validates the rollout and returns the [rollback.Config] it
// describes, with the router and the provider made by f. Scaler,
// Readiness, Gate and Sink are left for the caller.
func (ro *Rollout) Build(ctx context.Context, f Factories) (rollback.Config, error) {
	cfg, err := ro.Core(f.Lookup)
	if err != nil {
		return cfg, err
	}
	qs, err := ro.Queries(f.Lookup)
	if err != nil {
		return cfg, err
	}
	if f.Router == nil {
		return cfg, canary.Invalid("Factories.Router", nil, "must not be nil")
	}
	if cfg.Router, err = f.Router(ctx, ro.Router); err != nil {
		return cfg, fmt.Errorf("router.%s: %w", ro.Router.Kind(), err)
	}
	if len(qs) == 0 {
		return cfg, nil
	}
	if f.Provider == nil {
		return cfg, canary.Invalid("Factories.Provider", nil, "must not be nil when metrics are given")
	}
	p, err := f.Provider(ctx, *ro.Provider, cfg.Router)
	if err != nil {
		return cfg, fmt.Errorf("provider.%s: %w", ro.Provider.Kind(), err)
	}
	for _, q := range qs {
		cfg.Metrics = append(cfg.Metrics, rollback.Metric{Name: q.Name, Provider: p, Query: q.Query,
			Window: q.Window, Baseline: q.Baseline, SkipStable: q.SkipStable})
	}
	return cfg, nil
}

func newHeaderRoute(name, value string) traffic.HeaderRoute {
	return traffic.HeaderRoute{Name: name, Value: value}
}

// MaxLatencyBound is the largest bound, in seconds, a rollout may set on a
// latency: every latency in this module is in seconds (the built-in
// templates of every provider convert to seconds), and a request latency
// bound above 30 s (twice Envoy's default route timeout) is a bound
// written in milliseconds.
const MaxLatencyBound = 30.0

// latencyMetrics returns the names of the metrics that are latencies: a
// built-in latency template, or a metric whose name says latency.
func latencyMetrics(ms []Metric) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		if strings.Contains(strings.ToLower(m.Builtin), "latency") || strings.Contains(strings.ToLower(m.Name), "latency") {
			out[m.Name] = true
		}
	}
	return out
}

// checkLatencyBounds refuses a fixed bound on a latency metric that is
// implausible in seconds, naming the field and saying what was likely
// meant.
func (an Analyzer) checkLatencyBounds(f string, latency map[string]bool) error {
	check := func(field, metric string, v float64) error {
		if !latency[metric] || v <= MaxLatencyBound {
			return nil
		}
		return canary.Invalid(field, v, "is %g seconds, an implausible bound for latency %q (latencies are in seconds); if you meant %g milliseconds, write %g",
			v, metric, v, v/1000)
	}
	if t := an.Threshold; t != nil {
		for i, l := range t.Limits {
			lf := fmt.Sprintf("%s.threshold.limits[%d]", f, i)
			if l.Max != nil {
				if err := check(lf+".max", l.Metric, *l.Max); err != nil {
					return err
				}
			}
			if l.Min != nil {
				if err := check(lf+".min", l.Metric, *l.Min); err != nil {
					return err
				}
			}
		}
	}
	if w := an.DualWindow; w != nil {
		return check(f+".dualWindow.bound", w.Metric, w.Bound)
	}
	return nil
}
