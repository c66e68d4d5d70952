package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// Defaults used for zero Config fields.
const (
	// DefaultPeriod is CloudWatch's standard resolution: AWS services
	// (VPC Lattice among them) publish one datapoint per metric a minute.
	DefaultPeriod = 60 * time.Second
	// DefaultMaxAttempts is how many times a throttled or failed request is
	// tried in all (the SDK's own default is 3).
	DefaultMaxAttempts = 5
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrThrottled: CloudWatch throttled the request and backing off once
	// more would have passed the caller's deadline. The SDK's error (code
	// Throttling or ThrottlingException) stays reachable with errors.As.
	ErrThrottled = errors.New("cloudwatch: throttled, and no time left before the deadline to back off")
	// ErrPartial: CloudWatch answered with a status other than Complete for
	// the value (PartialData); it is wrapped together with
	// [metrics.ErrNoData], since a partial answer is never read as a value.
	ErrPartial = errors.New("cloudwatch: partial data")
)

// Config configures a Provider. Every zero field means the documented
// default. There is no field for keys: credentials come only from the
// SDK's default chain (or from AWS.Credentials, which is the SDK's own
// field for a credentials provider).
type Config struct {
	// AWS is the SDK configuration: region, credentials provider, retryer,
	// HTTP client and endpoint. Nil means config.LoadDefaultConfig, which
	// reads the environment (AWS_REGION, AWS_PROFILE…), the shared config
	// and credentials files, web identity (IRSA), EKS Pod Identity and the
	// instance or task role, in the SDK's documented order. A nil
	// AWS.Retryer means the SDK's standard retryer (exponential back-off
	// with jitter, throttling errors retried) with DefaultMaxAttempts, unless
	// AWS.RetryMaxAttempts (or AWS_MAX_ATTEMPTS, through the default
	// chain) says otherwise.
	AWS *aws.Config
	// ClientOptions are applied to the CloudWatch client after AWS (for
	// example to set the wire protocol or BaseEndpoint).
	ClientOptions []func(*cloudwatch.Options)
	// Period is the resolution the metrics are published at, and so the
	// shortest window a query may ask for; 0 means DefaultPeriod. Use
	// 1, 5, 10, 20 or 30 s only for high-resolution custom metrics. A
	// query's own MetricStat.Period, where set, must not be shorter.
	Period time.Duration
	// Delay is how long after a period ends its datapoint is taken as
	// complete: periods that end later than Query.End-Delay are not read.
	// 0 means none (a period is read as soon as it has ended). AWS
	// services deliver a minute's datapoint a little after the minute; set
	// Delay (for example 2 min) when queries run right at the window's end.
	Delay time.Duration
}

// Provider answers [metrics.Query] values whose Text is a CloudWatch query
// (see the package documentation) with GetMetricData: a [metrics.Source]
// (which validates queries, reads NaN and empty answers as no data,
// refuses several series and classifies errors) over this package's
// driver. It is safe for concurrent use. The SDK's retryer retries
// throttled requests (see the package documentation), so the Source does
// not retry them again.
type Provider struct {
	src *metrics.Source // over d: instant queries, and range queries with one request
	d   *driver
}

// driver is the CloudWatch [metrics.Driver] and [metrics.Ranger].
type driver struct {
	client *cloudwatch.Client
	period time.Duration
	delay  time.Duration
	now    func() time.Time // for the deadline check only
}

