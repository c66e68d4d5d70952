package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/prometheus"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/spec"
	"github.com/meshcanary/canary/traffic"
)

// A recording is what was measured at each instant, per metric.
type recording struct {
	times []time.Time                                   // sorted, distinct
	rows  map[time.Time]map[string]analysis.Observation // by metric
}

func (r *recording) add(t time.Time, o analysis.Observation) {
	if r.rows == nil {
		r.rows = map[time.Time]map[string]analysis.Observation{}
	}
	m, ok := r.rows[t]
	if !ok {
		m = map[string]analysis.Observation{}
		r.rows[t] = m
		r.times = append(r.times, t)
	}
	m[o.Metric] = o
}

// at returns the observations of the latest instant at or before now and
// less than one interval before it; metrics with no row are unobserved.
func (r *recording) at(now time.Time, interval time.Duration, names []string) []analysis.Observation {
	i, found := slices.BinarySearchFunc(r.times, now, func(a, b time.Time) int { return a.Compare(b) })
	if !found {
		i--
	}
	obs := make([]analysis.Observation, len(names))
	for k, n := range names {
		obs[k].Metric = n
		if i >= 0 && now.Sub(r.times[i]) < interval {
			if o, ok := r.rows[r.times[i]][n]; ok {
				obs[k] = o
			}
		}
	}
	return obs
}

func cmdBacktest(e env, args []string) error {
	fs, _ := flags("backtest", e)
	file := fs.String("f", "", "rollout file (YAML)")
	csvPath := fs.String("csv", "", "recorded data: time,metric,canary_value,canary_count,stable_value,stable_count")
	prom := fs.String("prometheus", "", "Prometheus base URL to read the recorded data from (range queries at the plan's interval)")
	from := fs.String("from", "", "start of the Prometheus range (RFC 3339, e.g. 2026-11-24T14:00:00Z)")
	to := fs.String("to", "", "end of the Prometheus range (RFC 3339)")
	tz := addZone(fs)
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr(fmt.Errorf("unexpected argument %q", pos[0]))
	}
	if *file == "" {
		return usageErr(errors.New("give the rollout file with -f"))
	}
	if (*csvPath == "") == (*prom == "") {
		return usageErr(errors.New("give the recorded data with either --csv or --prometheus"))
	}
	f, err := loadRollout(*file, e.stderr)
	if err != nil {
		return usageErr(err)
	}
	cfg, err := f.ro.Core(lookup)
	if err != nil {
		return usageErr(f.wrap(err))
	}
	if cfg.Analyzer == nil {
		return usageErr(fmt.Errorf("%s: the rollout has no metrics and no analysis; there is nothing to backtest", *file))
	}
	qs, err := f.ro.Queries(lookup)
	if err != nil {
		return usageErr(f.wrap(err))
	}
	var names []string
	for _, q := range qs {
		names = append(names, q.Name)
	}
	var rec *recording
	if *csvPath != "" {
		rec, err = readCSV(*csvPath, names)
		if err != nil {
			return usageErr(err)
		}
	} else {
		start, err1 := time.Parse(time.RFC3339, *from)
		end, err2 := time.Parse(time.RFC3339, *to)
		switch {
		case err1 != nil:
			return usageErr(fmt.Errorf("--from %q: give an RFC 3339 time such as 2026-11-24T14:00:00Z", *from))
		case err2 != nil:
			return usageErr(fmt.Errorf("--to %q: give an RFC 3339 time such as 2026-11-24T15:00:00Z", *to))
		case !end.After(start):
			return usageErr(fmt.Errorf("--to %s must be after --from %s", *to, *from))
		}
		rec, err = readPrometheus(e.ctx, *prom, f.ro.Provider.Prometheus, cfg, qs, start, end)
		if err != nil {
			return err
		}
	}
	if len(rec.times) == 0 {
		return usageErr(errors.New("the recorded data holds no rows"))
	}
	interval := cfg.Plan.Interval
	res, err := rollback.Replay(e.ctx, cfg, rec.times[0], rec.times[len(rec.times)-1], func(now time.Time, _ traffic.Split) []analysis.Observation {
		return rec.at(now, interval, names)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backtest of %s over %s rows, %s to %s (times in %s)\n", cfg.Name,
		fmtNum(float64(len(rec.times)), 0), fmtTime(rec.times[0], tz.loc), fmtTime(rec.times[len(rec.times)-1], tz.loc), tz)
	for _, ev := range res.Events {
		if ev.Kind == rollback.KindAction {
			continue
		}
		fmt.Fprintln(e.stdout, "  "+eventLine(ev, tz.loc))
	}
	if res.Decided.IsZero() {
		fmt.Fprintf(e.stdout, "no decision by the end of the data: %s at canary %d %% after %d analyses (%s)\n",
			res.Final.Phase, res.Final.CanaryWeight, res.Looks, display.Reason(res.Final, tz.loc))
	} else {
		fmt.Fprintf(e.stdout, "decision: %s at %s after %d analyses — %s\n", res.Final.Phase, fmtTime(res.Decided, tz.loc), res.Looks, display.Reason(res.Final, tz.loc))
	}
	return nil
}

