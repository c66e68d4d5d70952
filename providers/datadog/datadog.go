package datadog

import (
	"context"
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

// Provider is a [metrics.Provider] backed by Datadog's v2 query APIs. It is
// safe for concurrent use. Build it with New; the zero Provider is not
// usable.
type Provider struct {
	api        *datadogV2.MetricsApi
	keys       map[string]datadog.APIKey
	serverIdx  int
	serverVars map[string]string
	aggregator datadogV2.MetricsAggregator
	value      ValueSource
	samples    bool
	resolution time.Duration
	maxRetries int
	maxWait    time.Duration
	log        *slog.Logger
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
	p := &Provider{
		keys: map[string]datadog.APIKey{
			"apiKeyAuth": {Key: cfg.APIKey},
			"appKeyAuth": {Key: cfg.AppKey},
		},
		value:      cfg.Value,
		samples:    cfg.Samples,
		resolution: cfg.Resolution,
		maxRetries: cfg.MaxRetries,
		maxWait:    cfg.MaxWait,
		log:        cfg.Logger,
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
	p.serverIdx, p.serverVars = 0, map[string]string{"site": site}
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
		p.serverIdx = 1
		p.serverVars = map[string]string{"protocol": u.Scheme, "name": u.Host + strings.TrimSuffix(u.Path, "/")}
	}
	agg := cfg.Aggregator
	if agg == "" {
		agg = DefaultAggregator
	}
	a, err := datadogV2.NewMetricsAggregatorFromValue(agg)
	if err != nil {
		return nil, canary.Invalid("Config.Aggregator", agg, "must be one of avg, min, max, sum, last, percentile, mean, l2norm, area")
	}
	p.aggregator = *a
	if cfg.Value != Aggregate && cfg.Value != LatestPoint {
		return nil, canary.Invalid("Config.Value", int(cfg.Value), "must be Aggregate or LatestPoint")
	}
	switch {
	case p.resolution == 0:
		p.resolution = DefaultResolution
	case p.resolution < time.Second || p.resolution%time.Second != 0:
		return nil, canary.Invalid("Config.Resolution", cfg.Resolution, "must be a positive whole number of seconds")
	}
	if p.maxRetries, p.maxWait, err = ratelimit.Budget(p.maxRetries, p.maxWait); err != nil {
		return nil, err
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	conf := datadog.NewConfiguration()
	conf.HTTPClient = cfg.HTTPClient
	if conf.HTTPClient == nil {
		conf.HTTPClient = &http.Client{}
	}
	conf.RetryConfiguration.EnableRetry = false // 429s are handled here, bounded
	p.api = datadogV2.NewMetricsApi(datadog.NewAPIClient(conf))
	return p, nil
}

// Render renders t, which must be in the [metrics.Datadog] dialect, with v.
func Render(t metrics.Template, v metrics.Vars) (string, error) {
	if t.Dialect() != metrics.Datadog {
		return "", canary.Invalid("Template.Dialect", t.Dialect().String(), "must be metrics.Datadog for the Datadog provider")
	}
	return t.Render(v)
}

// window checks q and returns its bounds in epoch milliseconds.
func (p *Provider) window(q metrics.Query) (from, to int64, err error) {
	if err := q.Validate(); err != nil {
		return 0, 0, err
	}
	if q.Window < p.resolution {
		return 0, 0, canary.Invalid("Query.Window", q.Window, "must be at least the resolution, %v", p.resolution)
	}
	if q.Window%time.Millisecond != 0 {
		return 0, 0, canary.Invalid("Query.Window", q.Window, "must be a whole number of milliseconds")
	}
	to = q.End.UnixMilli()
	from = to - q.Window.Milliseconds()
	if from < 0 {
		return 0, 0, canary.Invalid("Query.End", q.End, "must be at least one window after the Unix epoch")
	}
	return from, to, nil
}

func (p *Provider) context(ctx context.Context) context.Context {
	ctx = context.WithValue(ctx, datadog.ContextAPIKeys, p.keys)
	ctx = context.WithValue(ctx, datadog.ContextServerIndex, p.serverIdx)
	return context.WithValue(ctx, datadog.ContextServerVariables, p.serverVars)
}

// Query returns the value of q over exactly (q.End-q.Window, q.End]. See the
// package documentation for where the value comes from.
func (p *Provider) Query(ctx context.Context, q metrics.Query) (metrics.Result, error) {
	if p == nil || p.api == nil {
		return metrics.Result{}, canary.Invalid("Provider", nil, "is the zero Provider; build it with New")
	}
	from, to, err := p.window(q)
	if err != nil {
		return metrics.Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return metrics.Result{}, fmt.Errorf("datadog: %w", err)
	}
	ctx = p.context(ctx)
	var res metrics.Result
	if p.value == Aggregate {
		v, err := p.scalar(ctx, q.Text, from, to)
		if err != nil {
			return metrics.Result{}, err
		}
		res.Value = v
	}
	if p.value == LatestPoint || p.samples {
		points, err := p.timeseries(ctx, q.Text, from, to)
		if err != nil {
			return metrics.Result{}, err
		}
		if p.value == LatestPoint {
			if len(points) == 0 {
				return metrics.Result{}, fmt.Errorf("datadog: %q: no complete point in the window: %w", q.Text, metrics.ErrNoData)
			}
			res.Value = points[len(points)-1]
		}
		if p.samples {
			res.Samples = points
		}
	}
	return res.Check()
}

func (p *Provider) scalar(ctx context.Context, text string, from, to int64) (float64, error) {
	mq := datadogV2.NewMetricsScalarQuery(p.aggregator, datadogV2.METRICSDATASOURCE_METRICS, text)
	mq.SetName("a")
	attrs := datadogV2.NewScalarFormulaRequestAttributes(from, []datadogV2.ScalarQuery{datadogV2.MetricsScalarQueryAsScalarQuery(mq)}, to)
	attrs.SetFormulas([]datadogV2.QueryFormula{*datadogV2.NewQueryFormula("a")})
	body := datadogV2.NewScalarFormulaQueryRequest(*datadogV2.NewScalarFormulaRequest(*attrs, datadogV2.SCALARFORMULAREQUESTTYPE_SCALAR_REQUEST))
	var resp datadogV2.ScalarFormulaQueryResponse
	err := p.call(ctx, "scalar", func(ctx context.Context) (*http.Response, error) {
		var (
			hr  *http.Response
			err error
		)
		resp, hr, err = p.api.QueryScalarData(ctx, *body)
		return hr, err
	})
	if err != nil {
		return 0, err
	}
	if e := resp.GetErrors(); e != "" {
		return 0, p.answerError("scalar", e)
	}
	var numbers []*datadogV2.DataScalarColumn
	for _, c := range resp.GetData().Attributes.GetColumns() {
		if c.DataScalarColumn != nil {
			numbers = append(numbers, c.DataScalarColumn)
		}
	}
	switch {
	case len(numbers) == 0:
		return 0, fmt.Errorf("datadog: %q: the scalar answer has no value: %w", text, metrics.ErrNoData)
	case len(numbers) > 1:
		return 0, fmt.Errorf("datadog: %q: the scalar answer has %d value columns for one formula", text, len(numbers))
	}
	values := numbers[0].Values
	switch {
	case len(values) == 0:
		return 0, fmt.Errorf("datadog: %q: empty answer: %w", text, metrics.ErrNoData)
	case len(values) > 1:
		return 0, fmt.Errorf("datadog: %q: %d series: %w", text, len(values), ErrMultipleSeries)
	case values[0] == nil:
		return 0, fmt.Errorf("datadog: %q: the value is null: %w", text, metrics.ErrNoData)
	}
	return *values[0] * toSeconds(numbers[0].GetMeta().Unit), nil
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

// timeseries returns the complete, non-null points of text's one series
// over [from, to], oldest first. A point is complete when its whole bucket,
// [t, t+interval), lies inside the window.
func (p *Provider) timeseries(ctx context.Context, text string, from, to int64) ([]float64, error) {
	interval := p.resolution.Milliseconds()
	mq := datadogV2.NewMetricsTimeseriesQuery(datadogV2.METRICSDATASOURCE_METRICS, text)
	mq.SetName("a")
	attrs := datadogV2.NewTimeseriesFormulaRequestAttributes(from, []datadogV2.TimeseriesQuery{datadogV2.MetricsTimeseriesQueryAsTimeseriesQuery(mq)}, to)
	attrs.SetFormulas([]datadogV2.QueryFormula{*datadogV2.NewQueryFormula("a")})
	attrs.SetInterval(interval)
	body := datadogV2.NewTimeseriesFormulaQueryRequest(*datadogV2.NewTimeseriesFormulaRequest(*attrs, datadogV2.TIMESERIESFORMULAREQUESTTYPE_TIMESERIES_REQUEST))
	var resp datadogV2.TimeseriesFormulaQueryResponse
	err := p.call(ctx, "timeseries", func(ctx context.Context) (*http.Response, error) {
		var (
			hr  *http.Response
			err error
		)
		resp, hr, err = p.api.QueryTimeseriesData(ctx, *body)
		return hr, err
	})
	if err != nil {
		return nil, err
	}
	if e := resp.GetErrors(); e != "" {
		return nil, p.answerError("timeseries", e)
	}
	a := resp.GetData().Attributes
	times, values := a.GetTimes(), a.GetValues()
	if len(values) > 1 {
		return nil, fmt.Errorf("datadog: %q: %d series: %w", text, len(values), ErrMultipleSeries)
	}
	if len(values) == 0 || len(times) == 0 {
		return nil, nil
	}
	// Datadog may widen the interval for long windows: trust the spacing
	// of the answer's timestamps when it is wider than asked.
	for i := 1; i < len(times); i++ {
		if d := times[i] - times[i-1]; d > interval {
			interval = d
		}
	}
	scale := 1.0
	if series := a.GetSeries(); len(series) > 0 {
		scale = toSeconds(series[0].GetUnit())
	}
	var points []float64
	for i, t := range times {
		if i >= len(values[0]) {
			break
		}
		v := values[0][i]
		if t < from || t+interval > to || v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
			continue
		}
		points = append(points, *v*scale)
	}
	return points, nil
}