// New returns a Provider. With a nil c.AWS it loads the SDK's default
// configuration, so it may read files and the environment; it sends no
// request. It refuses a configuration without a region.
func New(ctx context.Context, c Config) (*Provider, error) {
	switch {
	case c.Period < 0 || c.Period%time.Second != 0:
		return nil, canary.Invalid("Config.Period", c.Period, "must be a whole number of seconds, 0 meaning %v", DefaultPeriod)
	case c.Period > 0 && c.Period < time.Minute && 60%int(c.Period/time.Second) != 0:
		return nil, canary.Invalid("Config.Period", c.Period, "must be 1, 5, 10, 20 or 30 s (high resolution) or a multiple of 60 s")
	case c.Period >= time.Minute && c.Period%time.Minute != 0:
		return nil, canary.Invalid("Config.Period", c.Period, "must be 1, 5, 10, 20 or 30 s (high resolution) or a multiple of 60 s")
	case c.Delay < 0:
		return nil, canary.Invalid("Config.Delay", c.Delay, "must not be negative")
	}
	var cfg aws.Config
	if c.AWS != nil {
		cfg = c.AWS.Copy()
	} else {
		var err error
		if cfg, err = awsconfig.LoadDefaultConfig(ctx); err != nil {
			return nil, fmt.Errorf("cloudwatch: loading the AWS SDK's default configuration: %w", err)
		}
	}
	if cfg.Region == "" {
		return nil, canary.Invalid("Config.AWS.Region", nil, "no region: set AWS_REGION, a profile's region, or Config.AWS.Region")
	}
	opts := append([]func(*cloudwatch.Options){func(o *cloudwatch.Options) {
		if cfg.Retryer == nil && cfg.RetryMaxAttempts == 0 {
			o.RetryMaxAttempts = DefaultMaxAttempts
		}
	}}, c.ClientOptions...)
	d := &driver{
		client: cloudwatch.NewFromConfig(cfg, opts...),
		period: c.Period,
		delay:  c.Delay,
		now:    time.Now,
	}
	if d.period == 0 {
		d.period = DefaultPeriod
	}
	// The SDK's retryer already retried throttling: the Source does not.
	// The driver checks the window against the metric's period itself
	// (a query's own MetricStat.Period may be longer than Config.Period).
	so := metrics.Config{Name: "cloudwatch", MaxRetries: -1}
	return &Provider{src: metrics.NewSource(d, so), d: d}, nil
}

func (p *Provider) usable() error {
	if p == nil || p.src == nil {
		return canary.Invalid("Provider", nil, "is the zero Provider; build it with New")
	}
	return nil
}

// Query returns the value of q: the returned query's datapoint for one
// period covering the window, aligned to end at the latest complete period
// at or before q.End-Delay. See the package documentation for the text.
func (p *Provider) Query(ctx context.Context, q metrics.Query) (metrics.Result, error) {
	if err := p.usable(); err != nil {
		return metrics.Result{}, err
	}
	return p.src.Query(ctx, q)
}

// Range returns the values of q.Text over a window of q.Window ending at
// q.Start, q.Start+q.Step, … up to q.End, oldest first. When q.Window is
// q.Step, it sends one GetMetricData request at a period of q.Step (a whole
// number of the metric's periods) from q.Start-q.Window to q.End-Delay,
// both aligned down to the metric's period, and returns each complete
// period's datapoint as a point at the period's end (its count, where the
// query has one, as Point.Count); otherwise it sends one Query per point.
// Points with no value are left out and no point at all is
// [metrics.ErrNoData]; errors are those of Query.
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

// ErrorCode classifies the SDK's errors: throttling (and ErrThrottled) is
// [canary.RateLimited]; otherwise the code of the answer's HTTP status
// ([canary.HTTPCode]: 403 Unauthorized, 400 InvalidArgument, 5xx
// Unavailable…); [canary.Unknown] without one.
func (d *driver) ErrorCode(err error) canary.ErrorCode {
	if errors.Is(err, ErrThrottled) || isThrottle(err) {
		return canary.RateLimited
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		return canary.HTTPCode(status.HTTPStatusCode())
	}
	return canary.Unknown
}

// Instant sends q as one GetMetricData request for one period spanning its
// window.
func (d *driver) Instant(ctx context.Context, q metrics.Query) ([]metrics.Series, error) {
	spec, base, err := d.parse("Query", q.Text, q.Window)
	if err != nil {
		return nil, err
	}
	in := d.request(spec, q, base)
	out, err := d.get(ctx, in)
	if err != nil {
		return nil, err
	}
	return read(out, spec, aws.ToTime(in.StartTime), aws.ToTime(in.EndTime))
}

// parse reads a query's text and checks its window against the metric's
// period, which it returns.
func (d *driver) parse(query, text string, window time.Duration) (querySpec, time.Duration, error) {
	spec, err := parseQuery(text)
	if err != nil {
		return querySpec{}, 0, err
	}
	base := max(d.period, spec.period)
	if window < base {
		return querySpec{}, 0, canary.Invalid(query+".Window", window,
			"is shorter than the metric's period of %v: CloudWatch aggregates datapoints per period, so a shorter window could only read a partial period", base)
	}
	return spec, base, nil
}

