package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/trigger"
)

// DefaultAlarmFor is the zero [AlarmsConfig] For: an alarm must have been
// in ALARM this long before it rolls the canary back. 60 s matches
// CloudWatch's standard one-minute aggregation, the failure threshold
// time the project's source material gives for 5xx alarms.
const DefaultAlarmFor = 60 * time.Second

// ErrAlarmMissing: an alarm named in AlarmsConfig.Names does not exist (or
// no alarm carries AlarmsConfig.Tags). A missing alarm rolls nothing back:
// it is reported, so that a typo does not leave a rollout unguarded
// unnoticed.
var ErrAlarmMissing = errors.New("cloudwatch: alarm not found")

// AlarmsConfig configures Alarms. AWS and ClientOptions are as in
// [Config].
type AlarmsConfig struct {
	AWS           *aws.Config
	ClientOptions []func(*cloudwatch.Options)
	// Names are the alarms watched, by name (metric or composite alarms).
	Names []string
	// Tags, when set, also watches every alarm carrying all these tags
	// (read with DescribeAlarms and ListTagsForResource; an alarm's tags
	// are read again after TagsTTL).
	Tags map[string]string
	// For is how long an alarm must have been in ALARM, counted from its
	// StateTransitionedTimestamp; zero means DefaultAlarmFor.
	For time.Duration
	// TagsTTL is how long an alarm's tags are kept; zero means 5 min.
	TagsTTL time.Duration
	// Location is the time zone of the "in ALARM since" time in the
	// audit reason; nil means Europe/London (display's default).
	Location *time.Location
}

// Alarm is an alarm found in ALARM for at least For.
type Alarm struct {
	Name, ARN string
	// Since is when it entered ALARM.
	Since  time.Time
	Reason string
}

// Alarms watches CloudWatch alarms with DescribeAlarms and turns those in
// ALARM for at least For into roll-back signals. Like the rest of the
// library it reads no clock: the caller passes now. It is safe for
// concurrent use.
type Alarms struct {
	client *cloudwatch.Client
	cfg    AlarmsConfig

	mu   sync.Mutex
	tags map[string]cachedTags // ARN → tags
	now  func() time.Time      // for the retry deadline only
}

type cachedTags struct {
	tags map[string]string
	at   time.Time
}

// NewAlarms returns an Alarms; it sends no request.
func NewAlarms(ctx context.Context, c AlarmsConfig) (*Alarms, error) {
	switch {
	case len(c.Names) == 0 && len(c.Tags) == 0:
		return nil, canary.Invalid("AlarmsConfig.Names", nil, "name at least one alarm, or set Tags")
	case len(c.Names) > 1000:
		return nil, canary.Invalid("AlarmsConfig.Names", len(c.Names), "must name at most 1,000 alarms")
	case c.For < 0:
		return nil, canary.Invalid("AlarmsConfig.For", c.For, "must not be negative")
	case c.TagsTTL < 0:
		return nil, canary.Invalid("AlarmsConfig.TagsTTL", c.TagsTTL, "must not be negative")
	}
	for i, n := range c.Names {
		if n == "" || len(n) > 255 {
			return nil, canary.Invalid(fmt.Sprintf("AlarmsConfig.Names[%d]", i), n, "must be 1 to 255 characters")
		}
	}
	if c.For == 0 {
		c.For = DefaultAlarmFor
	}
	if c.TagsTTL == 0 {
		c.TagsTTL = 5 * time.Minute
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
		return nil, canary.Invalid("AlarmsConfig.AWS.Region", nil, "no region: set AWS_REGION, a profile's region, or AlarmsConfig.AWS.Region")
	}
	opts := append([]func(*cloudwatch.Options){func(o *cloudwatch.Options) {
		if cfg.Retryer == nil && cfg.RetryMaxAttempts == 0 {
			o.RetryMaxAttempts = DefaultMaxAttempts
		}
	}}, c.ClientOptions...)
	return &Alarms{client: cloudwatch.NewFromConfig(cfg, opts...), cfg: c, tags: map[string]cachedTags{}, now: time.Now}, nil
}

func (a *Alarms) opts(ctx context.Context) func(*cloudwatch.Options) {
	return func(o *cloudwatch.Options) {
		if d, ok := ctx.Deadline(); ok {
			o.Retryer = deadlineRetryer{RetryerV2: toV2(o.Retryer), deadline: d, now: a.now}
		}
	}
}

// alarm is what Firing needs of a metric or composite alarm.
type alarm struct {
	name, arn, reason string
	state             types.StateValue
	since             time.Time
}

func fromMetric(m types.MetricAlarm) alarm {
	since := aws.ToTime(m.StateTransitionedTimestamp)
	if since.IsZero() {
		since = aws.ToTime(m.StateUpdatedTimestamp)
	}
	return alarm{aws.ToString(m.AlarmName), aws.ToString(m.AlarmArn), aws.ToString(m.StateReason), m.StateValue, since}
}

func fromComposite(m types.CompositeAlarm) alarm {
	since := aws.ToTime(m.StateTransitionedTimestamp)
	if since.IsZero() {
		since = aws.ToTime(m.StateUpdatedTimestamp)
	}
	return alarm{aws.ToString(m.AlarmName), aws.ToString(m.AlarmArn), aws.ToString(m.StateReason), m.StateValue, since}
}

