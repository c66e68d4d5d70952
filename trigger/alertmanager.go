package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/display"
)

// Payload is Alertmanager's webhook body, version "4", as documented at
// https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
// (fields this package does not read are kept by the decoder and ignored).
type Payload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"` // "firing" or "resolved"
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a Payload.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Route maps firing alerts to a rollout and an action.
type Route struct {
	// Match lists labels an alert must carry, each with exactly this
	// value (all of them); empty matches every alert. {"service":
	// "checkout", "namespace": "shop"} selects by service and namespace.
	Match map[string]string
	// Rollout names the rollout acted on. When empty, the value of the
	// alert's label named Label names it (an explicit label set by the
	// alerting rule); an alert without that label does not match.
	Rollout string
	// Label is the label read when Rollout is empty; "" means "rollout".
	Label  string
	Action Action
}

func (r Route) validate(i int) error {
	f := "Routes[" + strconv.Itoa(i) + "]"
	if r.Action != Pause && r.Action != RollBack {
		return canary.Invalid(f+".Action", int(r.Action), "must be Pause or RollBack")
	}
	return nil
}

// rollout returns the rollout a firing alert with labels selects, or "".
func (r Route) rollout(labels map[string]string) string {
	for k, v := range r.Match {
		if got, ok := labels[k]; !ok || got != v {
			return ""
		}
	}
	if r.Rollout != "" {
		return r.Rollout
	}
	l := r.Label
	if l == "" {
		l = "rollout"
	}
	return labels[l]
}

// DefaultMaxBody is the zero [Alertmanager] MaxBody: 1 MiB.
const DefaultMaxBody = 1 << 20

// Alertmanager is an http.Handler receiving Alertmanager's webhook
// (webhook_config) and applying, through Applier, the action of every
// Route each firing alert matches, exactly once per alert (the signal's ID
// is the alert's fingerprint and start time, so a repeat of the same
// firing acts once, while the same alert firing again after it resolved
// acts again). A resolved alert does nothing: a rollout paused or rolled
// back stays so until a person acts.
//
// It answers, and applies nothing, with
//
//   - 405 to a method other than POST, 415 to a body that is not JSON,
//   - 413 to a body larger than MaxBody,
//   - 401 to a request Auth refuses (no, or a wrong, token or signature;
//     a stale timestamp), 409 to a replayed signed request,
//   - 400 to a body that is not Alertmanager's version 4 payload.
//
// Otherwise it answers 200 with a JSON summary, or 503 when an action
// could not be taken for now (the store is down, another process holds
// the signal), so that Alertmanager retries; what was applied stays
// applied. Neither answers nor Log ever hold a credential.
type Alertmanager struct {
	Applier *Applier
	Routes  []Route
	// Auth is required: there is no unauthenticated mode.
	Auth Authenticator
	// MaxBody is the largest body read; zero means [DefaultMaxBody].
	MaxBody int64
	// Now is the clock: the instant an action is taken at; nil means
	// time.Now. Tests drive it.
	Now func() time.Time
	// Actor names the sender in the audit trail; "" means "alertmanager".
	Actor string
	// Log, when set, receives one line per request refused or acted on.
	Log func(line string)
	// Location is the time zone of the firing time in the audit reason
	// ("firing since …"); nil means Europe/London (display's default
	// location).
	Location *time.Location
}

// Validate reports a receiver that cannot work, naming the field.
func (h *Alertmanager) Validate() error {
	switch {
	case h.Applier == nil:
		return canary.Invalid("Alertmanager.Applier", nil, "must not be nil")
	case h.Auth == nil:
		return canary.Invalid("Alertmanager.Auth", nil, "must not be nil: use Bearer or NewHMAC")
	case len(h.Routes) == 0:
		return canary.Invalid("Alertmanager.Routes", nil, "must list at least one route")
	case h.MaxBody < 0:
		return canary.Invalid("Alertmanager.MaxBody", h.MaxBody, "must not be negative")
	}
	for i, r := range h.Routes {
		if err := r.validate(i); err != nil {
			return err
		}
	}
	return nil
}

// Result is the JSON body of a 200 or 503 answer.
type Result struct {
	Applied    []Applied `json:"applied"`
	Duplicates int       `json:"duplicates"`
	Refused    []Applied `json:"refused,omitempty"`
	Unmatched  int       `json:"unmatched"`
	Resolved   int       `json:"resolved"`
	Errors     []string  `json:"errors,omitempty"`
}

// Applied names one action taken (or refused by the rollout).
type Applied struct {
	Rollout string `json:"rollout"`
	Action  Action `json:"action"`
	Alert   string `json:"alert"`
	Reason  string `json:"reason,omitempty"`
}

func (h *Alertmanager) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Alertmanager) log(format string, a ...any) {
	if h.Log != nil {
		h.Log(display.OneLine(fmt.Sprintf(format, a...)))
	}
}