// get sends in, with a retryer that gives up rather than sleep past ctx's
// deadline.
func (d *driver) get(ctx context.Context, in *cloudwatch.GetMetricDataInput) (*cloudwatch.GetMetricDataOutput, error) {
	out, err := d.client.GetMetricData(ctx, in, func(o *cloudwatch.Options) {
		if dl, ok := ctx.Deadline(); ok {
			o.Retryer = deadlineRetryer{RetryerV2: toV2(o.Retryer), deadline: dl, now: d.now}
		}
	})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			return nil, fmt.Errorf("cloudwatch: GetMetricData: %w", errors.Join(cerr, err))
		}
		return nil, fmt.Errorf("cloudwatch: GetMetricData: %w", err)
	}
	return out, nil
}

// Range sends q as one GetMetricData request at a period of q.Step. It
// A query whose Window is not its Step is errors.ErrUnsupported, before
// any request, and the Source answers it with one query per point.
func (d *driver) Range(ctx context.Context, q metrics.RangeQuery) ([]metrics.Series, error) {
	if q.Window != q.Step {
		return nil, fmt.Errorf("cloudwatch: one request needs RangeQuery.Window (%v) = RangeQuery.Step (%v): %w", q.Window, q.Step, errors.ErrUnsupported)
	}
	spec, base, err := d.parse("RangeQuery", q.Text, q.Window)
	if err != nil {
		return nil, err
	}
	if q.Step%base != 0 {
		return nil, canary.Invalid("RangeQuery.Step", q.Step, "must be a whole number of the metric's period of %v", base)
	}
	end := q.End.Add(-d.delay).UTC().Truncate(base)
	start := q.Start.Add(-q.Window).UTC().Truncate(base)
	if !start.Before(end) {
		return nil, nil
	}
	period := aws.Int32(int32(q.Step / time.Second))
	in := &cloudwatch.GetMetricDataInput{
		MetricDataQueries: d.queries(spec, period),
		StartTime:         aws.Time(start),
		EndTime:           aws.Time(end),
		ScanBy:            types.ScanByTimestampAscending,
	}
	out, err := d.get(ctx, in)
	if err != nil {
		return nil, err
	}
	return readRange(out, spec, start, end, q.Step)
}

// request builds the GetMetricData input: one period, a whole number of
// base periods long, ending at the latest base-period boundary at or before
// q.End-Delay, so that every period it spans has ended.
func (d *driver) request(spec querySpec, q metrics.Query, base time.Duration) *cloudwatch.GetMetricDataInput {
	end := q.End.Add(-d.delay).UTC().Truncate(base)
	window := q.Window - q.Window%base
	start := end.Add(-window)
	period := aws.Int32(int32(window / time.Second))
	return &cloudwatch.GetMetricDataInput{
		MetricDataQueries: d.queries(spec, period),
		StartTime:         aws.Time(start),
		EndTime:           aws.Time(end),
		ScanBy:            types.ScanByTimestampDescending,
	}
}

// queries returns spec's queries at period, returning the data of the
// value and the count only.
func (d *driver) queries(spec querySpec, period *int32) []types.MetricDataQuery {
	queries := make([]types.MetricDataQuery, len(spec.queries))
	for i, m := range spec.queries {
		if m.MetricStat != nil {
			ms := *m.MetricStat
			ms.Period = period
			m.MetricStat = &ms
		} else {
			m.Period = period
		}
		m.ReturnData = aws.Bool(aws.ToString(m.Id) == spec.value || aws.ToString(m.Id) == spec.count)
		queries[i] = m
	}
	return queries
}

// results returns the answer's results for the value's id (several when
// an expression such as SEARCH answers several series) and for the
// count's.
func results(out *cloudwatch.GetMetricDataOutput, spec querySpec) (values []*types.MetricDataResult, count *types.MetricDataResult) {
	for i := range out.MetricDataResults {
		r := &out.MetricDataResults[i]
		switch aws.ToString(r.Id) {
		case spec.value:
			values = append(values, r)
		case spec.count:
			count = r
		}
	}
	return values, count
}

