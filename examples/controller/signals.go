package main

// spec.signals: Flagger-style webhooks (package hook) and notifications
// (package notify), with the rollout file's field names (spec.Signals).
// A credential never sits in the Rollout: a notification's URL (an
// incoming webhook's path is its key), a signed webhook's HMAC key and a
// webhook's secret metadata are read from Secrets of the Rollout's
// namespace when the rollout is loaded.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/hook"
	"github.com/meshcanary/canary/notify"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/trigger"
)

// Signals is spec.signals: the webhooks the rollout calls and who is
// told what it decided.
type Signals struct {
	// Webhooks are Flagger-style hooks, as a Flagger Canary's
	// analysis.webhooks declares them.
	Webhooks []WebhookSpec `json:"webhooks,omitempty"`
	// Notify are the destinations of the rollout's decisions.
	Notify []NotifySpec `json:"notify,omitempty"`
	// Report is the link put in every message; empty means none.
	Report string `json:"report,omitempty"`
}

// WebhookSpec is one hook (hook.Hook).
type WebhookSpec struct {
	Name string `json:"name"`
	// Type is when the hook is called, with Flagger's names:
	// confirm-rollout, pre-rollout, rollout, confirm-traffic-increase,
	// confirm-promotion, post-rollout or event. (Flagger's rollback type
	// is refused: the controller rolls back on alerts through its
	// Alertmanager receiver instead.)
	Type string `json:"type"`
	URL  string `json:"url"`
	// Timeout cuts one call (a duration such as "10s"); empty means
	// hook.DefaultTimeout.
	Timeout string `json:"timeout,omitempty"`
	// Retries is how many more times a call that failed by a transport
	// error, a timeout, a 429 or a 5xx is made: 0 to 10.
	Retries int `json:"retries,omitempty"`
	// Metadata is sent in every payload; it is stored in the Rollout, so
	// it must hold no secret: put those in SecretMetadata.
	Metadata map[string]string `json:"metadata,omitempty"`
	// SecretMetadata adds metadata keys whose values are read from
	// Secrets of the Rollout's namespace.
	SecretMetadata map[string]SecretKeyRef `json:"secretMetadata,omitempty"`
}

// SecretKeyRef names one key of a Secret in the Rollout's namespace.
type SecretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// NotifySpec is one destination of package notify.
type NotifySpec struct {
	// Kind is slack, teams or webhook (the message as JSON, signed with
	// HMAC-SHA256).
	Kind string `json:"kind"`
	// URLSecretRef holds the destination's URL. Required.
	URLSecretRef *SecretKeyRef `json:"urlSecretRef"`
	// KeySecretRef holds the HMAC key (at least 32 bytes) a webhook's
	// messages are signed with; for kind webhook only, which requires it.
	KeySecretRef *SecretKeyRef `json:"keySecretRef,omitempty"`
}

// webhookTypes are the hook types the controller runs.
var webhookTypes = []string{"confirm-rollout", "pre-rollout", "rollout", "confirm-traffic-increase", "confirm-promotion", "post-rollout", "event"}

// Bounds of spec.signals.
const (
	maxWebhooks      = 20
	maxNotify        = 10
	maxWebhookMeta   = 64
	maxMetadataValue = 16 << 10
)

