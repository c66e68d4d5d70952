package datadog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/meshcanary/canary/internal/ratelimit"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"
	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV2"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// Datadog sites, as the client names them. The API host is "api." followed
// by the site.
const (
	SiteUS1    = "datadoghq.com"     // US1, the default
	SiteUS3    = "us3.datadoghq.com" // US3
	SiteUS5    = "us5.datadoghq.com" // US5
	SiteEU1    = "datadoghq.eu"      // EU1, for UK and EU users
	SiteAP1    = "ap1.datadoghq.com" // AP1 (Japan)
	SiteAP2    = "ap2.datadoghq.com" // AP2 (Australia)
	SiteUK1    = "uk1.datadoghq.com" // UK1
	SiteGov    = "ddog-gov.com"      // US1-FED
	SiteGovUS2 = "us2.ddog-gov.com"  // US2-FED
)

var sites = []string{SiteUS1, SiteUS3, SiteUS5, SiteEU1, SiteAP1, SiteAP2, SiteUK1, SiteGov, SiteGovUS2}

// Defaults used for zero Config fields.
const (
	// DefaultResolution is the Datadog Agent's default submission interval:
	// a shorter window cannot hold one complete point.
	DefaultResolution = 15 * time.Second
	DefaultAggregator = "avg"
	DefaultMaxRetries = ratelimit.DefaultMaxRetries
	DefaultMaxWait    = ratelimit.DefaultMaxWait
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrUnauthorized: Datadog answered 401 or 403 (a wrong or revoked key,
	// a key without the timeseries_query scope, or the wrong site). It is
	// [metrics.ErrUnauthorized] (code [canary.Unauthorized]).
	ErrUnauthorized = metrics.ErrUnauthorized
	// ErrRateLimited: Datadog answered 429 and the adapter gave up waiting.
	// It is [metrics.ErrRateLimited] (code [canary.RateLimited]).
	ErrRateLimited = metrics.ErrRateLimited
	// ErrMultipleSeries: the query answered several series (tag groups)
	// where one value was expected; aggregate the query. It is
	// [metrics.ErrSeveralSeries] (code [canary.InvalidArgument]).
	ErrMultipleSeries = metrics.ErrSeveralSeries
)

// ValueSource says where Result.Value comes from.
type ValueSource int

const (
	// Aggregate (the zero value): the v2 scalar API's value over exactly the
	// window, reduced with Config.Aggregator.
	Aggregate ValueSource = iota
	// LatestPoint: the latest complete point of the v2 timeseries API's
	// answer for exactly the window, at Config.Resolution.
	LatestPoint
)

// Config configures a Provider. APIKey and AppKey are required; every other
// zero field means the documented default.
type Config struct {
	// APIKey and AppKey are the API key and the application key (which
	// needs the timeseries_query scope). They are sent as the DD-API-KEY
	// and DD-APPLICATION-KEY headers and appear in no error or log line.
	APIKey string
	AppKey string
	// Site is the Datadog site, one of the Site constants; "" is SiteUS1.
	Site string
	// BaseURL, when set, replaces the site's API URL (scheme and host, and
	// optionally a path prefix), for tests and proxies, e.g.
	// "http://127.0.0.1:8125".
	BaseURL string
	// Aggregator reduces the window for the scalar API: avg, min, max,
	// sum, last, percentile, mean, l2norm or area; "" is avg.
	Aggregator string
	// Value chooses where Result.Value comes from; the zero value is
	// Aggregate.
	Value ValueSource
	// Samples asks the timeseries API for the window's complete points as
	// Result.Samples (one more request per query unless Value is
	// LatestPoint).
	Samples bool
	// Resolution is the interval of timeseries points and the shortest
	// window accepted; a whole number of seconds. 0 is DefaultResolution.
	Resolution time.Duration
	// MaxRetries is how often a 429 answer is retried; 0 is
	// DefaultMaxRetries and a negative value never retries.
	MaxRetries int
	// MaxWait is the longest wait for a rate limit to reset that the
	// adapter accepts; a longer one fails at once. 0 is DefaultMaxWait.
	MaxWait time.Duration
	// HTTPClient sends the requests; nil is a client with no timeout of its
	// own (the context's deadline applies).
	HTTPClient *http.Client
	// Logger receives a line per rate-limit wait; nil discards them.
	Logger *slog.Logger
}

// Provider is a [metrics.Provider] backed by Datadog's v2 query APIs: a
// [metrics.Source] (which validates queries, applies the rate-limit
// budget, reads nulls, NaN and empty answers as no data, refuses several
// series and classifies errors) over this package's driver, which sends
// the scalar and timeseries requests and decodes their answers. It is
// safe for concurrent use. Build it with New; the zero Provider is not
// usable.
type Provider struct {
	src *metrics.Source // over d: instant queries, and range queries with one timeseries request
	d   *driver
}

// driver is the Datadog [metrics.Driver] and [metrics.Ranger].
type driver struct {
	api        *datadogV2.MetricsApi
	keys       map[string]datadog.APIKey
	serverIdx  int
	serverVars map[string]string
	aggregator datadogV2.MetricsAggregator
	value      ValueSource
	samples    bool
	resolution time.Duration
	secrets    []string
}

var _ metrics.Provider = (*Provider)(nil)

// New checks cfg and returns a Provider. It sends no request. Every refused
// field is reported as a *[canary.FieldError].
func New(cfg Config) (*Provider, error) {
	if cfg.APIKey == "" {
		return nil, canary.Invalid("Config.APIKey", nil, "must be set")
	}
	if cfg.AppKey == "" {
		return nil, canary.Invalid("Config.AppKey", nil, "must be set")
	}
	for _, k := range []struct{ field, v string }{{"Config.APIKey", cfg.APIKey}, {"Config.AppKey", cfg.AppKey}} {
		if strings.ContainsAny(k.v, " \t\r\n") {
			return nil, canary.Invalid(k.field, nil, "must not contain white space")
		}
	}
	d := &driver{
		keys: map[string]datadog.APIKey{
			"apiKeyAuth": {Key: cfg.APIKey},
			"appKeyAuth": {Key: cfg.AppKey},
		},
		value:      cfg.Value,
		samples:    cfg.Samples,
		resolution: cfg.Resolution,
		secrets:    []string{cfg.APIKey, cfg.AppKey},
	}
	site := cfg.Site
	if site == "" {
		site = SiteUS1
	}
	known := false
	for _, s := range sites {
		known = known || s == site
	}
	if !known {
		return nil, canary.Invalid("Config.Site", site, "unknown Datadog site; use one of %s", strings.Join(sites, ", "))
	}
	d.serverIdx, d.serverVars = 0, map[string]string{"site": site}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			shown := "(unparsable)"
			if u != nil {
				shown = u.Redacted()
			}
			return nil, canary.Invalid("Config.BaseURL", shown, "must be an http or https URL with a host and no user, query or fragment")
		}
		// The client's second server is "{protocol}://{name}".
		d.serverIdx = 1
		d.serverVars = map[string]string{"protocol": u.Scheme, "name": u.Host + strings.TrimSuffix(u.Path, "/")}
	}
	agg := cfg.Aggregator
	if agg == "" {
		agg = DefaultAggregator
	}
	a, err := datadogV2.NewMetricsAggregatorFromValue(agg)
	if err != nil {
		return nil, canary.Invalid("Config.Aggregator", agg, "must be one of avg, min, max, sum, last, percentile, mean, l2norm, area")
	}
	d.aggregator = *a
	if cfg.Value != Aggregate && cfg.Value != LatestPoint {
		return nil, canary.Invalid("Config.Value", int(cfg.Value), "must be Aggregate or LatestPoint")
	}
	switch {
	case d.resolution == 0:
		d.resolution = DefaultResolution
	case d.resolution < time.Second || d.resolution%time.Second != 0:
		return nil, canary.Invalid("Config.Resolution", cfg.Resolution, "must be a positive whole number of seconds")
	}
	maxRetries, maxWait, err := ratelimit.Budget(cfg.MaxRetries, cfg.MaxWait)
	if err != nil {
		return nil, err
	}
	if maxRetries == 0 {
		maxRetries = -1 // the Source's "never"
	}
	conf := datadog.NewConfiguration()
	conf.HTTPClient = cfg.HTTPClient
	if conf.HTTPClient == nil {
		conf.HTTPClient = &http.Client{}
	}
	conf.RetryConfiguration.EnableRetry = false // 429s are retried by the Source, within its budget
	d.api = datadogV2.NewMetricsApi(datadog.NewAPIClient(conf))
	opts := metrics.Config{Name: "datadog", Dialect: metrics.Datadog, Resolution: d.resolution,
		MaxRetries: maxRetries, MaxWait: maxWait, Logger: cfg.Logger}
	return &Provider{src: metrics.NewSource(d, opts), d: d}, nil
}