// describe pages through DescribeAlarms (names, at most 100 a call, or
// every alarm when names is nil).
func (a *Alarms) describe(ctx context.Context, names []string) ([]alarm, error) {
	var out []alarm
	for {
		batch := names
		if len(batch) > 100 {
			batch = batch[:100]
		}
		var token *string
		for {
			in := &cloudwatch.DescribeAlarmsInput{NextToken: token, AlarmTypes: []types.AlarmType{types.AlarmTypeMetricAlarm, types.AlarmTypeCompositeAlarm}}
			if names != nil {
				in.AlarmNames = batch
			}
			res, err := a.client.DescribeAlarms(ctx, in, a.opts(ctx))
			if err != nil {
				if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
					err = errors.Join(cerr, err)
				}
				return nil, fmt.Errorf("cloudwatch: DescribeAlarms: %w", err)
			}
			for _, m := range res.MetricAlarms {
				out = append(out, fromMetric(m))
			}
			for _, m := range res.CompositeAlarms {
				out = append(out, fromComposite(m))
			}
			if token = res.NextToken; token == nil || *token == "" {
				break
			}
		}
		if len(names) <= 100 {
			return out, nil
		}
		names = names[100:]
	}
}

// tagsOf returns an alarm's tags, from the cache when fresh.
func (a *Alarms) tagsOf(ctx context.Context, arn string, now time.Time) (map[string]string, error) {
	a.mu.Lock()
	c, ok := a.tags[arn]
	a.mu.Unlock()
	if ok && now.Sub(c.at) < a.cfg.TagsTTL {
		return c.tags, nil
	}
	res, err := a.client.ListTagsForResource(ctx, &cloudwatch.ListTagsForResourceInput{ResourceARN: aws.String(arn)}, a.opts(ctx))
	if err != nil {
		return nil, fmt.Errorf("cloudwatch: ListTagsForResource: %w", err)
	}
	tags := map[string]string{}
	for _, t := range res.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	a.mu.Lock()
	a.tags[arn] = cachedTags{tags, now}
	a.mu.Unlock()
	return tags, nil
}

// Firing returns the watched alarms in ALARM since at least For before
// now, sorted by name. A named alarm that does not exist is reported with
// an error wrapping ErrAlarmMissing, returned together with the alarms
// that are firing; a failed request (throttled beyond the retries,
// denied) returns no alarm and the error.
func (a *Alarms) Firing(ctx context.Context, now time.Time) ([]Alarm, error) {
	var watched []alarm
	var missing []error
	if len(a.cfg.Names) > 0 {
		got, err := a.describe(ctx, a.cfg.Names)
		if err != nil {
			return nil, err
		}
		found := map[string]bool{}
		for _, x := range got {
			found[x.name] = true
		}
		for _, n := range a.cfg.Names {
			if !found[n] {
				missing = append(missing, fmt.Errorf("%w: %q", ErrAlarmMissing, n))
			}
		}
		watched = got
	}
	if len(a.cfg.Tags) > 0 {
		all, err := a.describe(ctx, nil)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, x := range all {
			tags, err := a.tagsOf(ctx, x.arn, now)
			if err != nil {
				return nil, err
			}
			match := true
			for k, v := range a.cfg.Tags {
				match = match && tags[k] == v
			}
			if match {
				watched = append(watched, x)
				n++
			}
		}
		if n == 0 {
			missing = append(missing, fmt.Errorf("%w: none carries the tags %v", ErrAlarmMissing, a.cfg.Tags))
		}
	}
	seen := map[string]bool{}
	var out []Alarm
	for _, x := range watched {
		if seen[x.arn] || x.state != types.StateValueAlarm || x.since.IsZero() || now.Sub(x.since) < a.cfg.For {
			continue
		}
		seen[x.arn] = true
		out = append(out, Alarm{Name: x.name, ARN: x.arn, Since: x.since, Reason: x.reason})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errors.Join(missing...)
}

// Poll rolls rollout back through ap for every alarm Firing returns,
// exactly once per alarm and entry into ALARM (the signal's ID is the
// alarm's ARN and the instant it entered ALARM), with the alarm named as
// the actor and its state reason in the audit trail. It returns the
// alarms acted on now and Firing's error, if any.
func (a *Alarms) Poll(ctx context.Context, now time.Time, ap *trigger.Applier, rollout string) ([]Alarm, error) {
	firing, ferr := a.Firing(ctx, now)
	var acted []Alarm
	var errs []error
	if ferr != nil {
		errs = append(errs, ferr)
	}
	for _, x := range firing {
		out, err := ap.Apply(ctx, now, trigger.Signal{
			ID:      "cloudwatch:" + x.ARN + "@" + x.Since.UTC().Format(time.RFC3339Nano),
			Rollout: rollout,
			Action:  trigger.RollBack,
			Actor:   "cloudwatch alarm " + x.Name,
			Reason: display.OneLine(fmt.Sprintf("alarm %s in ALARM since %s (at least %s): %s",
				x.Name, display.FormatTimeIn(x.Since, a.cfg.Location), a.cfg.For, x.Reason)),
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if out.Applied {
			acted = append(acted, x)
		}
	}
	return acted, errors.Join(errs...)
}