var metadataKey = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_.\-]{0,251}[A-Za-z0-9])?$`)

// checkSignals checks spec.signals as written (the Secrets are read
// later, by [Controller.signals]) and sets the plan's gates the
// confirmation hooks hold. No error shows a URL or a metadata value.
func checkSignals(s *Signals, plan *rollback.Plan) error {
	if s == nil {
		return nil
	}
	const f = "spec.signals"
	if len(s.Webhooks) > maxWebhooks {
		return canary.Invalid(f+".webhooks", len(s.Webhooks), "must list at most %d webhooks", maxWebhooks)
	}
	if len(s.Notify) > maxNotify {
		return canary.Invalid(f+".notify", len(s.Notify), "must list at most %d destinations", maxNotify)
	}
	names := map[string]bool{}
	for i, w := range s.Webhooks {
		wf := fmt.Sprintf("%s.webhooks[%d]", f, i)
		switch {
		case w.Name == "":
			return canary.Invalid(wf+".name", w.Name, "must not be empty")
		case names[w.Name]:
			return canary.Invalid(wf+".name", w.Name, "is used by another webhook")
		case !slices.Contains(webhookTypes, w.Type):
			return canary.Invalid(wf+".type", w.Type, "must be one of %s", strings.Join(webhookTypes, ", "))
		case w.Retries < 0 || w.Retries > 10:
			return canary.Invalid(wf+".retries", w.Retries, "must be 0 to 10")
		case len(w.Metadata)+len(w.SecretMetadata) > maxWebhookMeta:
			return canary.Invalid(wf+".metadata", len(w.Metadata)+len(w.SecretMetadata), "must hold at most %d keys, with secretMetadata", maxWebhookMeta)
		}
		names[w.Name] = true
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return canary.Invalid(wf+".url", nil, "must be an http or https URL with a host")
		}
		if _, err := duration(wf+".timeout", w.Timeout, false); err != nil {
			return err
		}
		for _, k := range slices.Sorted(maps.Keys(w.Metadata)) {
			switch {
			case !metadataKey.MatchString(k):
				return canary.Invalid(wf+".metadata", k, "keys are 1 to 253 letters, digits, '-', '_' and '.', starting and ending with a letter or digit")
			case len(w.Metadata[k]) > maxMetadataValue:
				return canary.Invalid(wf+".metadata."+k, nil, "must be at most %d bytes (the value is not shown)", maxMetadataValue)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(w.SecretMetadata)) {
			sub := wf + ".secretMetadata." + k
			if _, plain := w.Metadata[k]; plain {
				return canary.Invalid(sub, nil, "is also in metadata; give a key in one of them")
			}
			if !metadataKey.MatchString(k) {
				return canary.Invalid(wf+".secretMetadata", k, "keys are 1 to 253 letters, digits, '-', '_' and '.', starting and ending with a letter or digit")
			}
			if err := checkRef(sub, w.SecretMetadata[k]); err != nil {
				return err
			}
		}
		switch w.Type {
		case "confirm-promotion":
			plan.ApprovePromotion = true
		case "confirm-traffic-increase":
			plan.ApproveIncrease = true
		}
	}
	for i, n := range s.Notify {
		nf := fmt.Sprintf("%s.notify[%d]", f, i)
		switch {
		case n.Kind != "slack" && n.Kind != "teams" && n.Kind != "webhook":
			return canary.Invalid(nf+".kind", n.Kind, "must be slack, teams or webhook")
		case n.URLSecretRef == nil:
			return canary.Invalid(nf+".urlSecretRef", nil, "is required (the URL is a credential: it is read from a Secret, never written in the Rollout)")
		case n.Kind == "webhook" && n.KeySecretRef == nil:
			return canary.Invalid(nf+".keySecretRef", nil, "a webhook's messages are signed: name the Secret key holding the HMAC key")
		case n.Kind != "webhook" && n.KeySecretRef != nil:
			return canary.Invalid(nf+".keySecretRef", nil, "only a webhook is signed")
		}
		if err := checkRef(nf+".urlSecretRef", *n.URLSecretRef); err != nil {
			return err
		}
		if n.KeySecretRef != nil {
			if err := checkRef(nf+".keySecretRef", *n.KeySecretRef); err != nil {
				return err
			}
		}
	}
	if s.Report != "" {
		if u, err := url.Parse(s.Report); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return canary.Invalid(f+".report", s.Report, "must be an http or https URL")
		}
	}
	return nil
}

var secretKey = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)

func checkRef(field string, r SecretKeyRef) error {
	if err := dnsLabel(field+".name", r.Name); err != nil {
		return err
	}
	if len(r.Key) == 0 || len(r.Key) > 253 || !secretKey.MatchString(r.Key) {
		return canary.Invalid(field+".key", r.Key, "must be a Secret's key: letters, digits, '-', '_' and '.'")
	}
	return nil
}

// signalsWiring is what [Controller.signals] attached to a rollout's
// configuration.
type signalsWiring struct {
	hooks    *hook.Set        // nil without webhooks
	notifier *notify.Notifier // nil without notifications
}

// signals reads the Secrets spec.signals names and attaches the webhooks
// and notifications to cfg (after cfg.Sink is set): the notifier around
// the Events sink, then, as canaryctl does it (spec.Rollout.ApplyWebhooks),
// the pre-rollout and rollout hooks as a metric judged by hook.Limit (a
// failed hook is a failed check), the confirmation hooks as cfg.Gate and
// the event and post-rollout hooks around the sink. A missing Secret or
// key, or a value that is not usable, is a *[canary.FieldError] naming
// the reference, never showing a value.
func (c *Controller) signals(ctx context.Context, ro *Rollout, cfg *rollback.Config) (signalsWiring, error) {
	var w signalsWiring
	s := ro.Spec.Signals
	if s == nil {
		return w, nil
	}
	secrets := map[string]map[string][]byte{}
	read := func(field string, r SecretKeyRef) (string, error) {
		data, ok := secrets[r.Name]
		if !ok {
			sec, err := c.o.Kube.CoreV1().Secrets(ro.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
				return "", canary.Invalid(field+".name", r.Name, "no such Secret in namespace %s", ro.Namespace)
			case apierrors.IsForbidden(err):
				return "", canary.Invalid(field+".name", r.Name, "the controller may not read this Secret (deploy/rbac.yaml grants get on secrets)")
			case err != nil:
				return "", fmt.Errorf("%s: reading Secret %s/%s: %w", field, ro.Namespace, r.Name, err)
			}
			data = sec.Data
			secrets[r.Name] = data
		}
		v := strings.TrimSpace(string(data[r.Key]))
		if v == "" {
			return "", canary.Invalid(field+".key", r.Key, "Secret %s has no such key, or its value is empty", r.Name)
		}
		return v, nil
	}
	if len(s.Notify) > 0 {
		var ds []notify.Destination
		for i, n := range s.Notify {
			nf := fmt.Sprintf("spec.signals.notify[%d]", i)
			u, err := read(nf+".urlSecretRef", *n.URLSecretRef)
			if err != nil {
				return w, err
			}
			if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				return w, canary.Invalid(nf+".urlSecretRef", n.URLSecretRef.Name+"/"+n.URLSecretRef.Key, "must hold an http or https URL (its value is not shown)")
			}
			switch n.Kind {
			case "slack":
				ds = append(ds, notify.Slack{URL: u})
			case "teams":
				ds = append(ds, notify.Teams{URL: u})
			default:
				key, err := read(nf+".keySecretRef", *n.KeySecretRef)
				if err != nil {
					return w, err
				}
				signer, err := trigger.NewHMAC(trigger.HMACConfig{Key: []byte(key)})
				if err != nil {
					return w, canary.Invalid(nf+".keySecretRef", n.KeySecretRef.Name+"/"+n.KeySecretRef.Key, "must hold an HMAC key of at least 32 bytes (its value is not shown)")
				}
				ds = append(ds, notify.Webhook{URL: u, Signer: signer})
			}
		}
		nc := c.o.Notify
		nc.Next, nc.Destinations = cfg.Sink, ds
		if s.Report != "" {
			nc.Report = func(string) string { return s.Report }
		}
		log := c.o.Log.With("rollout", ro.Namespace+"/"+ro.Name)
		nc.Failed = func(f notify.Failure) {
			// notify's errors never quote a destination's URL.
			log.Warn("a notification was not delivered", "destination", f.Destination, "title", f.Message.Title, "err", f.Err)
		}
		n, err := notify.New(nc)
		if err != nil {
			return w, err
		}
		cfg.Sink, w.notifier = n, n
	}
	if len(s.Webhooks) > 0 {
		hs := make([]hook.Hook, 0, len(s.Webhooks))
		for i, wh := range s.Webhooks {
			wf := fmt.Sprintf("spec.signals.webhooks[%d]", i)
			md := make(map[string]string, len(wh.Metadata)+len(wh.SecretMetadata))
			for _, k := range slices.Sorted(maps.Keys(wh.SecretMetadata)) {
				v, err := read(wf+".secretMetadata."+k, wh.SecretMetadata[k])
				if err != nil {
					return w, err
				}
				md[k] = v
			}
			maps.Copy(md, wh.Metadata)
			if len(md) == 0 {
				md = nil
			}
			timeout, _ := duration(wf+".timeout", wh.Timeout, false) // checked by checkSignals
			hs = append(hs, hook.Hook{Name: wh.Name, Type: hook.Type(wh.Type), URL: wh.URL, Timeout: timeout, Retries: wh.Retries, Metadata: md})
		}
		// The checksum identifies the configuration, as Flagger's hash of
		// the Canary's spec: here the Rollout's generation and UID.
		sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", ro.UID, ro.Generation))
		set, err := hook.New(hook.Config{Name: ro.Name, Namespace: ro.Namespace, Checksum: hex.EncodeToString(sum[:8]), Hooks: hs})
		if err != nil {
			return w, err
		}
		m, err := set.Metric(cfg.Target.Canary.Version)
		if err != nil {
			return w, err
		}
		cfg.Metrics = append(cfg.Metrics, m)
		limit := analysis.Threshold{Limits: []analysis.Limit{hook.Limit()}}
		if cfg.Analyzer == nil {
			cfg.Analyzer = limit
		} else {
			cfg.Analyzer = analysis.All(cfg.Analyzer, limit)
		}
		cfg.Gate = set.Gate()
		cfg.Sink = set.Sink(cfg.Sink)
		w.hooks = set
	}
	return w, nil
}