// Render renders t, which must be in the [metrics.Datadog] dialect, with v.
func Render(t metrics.Template, v metrics.Vars) (string, error) {
	if t.Dialect() != metrics.Datadog {
		return "", canary.Invalid("Template.Dialect", t.Dialect().String(), "must be metrics.Datadog for the Datadog provider")
	}
	return t.Render(v)
}

func (p *Provider) usable() error {
	if p == nil || p.src == nil {
		return canary.Invalid("Provider", nil, "is the zero Provider; build it with New")
	}
	return nil
}

// Query returns the value of q over exactly (q.End-q.Window, q.End]. See the
// package documentation for where the value comes from.
func (p *Provider) Query(ctx context.Context, q metrics.Query) (metrics.Result, error) {
	if err := p.usable(); err != nil {
		return metrics.Result{}, err
	}
	return p.src.Query(ctx, q)
}

// Range returns the values of q.Text over a window of q.Window ending at
// q.Start, q.Start+q.Step, … up to q.End, oldest first. When q.Window is
// q.Step (each point's window is the step), it sends one timeseries
// request for (q.Start-q.Window, q.End] at an interval of q.Step and
// returns its complete buckets, each as a point at its bucket's end (the
// rollup Datadog applies at that interval, as for LatestPoint; Datadog
// aligns buckets to the interval, and may widen the interval of a long
// range, in which case the points are that far apart); otherwise it sends
// one instant query (see Query) per point. Points with no value are left
// out and no point at all is [metrics.ErrNoData]; errors are those of
// Query.
func (p *Provider) Range(ctx context.Context, q metrics.RangeQuery) ([]metrics.Point, error) {
	if err := p.usable(); err != nil {
		return nil, err
	}
	return p.src.Range(ctx, q)
}

