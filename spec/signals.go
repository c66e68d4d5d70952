package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
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

// TagMap returns the tags as a map, as cloudwatch.AlarmsConfig.Tags takes
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

// Webhook is one hook, as a Flagger Canary's analysis.webhooks[] declares
// it (name, type, url, timeout, metadata, retries), plus SecretMetadata.
type Webhook struct {
	Name string `json:"name"`
	// Type is when the hook is called, with Flagger's names (package
	// hook): confirm-rollout, pre-rollout, rollout,
	// confirm-traffic-increase, confirm-promotion, post-rollout, rollback
	// or event.
	Type string `json:"type"`
	URL  string `json:"url"`
	// Timeout cuts one call; zero means hook.DefaultTimeout.
	Timeout Duration `json:"timeout,omitempty"`
	// Retries is how many more times a call that failed by a transport
	// error, a timeout, a 429 or a 5xx is made: 0 to 10.
	Retries int `json:"retries,omitempty"`
	// Metadata is sent in every payload, as Flagger's metadata map (a
	// load tester's type and cmd, say). It is kept in the rollout record
	// like the rest of the file, so it must hold no secret: put those in
	// SecretMetadata.
	Metadata map[string]string `json:"metadata,omitempty"`
	// SecretMetadata adds metadata keys whose values are read when the
	// hooks are built, from an environment variable or a file; the file
	// and the store hold only where they are, and no error, log line or
	// event shows a value.
	SecretMetadata map[string]SecretRef `json:"secretMetadata,omitempty"`
}

// SecretRef says where a secret value is: exactly one of Env (an
// environment variable) and File (a file; its content is trimmed of
// surrounding white space).
type SecretRef struct {
	Env  string `json:"env,omitempty"`
	File string `json:"file,omitempty"`
}

// Bounds of a webhook's metadata.
const (
	// MaxWebhookMetadata is the most metadata keys (plain and secret) a
	// webhook may have.
	MaxWebhookMetadata = 64
	// MaxMetadataValue is the longest metadata value, in bytes.
	MaxMetadataValue = 16 << 10
)