func (h *Alertmanager) refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	h.log("alertmanager receiver: %d from %s: %s", code, r.RemoteAddr, msg)
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="meshcanary"`)
	}
	http.Error(w, msg, code)
}

// ServeHTTP implements http.Handler.
func (h *Alertmanager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.Validate(); err != nil {
		h.refuse(w, r, http.StatusInternalServerError, "receiver misconfigured: "+err.Error())
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, "only POST is accepted")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			h.refuse(w, r, http.StatusUnsupportedMediaType, "the body must be application/json")
			return
		}
	}
	max := h.MaxBody
	if max == 0 {
		max = DefaultMaxBody
	}
	if r.ContentLength > max {
		h.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", max))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", max))
			return
		}
		h.refuse(w, r, http.StatusBadRequest, "reading the body failed")
		return
	}
	now := h.now()
	if err := h.Auth.Authenticate(r, body, now); err != nil {
		code := http.StatusUnauthorized
		if errors.Is(err, ErrReplayed) {
			code = http.StatusConflict
		}
		h.refuse(w, r, code, err.Error())
		return
	}
	p, err := DecodePayload(body)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	res, retry := h.apply(r.Context(), now, p)
	code := http.StatusOK
	if retry {
		code = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "10")
	}
	h.log("alertmanager receiver: %d from %s: %d applied, %d duplicates, %d refused, %d unmatched, %d resolved, %d errors",
		code, r.RemoteAddr, len(res.Applied), res.Duplicates, len(res.Refused), res.Unmatched, res.Resolved, len(res.Errors))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(res)
}

// DecodePayload parses and checks an Alertmanager version 4 body. Every
// alert must have a status of "firing" or "resolved", labels with an
// alertname, and a start time.
func DecodePayload(body []byte) (Payload, error) {
	var p Payload
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&p); err != nil {
		return Payload{}, fmt.Errorf("not an Alertmanager payload: %v", err)
	}
	if dec.More() {
		return Payload{}, errors.New("not an Alertmanager payload: trailing data after the JSON object")
	}
	if p.Version != "4" {
		return Payload{}, fmt.Errorf("version is %q; this receiver reads Alertmanager's webhook version \"4\"", p.Version)
	}
	if p.Status != "firing" && p.Status != "resolved" {
		return Payload{}, fmt.Errorf("status is %q; want \"firing\" or \"resolved\"", p.Status)
	}
	if p.Alerts == nil {
		return Payload{}, errors.New("alerts is missing")
	}
	for i, a := range p.Alerts {
		switch {
		case a.Status != "firing" && a.Status != "resolved":
			return Payload{}, fmt.Errorf("alerts[%d].status is %q; want \"firing\" or \"resolved\"", i, a.Status)
		case a.Labels["alertname"] == "":
			return Payload{}, fmt.Errorf("alerts[%d].labels has no alertname", i)
		case a.StartsAt.IsZero():
			return Payload{}, fmt.Errorf("alerts[%d].startsAt is missing", i)
		}
	}
	return p, nil
}

// apply turns every firing alert into signals and applies them; retry
// reports an error worth Alertmanager's retrying.
func (h *Alertmanager) apply(ctx context.Context, now time.Time, p Payload) (res Result, retry bool) {
	res.Applied = []Applied{}
	actor := h.Actor
	if actor == "" {
		actor = "alertmanager"
	}
	if p.Receiver != "" {
		actor += " (receiver " + p.Receiver + ")"
	}
	for _, a := range p.Alerts {
		if a.Status != "firing" {
			res.Resolved++
			continue
		}
		// The strongest action per rollout: rolling back wins over pausing.
		wants := map[string]Action{}
		var order []string
		for _, rt := range h.Routes {
			name := rt.rollout(a.Labels)
			if name == "" {
				continue
			}
			if _, ok := wants[name]; !ok {
				order = append(order, name)
			}
			if rt.Action > wants[name] {
				wants[name] = rt.Action
			}
		}
		if len(order) == 0 {
			res.Unmatched++
			continue
		}
		for _, name := range order {
			s := Signal{ID: alertID(a), Rollout: name, Action: wants[name], Actor: actor, Reason: alertReason(a, h.Location)}
			out, err := h.Applier.Apply(ctx, now, s)
			one := Applied{Rollout: name, Action: s.Action, Alert: a.Labels["alertname"]}
			switch {
			case errors.Is(err, ErrUnknownRollout):
				res.Errors = append(res.Errors, err.Error())
			case err != nil:
				res.Errors = append(res.Errors, err.Error())
				retry = true
			case out.Duplicate:
				res.Duplicates++
			case out.Refused != "":
				one.Reason = out.Refused
				res.Refused = append(res.Refused, one)
			default:
				res.Applied = append(res.Applied, one)
			}
		}
	}
	return res, retry
}

// alertID identifies one firing of an alert: Alertmanager's fingerprint
// of its labels (computed here from the labels when absent) and its start.
func alertID(a Alert) string {
	fp := a.Fingerprint
	if fp == "" {
		fp = labelString(a.Labels)
	}
	return "alertmanager:" + fp + "@" + a.StartsAt.UTC().Format(time.RFC3339Nano)
}

// maxReason bounds the audit reason an alert gives.
const maxReason = 2048

// alertReason says, for the audit trail, which alert fired since when
// (in loc; nil means Europe/London), its summary, and all its labels.
func alertReason(a Alert, loc *time.Location) string {
	var b strings.Builder
	fmt.Fprintf(&b, "alert %s firing since %s", a.Labels["alertname"], display.FormatTimeIn(a.StartsAt, loc))
	if s := a.Annotations["summary"]; s != "" {
		fmt.Fprintf(&b, ": %s", s)
	}
	fmt.Fprintf(&b, "; labels %s", labelString(a.Labels))
	s := display.OneLine(b.String())
	if len(s) > maxReason {
		s = strings.ToValidUTF8(s[:maxReason], "") + "…"
	}
	return s
}

// labelString writes labels as Prometheus does: {a="1", b="2"}, sorted.
func labelString(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, l[k])
	}
	b.WriteByte('}')
	return b.String()
}