// Source returns the portable [metrics.Source] p answers through (nil for
// the zero Provider); Provider.Range is its Range.
func (p *Provider) Source() *metrics.Source {
	if p == nil {
		return nil
	}
	return p.src
}

// millis checks that a window ending at end is a whole number of
// milliseconds and starts after the Unix epoch, and returns its bounds in
// epoch milliseconds.
func millis(field string, window time.Duration, end time.Time, endField string) (from, to int64, err error) {
	if window%time.Millisecond != 0 {
		return 0, 0, canary.Invalid(field, window, "must be a whole number of milliseconds")
	}
	to = end.UnixMilli()
	from = to - window.Milliseconds()
	if from < 0 {
		return 0, 0, canary.Invalid(endField, end, "must be at least one window after the Unix epoch")
	}
	return from, to, nil
}

func (d *driver) context(ctx context.Context) context.Context {
	ctx = context.WithValue(ctx, datadog.ContextAPIKeys, d.keys)
	ctx = context.WithValue(ctx, datadog.ContextServerIndex, d.serverIdx)
	return context.WithValue(ctx, datadog.ContextServerVariables, d.serverVars)
}

// ErrorCode has nothing to add: the driver's errors carry their codes
// (*Error by its HTTP status).
func (d *driver) ErrorCode(error) canary.ErrorCode { return canary.Unknown }

