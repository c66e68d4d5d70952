package kubernetes

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
)

// Annotations on the Events that Events records.
const (
	// EventRolloutAnnotation names the rollout an Event is about.
	EventRolloutAnnotation = "meshcanary.dev/rollout"
	// EventSeqAnnotation holds the rollout event's sequence number.
	EventSeqAnnotation = "meshcanary.dev/seq"
)

// EventsConfig configures Events. The zero value is client-go's event
// recorder's defaults.
type EventsConfig struct {
	// Component is the Events' source component; zero means
	// FieldManager ("meshcanary").
	Component string
	// Host is the Events' source host (the replica's pod name, say);
	// zero leaves it empty.
	Host string
	// Burst and QPS are the spam filter's token bucket for one object and
	// reason: Burst Events at once, refilled at QPS per second. Zero means
	// client-go's defaults, 25 and 1/300 (one every five minutes).
	Burst int
	QPS   float32
	// Clock is the spam filter's clock; nil means the real one. Tests set
	// a fake clock so that refills come from explicit instants.
	Clock clock.PassiveClock
}

// Events records a rollout's events as Kubernetes Events on an object (the
// rollout's custom resource, or the canary Deployment), where kubectl
// describe shows them with a reason and a one-line message. It is usable
// on its own, without the example controller:
//
//	ev := kubernetes.NewEvents(client, kubernetes.EventsConfig{})
//	cfg.Sink = ev.Sink(&corev1.ObjectReference{Kind: "Deployment", APIVersion: "apps/v1",
//		Namespace: "shop", Name: "checkout-canary", UID: dep.UID})
//
// Rate limiting is client-go's event recorder's spam filter
// (record.EventSourceObjectSpamFilter, with the same defaults: a burst of
// 25 per object, refilled one every five minutes), keyed here by object,
// type and reason, so that a flood of verdicts cannot hide a rollback. An
// Event over the rate is dropped, as the recorder drops it; the audit trail
// (an audit.JSONLines or other Sink) is the complete record.
//
// Each Event's name is derived from the object and the rollout event's
// sequence number, and written with a plain create: a rollout that offers
// an event again after a crash (it was recorded but the rollout's state
// did not yet say so) gets AlreadyExists, which counts as recorded, so each
// rollout event appears at most once. Unlike client-go's recorder, Record
// is synchronous: it returns when the API server has answered, and it
// returns transient errors (timeouts, 5xx, 429) so that the rollout offers
// the event again at its next step; errors that a retry cannot cure
// (Forbidden, Invalid) are counted in Dropped and not returned.
type Events struct {
	client  k8s.Interface
	cfg     EventsConfig
	filter  *record.EventSourceObjectSpamFilter
	dropped atomic.Int64
	limited atomic.Int64
}

// NewEvents returns an Events writing through client.
func NewEvents(client k8s.Interface, cfg EventsConfig) *Events {
	if cfg.Component == "" {
		cfg.Component = FieldManager
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 25
	}
	if cfg.QPS <= 0 {
		cfg.QPS = 1. / 300.
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	spamKey := func(e *corev1.Event) string {
		return strings.Join([]string{e.Source.Component, e.Source.Host, e.InvolvedObject.Kind,
			e.InvolvedObject.Namespace, e.InvolvedObject.Name, string(e.InvolvedObject.UID),
			e.InvolvedObject.APIVersion, e.Type, e.Reason}, "\x00")
	}
	return &Events{client: client, cfg: cfg,
		filter: record.NewEventSourceObjectSpamFilter(4096, cfg.Burst, cfg.QPS, cfg.Clock, spamKey)}
}

// Dropped is the number of Events the API server refused for good
// (Forbidden, Invalid) since NewEvents.
func (e *Events) Dropped() int64 { return e.dropped.Load() }

// RateLimited is the number of Events the spam filter dropped.
func (e *Events) RateLimited() int64 { return e.limited.Load() }

// Sink returns a [rollback.Sink] that records events on obj, which must
// name the object's Kind, APIVersion, Namespace and Name (and, better, its
// UID, so that Events of a deleted and re-created object are not mixed).
func (e *Events) Sink(obj *corev1.ObjectReference) rollback.Sink {
	return rollback.SinkFunc(func(ctx context.Context, ev rollback.Event) error {
		return e.Record(ctx, obj, ev)
	})
}

// Record records ev as an Event on obj.
func (e *Events) Record(ctx context.Context, obj *corev1.ObjectReference, ev rollback.Event) error {
	if obj == nil || obj.Name == "" || obj.Namespace == "" || obj.Kind == "" {
		return canary.Invalid("obj", obj, "must name the object's kind, namespace and name")
	}
	typ, reason, msg := Describe(ev)
	when := metav1.NewTime(ev.Time)
	if ev.Time.IsZero() {
		when = metav1.NewTime(e.cfg.Clock.Now())
	}
	k8sEv := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:        eventName(obj, ev),
			Namespace:   obj.Namespace,
			Annotations: map[string]string{EventRolloutAnnotation: ev.Rollout, EventSeqAnnotation: strconv.FormatUint(ev.Seq, 10)},
			Labels:      map[string]string{ManagedByLabel: FieldManager},
		},
		InvolvedObject: *obj,
		Reason:         reason,
		Message:        msg,
		Type:           typ,
		Source:         corev1.EventSource{Component: e.cfg.Component, Host: e.cfg.Host},
		FirstTimestamp: when,
		LastTimestamp:  when,
		Count:          1,
	}
	if e.filter.Filter(k8sEv) {
		e.limited.Add(1)
		return nil
	}
	_, err := e.client.CoreV1().Events(obj.Namespace).Create(ctx, k8sEv, metav1.CreateOptions{FieldManager: FieldManager})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.IsForbidden(err), apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsNotFound(err):
		e.dropped.Add(1)
		return nil
	}
	return fmt.Errorf("kubernetes: recording event %d of rollout %q on %s %s/%s: %w", ev.Seq, ev.Rollout, obj.Kind, obj.Namespace, obj.Name, err)
}

