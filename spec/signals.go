package spec

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/hook"
	"github.com/meshcanary/canary/notify"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/trigger"
)

// Signals is what a rollout tells people and which webhooks it calls
// (the rollout file's signals section). A notification's URL is a
// credential (an incoming webhook's path is its key), so a file never
// holds it: it names an environment variable (urlEnv) or a file
// (urlFile) that does.
type Signals struct {
	Notify []Notification `json:"notify,omitempty"`
	// Report is the link to the rollout's report put in every message.
	Report string `json:"report,omitempty"`
	// Webhooks are Flagger-style hooks (package hook).
	Webhooks []Webhook `json:"webhooks,omitempty"`
	// Alarms are CloudWatch alarms that roll the canary back
	// (providers/cloudwatch.Alarms).
	Alarms *Alarms `json:"alarms,omitempty"`
}

// DefaultAlarmFor is the zero Alarms.For, as providers/cloudwatch's
// DefaultAlarmFor: CloudWatch's one-minute aggregation.
const DefaultAlarmFor = 60 * time.Second

// Alarms names the CloudWatch alarms watched during the rollout: one in
// ALARM for at least For rolls the canary back, once.
type Alarms struct {
	// Names are alarm names; Tags, all of which an alarm must carry,
	// select alarms too. At least one of them is required.
	Names []string   `json:"names,omitempty"`
	Tags  []AlarmTag `json:"tags,omitempty"`
	// For is how long an alarm must have been in ALARM; zero means
	// DefaultAlarmFor.
	For Duration `json:"for,omitempty"`
	// Region is the AWS region; empty means the AWS SDK's default
	// (AWS_REGION, the profile).
	Region string `json:"region,omitempty"`
}

// AlarmTag is one tag an alarm must carry, as CloudWatch writes tags.
type AlarmTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// TagMap returns the tags as a map, as cloudwatch.AlarmConfig.Tags takes
// them.
func (a *Alarms) TagMap() map[string]string {
	if len(a.Tags) == 0 {
		return nil
	}
	m := make(map[string]string, len(a.Tags))
	for _, t := range a.Tags {
		m[t.Key] = t.Value
	}
	return m
}

var awsRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// validate reports the first bad field of a; a nil a is valid.
func (a *Alarms) validate() error {
	const f = "signals.alarms"
	switch {
	case a == nil:
		return nil
	case len(a.Names) == 0 && len(a.Tags) == 0:
		return canary.Invalid(f+".names", nil, "name at least one alarm, or select alarms by tags")
	case len(a.Names) > 1000:
		return canary.Invalid(f+".names", len(a.Names), "must name at most 1,000 alarms")
	case a.For < 0:
		return canary.Invalid(f+".for", a.For.D(), "must not be negative (zero means %s)", DefaultAlarmFor)
	case a.Region != "" && !awsRegion.MatchString(a.Region):
		return canary.Invalid(f+".region", a.Region, "must be an AWS region such as eu-west-2")
	}
	for i, n := range a.Names {
		if n == "" || len(n) > 255 {
			return canary.Invalid(fmt.Sprintf("%s.names[%d]", f, i), n, "must be 1 to 255 characters")
		}
	}
	seen := map[string]bool{}
	for i, t := range a.Tags {
		switch {
		case t.Key == "" || len(t.Key) > 128:
			return canary.Invalid(fmt.Sprintf("%s.tags[%d].key", f, i), t.Key, "must be 1 to 128 characters")
		case len(t.Value) > 256:
			return canary.Invalid(fmt.Sprintf("%s.tags[%d].value", f, i), len(t.Value), "must be at most 256 characters")
		case seen[t.Key]:
			return canary.Invalid(fmt.Sprintf("%s.tags[%d].key", f, i), t.Key, "is given twice")
		}
		seen[t.Key] = true
	}
	return nil
}

// Notification is one destination of package notify.
type Notification struct {
	// Kind is slack, teams or webhook.
	Kind    string `json:"kind"`
	URLEnv  string `json:"urlEnv,omitempty"`
	URLFile string `json:"urlFile,omitempty"`
	// KeyFile holds the HMAC key (at least 32 bytes) a webhook's messages
	// are signed with; only for kind webhook, which requires it.
	KeyFile string `json:"keyFile,omitempty"`
}

// Webhook is one hook, as in a Flagger Canary's analysis.webhooks (the
// metadata map is not supported in rollout files).
type Webhook struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	URL     string   `json:"url"`
	Timeout Duration `json:"timeout,omitempty"`
	Retries int      `json:"retries,omitempty"`
}