// Instant asks the scalar API (Aggregate) or the timeseries API
// (LatestPoint), and with Config.Samples the timeseries API for the
// samples, for exactly the window of q.
func (d *driver) Instant(ctx context.Context, q metrics.Query) ([]metrics.Series, error) {
	from, to, err := millis("Query.Window", q.Window, q.End, "Query.End")
	if err != nil {
		return nil, err
	}
	ctx = d.context(ctx)
	var one metrics.Series
	if d.value == Aggregate {
		series, err := d.scalar(ctx, q.Text, from, to)
		if len(series) != 1 || err != nil {
			return series, err
		}
		one = series[0]
	}
	if d.value == LatestPoint || d.samples {
		series, err := d.timeseries(ctx, q.Text, from, to, d.resolution.Milliseconds())
		if err != nil || len(series) > 1 {
			return series, err
		}
		var points []float64
		if len(series) == 1 {
			for _, pt := range series[0].Points {
				points = append(points, pt.Value)
			}
		}
		if d.value == LatestPoint {
			if len(points) == 0 {
				return nil, fmt.Errorf("datadog: %q: no complete point in the window: %w", q.Text, metrics.ErrNoData)
			}
			one = metrics.Series{Labels: series[0].Labels, Result: metrics.Result{Value: points[len(points)-1]}}
		}
		if d.samples {
			one.Result.Samples = points
		}
	}
	return []metrics.Series{one}, nil
}

// Range asks the timeseries API for (q.Start-q.Window, q.End] at an
// interval of q.Step. A query whose Window is not its Step (a bucket is
// one step wide) is errors.ErrUnsupported, before any request, and the
// Source answers it with one instant query per point.
func (d *driver) Range(ctx context.Context, q metrics.RangeQuery) ([]metrics.Series, error) {
	if q.Window != q.Step {
		return nil, fmt.Errorf("datadog: one timeseries request needs RangeQuery.Window (%v) = RangeQuery.Step (%v): %w", q.Window, q.Step, errors.ErrUnsupported)
	}
	from, _, err := millis("RangeQuery.Window", q.Window, q.Start, "RangeQuery.Start")
	if err != nil {
		return nil, err
	}
	_, to, err := millis("RangeQuery.Window", q.Window, q.End, "RangeQuery.End")
	if err != nil {
		return nil, err
	}
	if q.Step%time.Millisecond != 0 {
		return nil, canary.Invalid("RangeQuery.Step", q.Step, "must be a whole number of milliseconds")
	}
	return d.timeseries(d.context(ctx), q.Text, from, to, q.Step.Milliseconds())
}

// scalar asks the scalar API for the value of text over [from, to]: one
// series per row of the answer (one per tag group), none for an empty
// answer.
func (d *driver) scalar(ctx context.Context, text string, from, to int64) ([]metrics.Series, error) {
	mq := datadogV2.NewMetricsScalarQuery(d.aggregator, datadogV2.METRICSDATASOURCE_METRICS, text)
	mq.SetName("a")
	attrs := datadogV2.NewScalarFormulaRequestAttributes(from, []datadogV2.ScalarQuery{datadogV2.MetricsScalarQueryAsScalarQuery(mq)}, to)
	attrs.SetFormulas([]datadogV2.QueryFormula{*datadogV2.NewQueryFormula("a")})
	body := datadogV2.NewScalarFormulaQueryRequest(*datadogV2.NewScalarFormulaRequest(*attrs, datadogV2.SCALARFORMULAREQUESTTYPE_SCALAR_REQUEST))
	resp, hr, err := d.api.QueryScalarData(ctx, *body)
	if err != nil {
		return nil, d.callError(ctx, "scalar", hr, err)
	}
	if e := resp.GetErrors(); e != "" {
		return nil, d.answerError("scalar", e)
	}
	var numbers []*datadogV2.DataScalarColumn
	var groups []*datadogV2.GroupScalarColumn
	for _, c := range resp.GetData().Attributes.GetColumns() {
		if c.DataScalarColumn != nil {
			numbers = append(numbers, c.DataScalarColumn)
		}
		if c.GroupScalarColumn != nil {
			groups = append(groups, c.GroupScalarColumn)
		}
	}
	switch {
	case len(numbers) == 0:
		return nil, fmt.Errorf("datadog: %q: the scalar answer has no value: %w", text, metrics.ErrNoData)
	case len(numbers) > 1:
		return nil, fmt.Errorf("datadog: %q: the scalar answer has %d value columns for one formula", text, len(numbers))
	}
	values := numbers[0].Values
	if len(values) == 1 && values[0] == nil {
		return nil, fmt.Errorf("datadog: %q: the value is null: %w", text, metrics.ErrNoData)
	}
	scale := toSeconds(numbers[0].GetMeta().Unit)
	series := make([]metrics.Series, len(values))
	for i, v := range values {
		var tags []string
		for _, g := range groups {
			if i < len(g.Values) {
				tags = append(tags, g.GetName()+":"+strings.Join(g.Values[i], ","))
			}
		}
		series[i].Labels = labels(tags)
		if v != nil {
			series[i].Result.Value = *v * scale
		} else {
			series[i].Result.Value = math.NaN()
		}
	}
	return series, nil
}