// read picks the value (and the count) out of the answer: the datapoint of
// the period [start, end) and nothing else.
func read(out *cloudwatch.GetMetricDataOutput, spec querySpec, start, end time.Time) ([]metrics.Series, error) {
	values, count := results(out, spec)
	switch len(values) {
	case 0:
		return nil, fmt.Errorf("%w: CloudWatch returned no result for query %q%s", metrics.ErrNoData, spec.value, messages(out.Messages))
	case 1:
	default:
		return labelsOnly(values), nil
	}
	v, err := point(values[0], start, end)
	if err != nil {
		return nil, err
	}
	res := metrics.Result{Value: v}
	if count != nil {
		if c, err := point(count, start, end); err == nil && c >= 0 {
			res.Count = int64(math.Round(c))
		}
	}
	return []metrics.Series{{Labels: aws.ToString(values[0].Label), Result: res}}, nil
}

// labelsOnly names several results, for the error of several series.
func labelsOnly(values []*types.MetricDataResult) []metrics.Series {
	series := make([]metrics.Series, len(values))
	for i, r := range values {
		series[i].Labels = "{" + aws.ToString(r.Label) + "}"
	}
	return series
}

// readRange returns the value's datapoints of the complete periods of
// step within [start, end), each as a point at its period's end, with the
// count's datapoint of the same period.
func readRange(out *cloudwatch.GetMetricDataOutput, spec querySpec, start, end time.Time, step time.Duration) ([]metrics.Series, error) {
	values, count := results(out, spec)
	switch len(values) {
	case 0:
		return nil, fmt.Errorf("%w: CloudWatch returned no result for query %q%s", metrics.ErrNoData, spec.value, messages(out.Messages))
	case 1:
	default:
		return labelsOnly(values), nil
	}
	for _, r := range []*types.MetricDataResult{values[0], count} {
		if r == nil {
			continue
		}
		switch r.StatusCode {
		case types.StatusCodeComplete:
		case types.StatusCodePartialData:
			return nil, fmt.Errorf("%w: %w: query %q%s", metrics.ErrNoData, ErrPartial, aws.ToString(r.Id), messages(r.Messages))
		default:
			return nil, fmt.Errorf("cloudwatch: query %q answered status %q%s", aws.ToString(r.Id), r.StatusCode, messages(r.Messages))
		}
		if len(r.Timestamps) != len(r.Values) {
			return nil, fmt.Errorf("%w: query %q has %d timestamps for %d values", metrics.ErrNoData, aws.ToString(r.Id), len(r.Timestamps), len(r.Values))
		}
	}
	counts := map[time.Time]float64{}
	if count != nil {
		for i, t := range count.Timestamps {
			counts[t.UTC()] = count.Values[i]
		}
	}
	v := values[0]
	pts := make([]metrics.Point, 0, len(v.Values))
	for i, t := range v.Timestamps {
		t = t.UTC()
		if t.Before(start) || t.Add(step).After(end) || (t.Sub(start))%step != 0 {
			continue
		}
		pt := metrics.Point{Time: t.Add(step), Value: v.Values[i]}
		if c, ok := counts[t]; ok && c >= 0 {
			pt.Count = int64(math.Round(c))
		}
		pts = append(pts, pt)
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].Time.Before(pts[j].Time) })
	return []metrics.Series{{Labels: aws.ToString(v.Label), Points: pts}}, nil
}

// point returns the datapoint of r for the period [start, end).
func point(r *types.MetricDataResult, start, end time.Time) (float64, error) {
	id := aws.ToString(r.Id)
	switch r.StatusCode {
	case types.StatusCodeComplete:
	case types.StatusCodePartialData:
		return 0, fmt.Errorf("%w: %w: query %q%s", metrics.ErrNoData, ErrPartial, id, messages(r.Messages))
	default:
		return 0, fmt.Errorf("cloudwatch: query %q answered status %q%s", id, r.StatusCode, messages(r.Messages))
	}
	if len(r.Timestamps) != len(r.Values) {
		return 0, fmt.Errorf("%w: query %q has %d timestamps for %d values", metrics.ErrNoData, id, len(r.Timestamps), len(r.Values))
	}
	for i, t := range r.Timestamps {
		if t.Equal(start) {
			v := r.Values[i]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("%w: query %q is %v", metrics.ErrNoData, id, v)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: query %q has no datapoint for the complete period %s to %s",
		metrics.ErrNoData, id, start.Format(time.RFC3339), end.Format(time.RFC3339))
}

func messages(ms []types.MessageData) string {
	if len(ms) == 0 {
		return ""
	}
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		parts = append(parts, aws.ToString(m.Code)+": "+aws.ToString(m.Value))
	}
	return " (" + strings.Join(parts, "; ") + ")"
}
