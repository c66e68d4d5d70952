package hook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/display"
)

// Type is when a hook is called, with Flagger's names and meanings
// (https://docs.flagger.app/usage/webhooks).
type Type string

// The hook types.
const (
	// ConfirmRollout: before the rollout starts; it waits until every
	// such hook says yes ([Set.ConfirmRollout]).
	ConfirmRollout Type = "confirm-rollout"
	// PreRollout: before the canary gets traffic; a failure counts as a
	// failed check ([Set.Provider]).
	PreRollout Type = "pre-rollout"
	// Rollout: at every analysis, before the metrics are judged (a load
	// test); a failure counts as a failed check.
	Rollout Type = "rollout"
	// ConfirmTrafficIncrease: before the canary's weight rises; the
	// rollout holds until it says yes ([Set.Gate], workload.BeforeIncrease).
	ConfirmTrafficIncrease Type = "confirm-traffic-increase"
	// ConfirmPromotion: before the promotion; the rollout holds until it
	// says yes (workload.BeforePromotion).
	ConfirmPromotion Type = "confirm-promotion"
	// PostRollout: once the rollout is promoted or rolled back; a failure
	// is only reported.
	PostRollout Type = "post-rollout"
	// Rollback: asked while the rollout analyses or waits for an
	// approval; a yes rolls it back ([Set.CheckRollback]).
	Rollback Type = "rollback"
	// Event: told of every event of the audit trail ([Set.Sink]).
	Event Type = "event"
)

var types = []Type{ConfirmRollout, PreRollout, Rollout, ConfirmTrafficIncrease, ConfirmPromotion, PostRollout, Rollback, Event}

// DefaultTimeout is the zero Hook.Timeout.
const DefaultTimeout = 60 * time.Second

// Hook is one webhook, as Flagger's Canary spec declares it
// (analysis.webhooks[]: name, type, url, timeout, metadata), plus Retries.
type Hook struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
	// URL is called with POST and the Payload; a 2xx answer is a yes, any
	// other answer, a transport error or the timeout a no.
	URL string `json:"url,omitempty"`
	// Func, when set instead of URL, is called in-process (a LoadTest).
	Func func(ctx context.Context, p Payload) error `json:"-"`
	// Timeout cuts one call; zero means DefaultTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Retries is how many more times a call that failed by a transport
	// error, a timeout or a 5xx is made at once; zero means none.
	Retries  int               `json:"retries,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Validate reports the first bad field, naming it.
func (h Hook) Validate() error {
	if h.Name == "" {
		return canary.Invalid("Hook.Name", h.Name, "must not be empty")
	}
	known := false
	for _, t := range types {
		known = known || h.Type == t
	}
	if !known {
		return canary.Invalid("Hook.Type", string(h.Type), "must be one of Flagger's hook types (confirm-rollout, pre-rollout, rollout, confirm-traffic-increase, confirm-promotion, post-rollout, rollback, event)")
	}
	if (h.URL == "") == (h.Func == nil) {
		return canary.Invalid("Hook.URL", nil, "exactly one of URL and Func must be set")
	}
	if h.URL != "" {
		u, err := url.Parse(h.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return canary.Invalid("Hook.URL", "(not shown)", "must be an http or https URL")
		}
	}
	if h.Timeout < 0 || h.Retries < 0 || h.Retries > 10 {
		return canary.Invalid("Hook.Timeout", h.Timeout, "must not be negative, and Retries 0 to 10")
	}
	return nil
}

// Payload is what a hook is sent: Flagger's webhook payload (name,
// namespace, phase, checksum, metadata), with, for event hooks, the
// metadata keys eventMessage, eventType and timestamp (Unix
// milliseconds) as Flagger's event payload has them.
type Payload struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Phase     string            `json:"phase"`
	Checksum  string            `json:"checksum"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// ErrRefused: a hook said no (a non-2xx answer); its answer's first
// line is in the error.
var ErrRefused = errors.New("hook: refused")

// maxAnswer bounds what is read of a hook's answer.
const maxAnswer = 64 << 10

// call calls h once per attempt until a yes, a definite no (4xx), or its
// retries are spent. Errors never quote the URL.
func call(ctx context.Context, client *http.Client, h Hook, p Payload) error {
	timeout := h.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if h.Metadata != nil {
		md := make(map[string]string, len(h.Metadata)+len(p.Metadata))
		for k, v := range h.Metadata {
			md[k] = v
		}
		for k, v := range p.Metadata {
			md[k] = v
		}
		p.Metadata = md
	}
	var err error
	for attempt := 0; attempt <= h.Retries; attempt++ {
		var retry bool
		retry, err = once(ctx, client, h, p, timeout)
		if err == nil || !retry || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("hook %s (%s): %w", h.Name, h.Type, err)
	}
	return nil
}

func once(ctx context.Context, client *http.Client, h Hook, p Payload, timeout time.Duration) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if h.Func != nil {
		done := make(chan error, 1)
		go func() { done <- h.Func(ctx, p) }()
		select {
		case err := <-done:
			return false, err
		case <-ctx.Done():
			return true, fmt.Errorf("cut at its %s timeout", timeout)
		}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("bad URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return true, fmt.Errorf("cut at its %s timeout", timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	line, _, _ := strings.Cut(string(answer), "\n")
	if len(line) > 200 {
		line = line[:200]
	}
	line = strings.ToValidUTF8(line, "")
	if !utf8.ValidString(line) {
		line = ""
	}
	msg := "answered " + strconv.Itoa(resp.StatusCode)
	if line = strings.TrimSpace(line); line != "" {
		msg += ": " + display.OneLine(line)
	}
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests, fmt.Errorf("%w: %s", ErrRefused, msg)
}