var (
	envName      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	metadataKey  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_.\-]{0,251}[A-Za-z0-9])?$`)
	webhookTypes = []string{"confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase", "confirm-promotion", "post-rollout", "rollback", "event"}
)

// ValidMetadataKey reports whether k is a metadata key a rollout file
// takes: 1 to 253 letters, digits, '-', '_' and '.', starting and ending
// with a letter or digit.
func ValidMetadataKey(k string) bool { return metadataKey.MatchString(k) }

// validate reports the first bad field of w, the i-th webhook. Metadata
// values are never shown.
func (w Webhook) validate(i int, names map[string]bool) error {
	f := fmt.Sprintf("signals.webhooks[%d]", i)
	switch {
	case w.Name == "":
		return canary.Invalid(f+".name", w.Name, "must not be empty")
	case names[w.Name]:
		return canary.Invalid(f+".name", w.Name, "is used by another webhook")
	case !slices.Contains(webhookTypes, w.Type):
		return canary.Invalid(f+".type", w.Type, "must be one of Flagger's hook types (%s)", strings.Join(webhookTypes, ", "))
	case w.Retries < 0 || w.Retries > 10:
		return canary.Invalid(f+".retries", w.Retries, "must be 0 to 10")
	case w.Timeout < 0:
		return canary.Invalid(f+".timeout", w.Timeout.D(), "must not be negative (zero means %s)", hook.DefaultTimeout)
	case len(w.Metadata)+len(w.SecretMetadata) > MaxWebhookMetadata:
		return canary.Invalid(f+".metadata", len(w.Metadata)+len(w.SecretMetadata), "must hold at most %d keys, with secretMetadata", MaxWebhookMetadata)
	}
	if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return canary.Invalid(f+".url", nil, "must be an http or https URL with a host")
	}
	for _, k := range slices.Sorted(maps.Keys(w.Metadata)) {
		switch {
		case !metadataKey.MatchString(k):
			return canary.Invalid(f+".metadata", k, "keys are 1 to 253 letters, digits, '-', '_' and '.', starting and ending with a letter or digit")
		case len(w.Metadata[k]) > MaxMetadataValue:
			return canary.Invalid(f+".metadata."+k, nil, "must be at most %d bytes (the value is not shown)", MaxMetadataValue)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(w.SecretMetadata)) {
		r, sub := w.SecretMetadata[k], f+".secretMetadata."+k
		_, plain := w.Metadata[k]
		switch {
		case !metadataKey.MatchString(k):
			return canary.Invalid(f+".secretMetadata", k, "keys are 1 to 253 letters, digits, '-', '_' and '.', starting and ending with a letter or digit")
		case plain:
			return canary.Invalid(sub, nil, "is also in metadata; give a key in one of them")
		case (r.Env == "") == (r.File == ""):
			return canary.Invalid(sub, nil, "give exactly one of env and file")
		case r.Env != "" && !envName.MatchString(r.Env):
			return canary.Invalid(sub+".env", r.Env, "must be an environment variable's name")
		}
	}
	return nil
}

// secrets reads the values of w's SecretMetadata (of the i-th webhook).
// An error names the field and where the value was to be read, never a
// value.
func (w Webhook) secrets(i int, getenv func(string) string, readFile func(string) ([]byte, error)) (map[string]string, error) {
	out := make(map[string]string, len(w.SecretMetadata))
	for _, k := range slices.Sorted(maps.Keys(w.SecretMetadata)) {
		r, sub := w.SecretMetadata[k], fmt.Sprintf("signals.webhooks[%d].secretMetadata.%s", i, k)
		var v string
		if r.Env != "" {
			if v = getenv(r.Env); v == "" {
				return nil, canary.Invalid(sub+".env", r.Env, "the environment variable is not set or is empty")
			}
		} else {
			b, err := readFile(r.File)
			if err != nil {
				return nil, canary.Invalid(sub+".file", r.File, "cannot be read: %v", err)
			}
			if v = strings.TrimSpace(string(b)); v == "" {
				return nil, canary.Invalid(sub+".file", r.File, "is empty")
			}
		}
		if len(v) > MaxMetadataValue {
			return nil, canary.Invalid(sub, nil, "the value read is longer than %d bytes (it is not shown)", MaxMetadataValue)
		}
		out[k] = v
	}
	return out, nil
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
	names := map[string]bool{}
	for i, w := range s.Webhooks {
		if err := w.validate(i, names); err != nil {
			return err
		}
		names[w.Name] = true
	}
	return nil
}

// Webhooks builds the rollout's hook set (nil when the file has no
// webhook): named after the rollout, with its target's namespace, and as
// checksum a hash of the rollout file (Flagger hashes the Canary's spec),
// so that a rollback hook's yes acts once per configuration. getenv and
// readFile read the SecretMetadata values (nil means os.Getenv and
// os.ReadFile).
func (ro *Rollout) Webhooks(getenv func(string) string, readFile func(string) ([]byte, error)) (*hook.Set, error) {
	s := ro.Signals
	if s == nil || len(s.Webhooks) == 0 {
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
	loc, err := ro.Location()
	if err != nil {
		return nil, err
	}
	var hs []hook.Hook
	for i, w := range s.Webhooks {
		md, err := w.secrets(i, getenv, readFile)
		if err != nil {
			return nil, err
		}
		for k, v := range w.Metadata {
			md[k] = v
		}
		if len(md) == 0 {
			md = nil
		}
		hs = append(hs, hook.Hook{Name: w.Name, Type: hook.Type(w.Type), URL: w.URL, Timeout: w.Timeout.D(), Retries: w.Retries, Metadata: md})
	}
	b, err := json.Marshal(ro)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	set, err := hook.New(hook.Config{Name: ro.Name, Namespace: ro.Target.Namespace, Checksum: hex.EncodeToString(sum[:8]), Hooks: hs, Location: loc})
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
	loc, err := ro.Location()
	if err != nil {
		return nil, err
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
			signer, err := trigger.NewHMAC(trigger.HMACConfig{Key: []byte(strings.TrimSpace(string(key)))})
			if err != nil {
				return nil, canary.Invalid(f+".keyFile", n.KeyFile, "%v", err)
			}
			ds = append(ds, notify.Webhook{URL: u, Signer: signer})
		}
	}
	cfg := notify.Config{Next: next, Destinations: ds, Location: loc}
	if s.Report != "" {
		cfg.Report = func(string) string { return s.Report }
	}
	return notify.New(cfg)
}

// ApplyWebhooks adds the file's webhooks (built by [Rollout.Webhooks]
// with getenv and readFile) to cfg: the pre-rollout and rollout hooks as
// a metric judged with the analyzer (a failed hook is a failed check),
// the confirmation hooks as cfg.Gate (when cfg has none), and the event
// and post-rollout hooks around cfg.Sink — so call it after cfg.Sink is
// set. It returns the hook set (nil when the file has no webhook): the
// caller calls its ConfirmRollout before the rollout starts and its
// CheckRollback while it runs (canaryctl run does both).
func (ro *Rollout) ApplyWebhooks(cfg *rollback.Config, getenv func(string) string, readFile func(string) ([]byte, error)) (*hook.Set, error) {
	set, err := ro.Webhooks(getenv, readFile)
	if set == nil || err != nil {
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