// readCSV reads recorded data. Every problem names the line and column.
func readCSV(path string, names []string) (*recording, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--csv: %w", err)
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: no header line: %v", path, err)
	}
	want := []string{"time", "metric", "canary_value", "canary_count", "stable_value", "stable_count"}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, w := range want[:4] {
		if _, ok := col[w]; !ok {
			return nil, fmt.Errorf("%s:1: the header has no %s column (want %s)", path, w, strings.Join(want, ","))
		}
	}
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	rec := &recording{}
	for line := 2; ; line++ {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		get := func(c string) string {
			if i, ok := col[c]; ok && i < len(row) {
				return strings.TrimSpace(row[i])
			}
			return ""
		}
		t, err := time.Parse(time.RFC3339, get("time"))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: time %q is not an RFC 3339 time (e.g. 2026-11-24T14:00:00Z)", path, line, get("time"))
		}
		m := get("metric")
		if !known[m] {
			return nil, fmt.Errorf("%s:%d: metric %q is not a metric of the rollout (%s)", path, line, m, strings.Join(names, ", "))
		}
		o := analysis.Observation{Metric: m}
		if o.Canary, err = measurement(get("canary_value"), get("canary_count"), true); err != nil {
			return nil, fmt.Errorf("%s:%d: canary %v", path, line, err)
		}
		if o.Stable, err = measurement(get("stable_value"), get("stable_count"), false); err != nil {
			return nil, fmt.Errorf("%s:%d: stable %v", path, line, err)
		}
		if len(rec.times) > 0 && t.Before(rec.times[len(rec.times)-1]) {
			return nil, fmt.Errorf("%s:%d: time %s is before the previous row's; sort the data by time", path, line, get("time"))
		}
		rec.add(t, o)
	}
	return rec, nil
}

// measurement reads a value and its request count. The canary's count is
// required; an empty stable value means not observed.
func measurement(value, count string, required bool) (analysis.Measurement, error) {
	if value == "" && count == "" && !required {
		return analysis.Measurement{}, nil
	}
	if count == "" {
		return analysis.Measurement{}, errors.New("count is missing (the number of requests behind the value)")
	}
	n, err := strconv.ParseInt(count, 10, 64)
	if err != nil {
		return analysis.Measurement{}, fmt.Errorf("count %q is not a whole number", count)
	}
	if n < 0 {
		return analysis.Measurement{}, fmt.Errorf("count %d is negative", n)
	}
	if value == "" {
		if n == 0 {
			return analysis.Measurement{}, nil // no requests: not observed
		}
		return analysis.Measurement{}, errors.New("value is missing")
	}
	v, err := strconv.ParseFloat(value, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return analysis.Measurement{}, fmt.Errorf("value %q is not a finite number", value)
	}
	return analysis.Observed(v, n), nil
}