// validate reports the first bad field of s; a nil s is valid.
func (s *Signals) validate() error {
	if s == nil {
		return nil
	}
	for i, n := range s.Notify {
		f := fmt.Sprintf("signals.notify[%d]", i)
		switch {
		case n.Kind != "slack" && n.Kind != "teams" && n.Kind != "webhook":
			return canary.Invalid(f+".kind", n.Kind, "must be slack, teams or webhook")
		case (n.URLEnv == "") == (n.URLFile == ""):
			return canary.Invalid(f+".urlEnv", n.URLEnv, "give exactly one of urlEnv and urlFile (the URL itself is a credential and stays out of the file)")
		case n.Kind == "webhook" && n.KeyFile == "":
			return canary.Invalid(f+".keyFile", n.KeyFile, "a webhook's messages are signed: name the file holding the HMAC key")
		case n.Kind != "webhook" && n.KeyFile != "":
			return canary.Invalid(f+".keyFile", n.KeyFile, "only a webhook is signed")
		}
	}
	if err := s.Alarms.validate(); err != nil {
		return err
	}
	if s.Report != "" {
		if u, err := url.Parse(s.Report); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return canary.Invalid("signals.report", s.Report, "must be an http or https URL")
		}
	}
	if _, err := s.hooks("x"); err != nil {
		return err
	}
	return nil
}

func (s *Signals) hooks(name string) (*hook.Set, error) {
	var hs []hook.Hook
	for i, w := range s.Webhooks {
		h := hook.Hook{Name: w.Name, Type: hook.Type(w.Type), URL: w.URL, Timeout: w.Timeout.D(), Retries: w.Retries}
		if err := h.Validate(); err != nil {
			return nil, fmt.Errorf("signals.webhooks[%d]: %w", i, err)
		}
		hs = append(hs, h)
	}
	set, err := hook.New(hook.Config{Name: name, Hooks: hs})
	if err != nil {
		return nil, fmt.Errorf("signals.webhooks: %w", err)
	}
	return set, nil
}

// Notifier builds the rollout's notifier, delivering to next first (see
// notify.Config.Next), or returns nil when the file asks for no
// notification. getenv and readFile read the credentials (nil means
// os.Getenv and os.ReadFile). The caller runs its Run.
func (ro *Rollout) Notifier(next rollback.Sink, getenv func(string) string, readFile func(string) ([]byte, error)) (*notify.Notifier, error) {
	s := ro.Signals
	if s == nil || len(s.Notify) == 0 {
		return nil, nil
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	var ds []notify.Destination
	for i, n := range s.Notify {
		f := fmt.Sprintf("signals.notify[%d]", i)
		u := getenv(n.URLEnv)
		if n.URLFile != "" {
			b, err := readFile(n.URLFile)
			if err != nil {
				return nil, canary.Invalid(f+".urlFile", n.URLFile, "cannot be read: %v", err)
			}
			u = strings.TrimSpace(string(b))
		}
		if pu, err := url.Parse(u); u == "" || err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
			return nil, canary.Invalid(f+".urlEnv", n.URLEnv+n.URLFile, "must hold an http or https URL (its value is not shown)")
		}
		switch n.Kind {
		case "slack":
			ds = append(ds, notify.Slack{URL: u})
		case "teams":
			ds = append(ds, notify.Teams{URL: u})
		default:
			key, err := readFile(n.KeyFile)
			if err != nil {
				return nil, canary.Invalid(f+".keyFile", n.KeyFile, "cannot be read: %v", err)
			}
			signer, err := trigger.NewHMAC([]byte(strings.TrimSpace(string(key))), 0, 0)
			if err != nil {
				return nil, canary.Invalid(f+".keyFile", n.KeyFile, "%v", err)
			}
			ds = append(ds, notify.Webhook{URL: u, Signer: signer})
		}
	}
	cfg := notify.Config{Next: next, Destinations: ds}
	if s.Report != "" {
		cfg.Report = func(string) string { return s.Report }
	}
	return notify.New(cfg)
}

// ApplyWebhooks adds the file's webhooks to cfg: the pre-rollout and
// rollout hooks as a metric judged with the analyzer (a failed hook is a
// failed check), the confirmation hooks as cfg.Gate (when cfg has none),
// and the event and post-rollout hooks around cfg.Sink — so call it after
// cfg.Sink is set. It returns the hook set (nil when the file has no
// webhook) for its ConfirmRollout and CheckRollback.
func (ro *Rollout) ApplyWebhooks(cfg *rollback.Config) (*hook.Set, error) {
	s := ro.Signals
	if s == nil || len(s.Webhooks) == 0 {
		return nil, nil
	}
	set, err := s.hooks(ro.Name)
	if err != nil {
		return nil, err
	}
	m, err := set.Metric(cfg.Target.Canary.Version)
	if err != nil {
		return nil, err
	}
	cfg.Metrics = append(cfg.Metrics, m)
	limit := analysis.Threshold{Limits: []analysis.Limit{hook.Limit()}}
	if cfg.Analyzer == nil {
		cfg.Analyzer = limit
	} else {
		cfg.Analyzer = analysis.All(cfg.Analyzer, limit)
	}
	if cfg.Gate == nil {
		cfg.Gate = set.Gate()
	}
	cfg.Sink = set.Sink(cfg.Sink)
	return set, nil
}
