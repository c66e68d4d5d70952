package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"math"
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
// (see the package documentation) with GetMetricData. It is safe for
// concurrent use.
type Provider struct {
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
	p := &Provider{
		client: cloudwatch.NewFromConfig(cfg, opts...),
		period: c.Period,
		delay:  c.Delay,
		now:    time.Now,
	}
	if p.period == 0 {
		p.period = DefaultPeriod
	}
	return p, nil
}

// Query returns the value of q: the returned query's datapoint for one
// period covering the window, aligned to end at the latest complete period
// at or before q.End-Delay. See the package documentation for the text.
func (p *Provider) Query(ctx context.Context, q metrics.Query) (metrics.Result, error) {
	if err := q.Validate(); err != nil {
		return metrics.Result{}, err
	}
	spec, err := parseQuery(q.Text)
	if err != nil {
		return metrics.Result{}, err
	}
	base := max(p.period, spec.period)
	if q.Window < base {
		return metrics.Result{}, canary.Invalid("Query.Window", q.Window,
			"is shorter than the metric's period of %v: CloudWatch aggregates datapoints per period, so a shorter window could only read a partial period", base)
	}
	in := p.request(spec, q, base)
	if err := ctx.Err(); err != nil {
		return metrics.Result{}, err
	}
	out, err := p.client.GetMetricData(ctx, in, func(o *cloudwatch.Options) {
		if d, ok := ctx.Deadline(); ok {
			o.Retryer = deadlineRetryer{RetryerV2: toV2(o.Retryer), deadline: d, now: p.now}
		}
	})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			return metrics.Result{}, fmt.Errorf("cloudwatch: GetMetricData: %w", errors.Join(cerr, err))
		}
		return metrics.Result{}, fmt.Errorf("cloudwatch: GetMetricData: %w", err)
	}
	return read(out, spec, aws.ToTime(in.StartTime), aws.ToTime(in.EndTime))
}

// request builds the GetMetricData input: one period, a whole number of
// base periods long, ending at the latest base-period boundary at or before
// q.End-Delay, so that every period it spans has ended.
func (p *Provider) request(spec querySpec, q metrics.Query, base time.Duration) *cloudwatch.GetMetricDataInput {
	end := q.End.Add(-p.delay).UTC().Truncate(base)
	window := q.Window - q.Window%base
	start := end.Add(-window)
	period := aws.Int32(int32(window / time.Second))
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
	return &cloudwatch.GetMetricDataInput{
		MetricDataQueries: queries,
		StartTime:         aws.Time(start),
		EndTime:           aws.Time(end),
		ScanBy:            types.ScanByTimestampDescending,
	}
}

// read picks the value (and the count) out of the answer: the datapoint of
// the period [start, end) and nothing else.
func read(out *cloudwatch.GetMetricDataOutput, spec querySpec, start, end time.Time) (metrics.Result, error) {
	var value, count *types.MetricDataResult
	for i := range out.MetricDataResults {
		r := &out.MetricDataResults[i]
		switch aws.ToString(r.Id) {
		case spec.value:
			value = r
		case spec.count:
			count = r
		}
	}
	if value == nil {
		return metrics.Result{}, fmt.Errorf("%w: CloudWatch returned no result for query %q%s", metrics.ErrNoData, spec.value, messages(out.Messages))
	}
	v, err := point(value, start, end)
	if err != nil {
		return metrics.Result{}, err
	}
	res := metrics.Result{Value: v}
	if count != nil {
		if c, err := point(count, start, end); err == nil && c >= 0 {
			res.Count = int64(math.Round(c))
		}
	}
	return res.Check()
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