// labels shows a series' tags as Datadog writes a scope: {tag:value,…}.
func labels(tags []string) string {
	if len(tags) == 0 {
		return ""
	}
	return "{" + strings.Join(tags, ",") + "}"
}

// timeUnits are Datadog's units of the time family, in seconds (Datadog,
// "Metrics Units", https://docs.datadoghq.com/metrics/units/).
var timeUnits = map[string]float64{
	"nanosecond": 1e-9, "microsecond": 1e-6, "millisecond": 1e-3, "second": 1,
	"minute": 60, "hour": 3600, "day": 86400, "week": 604800,
}

// toSeconds returns the factor that turns a value in the unit Datadog
// reports for it into the module's unit: for a duration (a time unit with
// no "per" unit, such as millisecond), its length in seconds, so every
// latency is in seconds; for anything else (no unit, bytes, requests per
// second), 1.
func toSeconds(unit []datadogV2.Unit) float64 {
	if len(unit) == 0 || (len(unit) > 1 && unit[1].GetName() != "") || unit[0].GetFamily() != "time" {
		return 1
	}
	if f, ok := timeUnits[unit[0].GetName()]; ok {
		return f
	}
	return 1
}

// timeseries asks the timeseries API for text over [from, to] at interval
// (milliseconds): one series per series of the answer (one per tag group),
// each with its complete, non-null points, oldest first, none for an empty
// answer. A point is complete when its whole bucket, [t, t+interval), lies
// inside the window; it stands at its bucket's end, t+interval.
func (d *driver) timeseries(ctx context.Context, text string, from, to, interval int64) ([]metrics.Series, error) {
	mq := datadogV2.NewMetricsTimeseriesQuery(datadogV2.METRICSDATASOURCE_METRICS, text)
	mq.SetName("a")
	attrs := datadogV2.NewTimeseriesFormulaRequestAttributes(from, []datadogV2.TimeseriesQuery{datadogV2.MetricsTimeseriesQueryAsTimeseriesQuery(mq)}, to)
	attrs.SetFormulas([]datadogV2.QueryFormula{*datadogV2.NewQueryFormula("a")})
	attrs.SetInterval(interval)
	body := datadogV2.NewTimeseriesFormulaQueryRequest(*datadogV2.NewTimeseriesFormulaRequest(*attrs, datadogV2.TIMESERIESFORMULAREQUESTTYPE_TIMESERIES_REQUEST))
	resp, hr, err := d.api.QueryTimeseriesData(ctx, *body)
	if err != nil {
		return nil, d.callError(ctx, "timeseries", hr, err)
	}
	if e := resp.GetErrors(); e != "" {
		return nil, d.answerError("timeseries", e)
	}
	a := resp.GetData().Attributes
	times, values, meta := a.GetTimes(), a.GetValues(), a.GetSeries()
	if len(values) == 0 || len(times) == 0 {
		return nil, nil
	}
	// Datadog may widen the interval for long windows: trust the spacing
	// of the answer's timestamps when it is wider than asked.
	for i := 1; i < len(times); i++ {
		if gap := times[i] - times[i-1]; gap > interval {
			interval = gap
		}
	}
	series := make([]metrics.Series, len(values))
	for k, row := range values {
		scale := 1.0
		if k < len(meta) {
			scale = toSeconds(meta[k].GetUnit())
			series[k].Labels = labels(meta[k].GetGroupTags())
		}
		for i, t := range times {
			if i >= len(row) {
				break
			}
			v := row[i]
			if t < from || t+interval > to || v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
				continue
			}
			series[k].Points = append(series[k].Points, metrics.Point{Time: time.UnixMilli(t + interval).UTC(), Value: *v * scale})
		}
	}
	return series, nil
}