// readPrometheus reads each metric for both versions with range queries at
// the plan's interval over [from, to], through the Prometheus provider's
// range queries (Provider.Range), configured as the rollout file's
// Prometheus provider (ps, when the file has one) with the server at base.
func readPrometheus(ctx context.Context, base string, ps *spec.Prometheus, cfg rollback.Config, qs []spec.Query, from, to time.Time) (*recording, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErr(fmt.Errorf("--prometheus %q: give the server's base URL, e.g. http://prometheus:9090", base))
	}
	pc := prometheusConfig(ps)
	pc.Address = base
	prom, err := prometheus.New(pc)
	if err != nil {
		return nil, usageErr(fmt.Errorf("--prometheus: %w", err))
	}
	step := cfg.Plan.Interval
	// Whole seconds, as the points are looked up by Unix second.
	start, end := time.Unix(from.Unix(), 0), time.Unix(to.Unix(), 0)
	series := func(t metrics.Template, w rollback.Workload, window time.Duration) (map[int64]float64, error) {
		if t.Dialect() == 0 {
			return nil, nil
		}
		if t.Dialect() != metrics.PromQL {
			return nil, usageErr(fmt.Errorf("template %s is %s; --prometheus reads PromQL templates", t.Name(), t.Dialect()))
		}
		q, err := t.Render(metrics.Vars{Namespace: cfg.Target.Namespace, Service: cfg.Target.Service,
			Workload: w.Name, Version: w.Version, Window: window})
		if err != nil {
			return nil, err
		}
		pts, err := prom.Range(ctx, metrics.RangeQuery{Text: q, Window: window, Start: start, End: end, Step: step})
		if errors.Is(err, metrics.ErrNoData) {
			return nil, nil // no point: every instant unobserved
		}
		if err != nil {
			return nil, err
		}
		out := make(map[int64]float64, len(pts))
		for _, p := range pts {
			out[p.Time.Unix()] = p.Value
		}
		return out, nil
	}
	rec := &recording{}
	for _, q := range qs {
		window := q.Window
		if window == 0 {
			window = step
		}
		var per [2]map[int64]float64
		var cnt [2]map[int64]float64
		for i, w := range []rollback.Workload{cfg.Target.Canary, cfg.Target.Stable} {
			if i == 1 && q.SkipStable {
				continue
			}
			if per[i], err = series(q.Query, w, window); err != nil {
				return nil, fmt.Errorf("metric %s: %w", q.Name, err)
			}
			if cnt[i], err = series(q.Count, w, window); err != nil {
				return nil, fmt.Errorf("metric %s count: %w", q.Name, err)
			}
		}
		for t := from; !t.After(to); t = t.Add(step) {
			o := analysis.Observation{Metric: q.Name}
			mk := func(i int) analysis.Measurement {
				v, ok := per[i][t.Unix()]
				if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
					return analysis.Measurement{}
				}
				c := cnt[i][t.Unix()]
				if math.IsNaN(c) || c < 0 {
					c = 0
				}
				return analysis.Observed(v, int64(math.Round(c)))
			}
			o.Canary, o.Stable = mk(0), mk(1)
			rec.add(t.UTC(), o)
		}
	}
	slices.SortFunc(rec.times, func(a, b time.Time) int { return a.Compare(b) })
	return rec, nil
}

// prometheusConfig is the configuration of the Prometheus provider that
// the rollout file's provider section ps sets (the zero Config when ps is
// nil): the one place where the file's settings become the provider's, for
// the rollout's provider and for backtest --prometheus alike.
func prometheusConfig(ps *spec.Prometheus) prometheus.Config {
	if ps == nil {
		return prometheus.Config{}
	}
	return prometheus.Config{Address: ps.Address}
}