// eventName is the object's name, the first characters of its UID and the
// event's number: the same rollout event always gets the same name.
func eventName(obj *corev1.ObjectReference, ev rollback.Event) string {
	name := obj.Name
	if len(name) > 200 {
		name = name[:200]
	}
	uid := strings.ReplaceAll(string(obj.UID), "-", "")
	if len(uid) > 8 {
		uid = uid[:8]
	}
	if uid == "" {
		uid = "0"
	}
	return fmt.Sprintf("%s.mc%s.%d", name, uid, ev.Seq)
}

// maxMessage bounds an Event's message (the API server's limit for
// events.k8s.io notes is 1 KiB; core Events are kept to the same).
const maxMessage = 1024

// Describe returns the Event type (Normal or Warning), the reason (a
// CamelCase word, as kubectl describe lists it) and the one-line message
// for a rollout event.
func Describe(ev rollback.Event) (typ, reason, message string) {
	typ = corev1.EventTypeNormal
	var b strings.Builder
	switch ev.Kind {
	case rollback.KindTransition:
		reason = camel(ev.To.String())
		if ev.To == rollback.RollingBack || ev.To == rollback.RolledBack || ev.To == rollback.Paused && ev.Actor == "policy" {
			typ = corev1.EventTypeWarning
		}
		fmt.Fprintf(&b, "%s → %s", ev.From, ev.To)
		if ev.WeightFrom != ev.WeightTo {
			fmt.Fprintf(&b, ", canary %d %% → %d %%", ev.WeightFrom, ev.WeightTo)
		}
	case rollback.KindAnalysis:
		reason = "Analysis"
		if v := ev.Verdict; v != nil {
			reason += camel(v.Outcome.String())
			if v.Outcome == analysis.Fail {
				typ = corev1.EventTypeWarning
			}
			fmt.Fprintf(&b, "analysis at canary %d %%: %s", ev.WeightTo, v.Outcome)
			if v.Reason != "" {
				fmt.Fprintf(&b, ": %s", v.Reason)
			}
			if ev.Failures > 0 {
				fmt.Fprintf(&b, " (failures %d)", ev.Failures)
			}
		}
	case rollback.KindAction:
		reason = camel(ev.Action)
		b.WriteString(ev.Action)
		if ev.Split != nil {
			fmt.Fprintf(&b, " canary %d %%", ev.Split.Canary)
		}
	case rollback.KindManual:
		reason = "Manual" + camel(ev.Action)
		b.WriteString(ev.Action)
	case rollback.KindFailure:
		typ, reason = corev1.EventTypeWarning, "Failed"+camel(ev.Action)
		fmt.Fprintf(&b, "%s failed: %s", ev.Action, ev.Error)
	default:
		reason = camel(string(ev.Kind))
	}
	if reason == "" {
		reason = "Rollout"
	}
	if ev.Actor != "" {
		fmt.Fprintf(&b, " by %s", ev.Actor)
	}
	if ev.Reason != "" && ev.Kind != rollback.KindAnalysis {
		fmt.Fprintf(&b, ": %s", ev.Reason)
	}
	message = b.String()
	if len(message) > maxMessage {
		cut := maxMessage - len("…")
		for cut > 0 && !isRuneStart(message[cut]) {
			cut--
		}
		message = message[:cut] + "…"
	}
	return typ, reason, message
}

func isRuneStart(c byte) bool { return c&0xC0 != 0x80 }

// camel turns "rolling-back" or "set-split" into "RollingBack", "SetSplit".
func camel(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if r == '-' || r == '_' || r == ' ' {
			up = true
			continue
		}
		if up && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		up = false
		b.WriteRune(r)
	}
	return b.String()
}

// Warn records a Warning Event on obj that is not a rollout event (a
// custom resource the controller cannot drive, say), named as client-go's
// recorder names Events (the object's name and a timestamp) and subject to
// the same spam filter.
func (e *Events) Warn(ctx context.Context, obj *corev1.ObjectReference, reason, message string) error {
	if obj == nil || obj.Name == "" || obj.Namespace == "" || obj.Kind == "" {
		return canary.Invalid("obj", obj, "must name the object's kind, namespace and name")
	}
	if len(message) > maxMessage {
		message = message[:maxMessage-3] + "..."
	}
	now := metav1.NewTime(e.cfg.Clock.Now())
	k8sEv := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%v.%x", obj.Name, now.UnixNano()),
			Namespace: obj.Namespace,
			Labels:    map[string]string{ManagedByLabel: FieldManager},
		},
		InvolvedObject: *obj, Reason: reason, Message: message, Type: corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: e.cfg.Component, Host: e.cfg.Host},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	if e.filter.Filter(k8sEv) {
		e.limited.Add(1)
		return nil
	}
	_, err := e.client.CoreV1().Events(obj.Namespace).Create(ctx, k8sEv, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kubernetes: recording a %s Event on %s %s/%s: %w", reason, obj.Kind, obj.Namespace, obj.Name, err)
	}
	return nil
}
