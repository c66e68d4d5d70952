package hook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/trigger"
	"github.com/meshcanary/canary/workload"
)

// Set is the hooks of one rollout. Build it with New.
type Set struct {
	name, namespace, checksum string
	hooks                     []Hook
	client                    *http.Client
	loc                       *time.Location

	mu       sync.Mutex
	preDone  bool     // every pre-rollout hook said yes once
	errs     []string // hook failures, newest last (at most 100)
	lastSeq  uint64   // the last event the Sink passed on
	canaryQ  string
	finalRan bool
}

// Config configures a Set.
type Config struct {
	// Name and Namespace are the rollout's, sent in every payload.
	Name, Namespace string
	// Checksum identifies the rollout's configuration (Flagger hashes the
	// Canary's spec); sent in every payload.
	Checksum string
	Hooks    []Hook
	// Client makes the calls; nil means a client that follows no
	// redirect.
	Client *http.Client
	// Location is the time zone of the event messages (eventMessage, as
	// display.Event writes them); nil means Europe/London.
	Location *time.Location
}

// MetricName is the metric [Set.Metric] measures and [Limit] judges.
const MetricName = "webhooks"

var metricTmpl = metrics.MustParse(metrics.PromQL, MetricName, `meshcanary_webhooks{version="{{version}}"}`)

// New validates cfg and returns its Set.
func New(cfg Config) (*Set, error) {
	if cfg.Name == "" {
		return nil, canary.Invalid("Config.Name", cfg.Name, "must not be empty")
	}
	names := map[string]bool{}
	for i, h := range cfg.Hooks {
		if err := h.Validate(); err != nil {
			return nil, fmt.Errorf("Config.Hooks[%d]: %w", i, err)
		}
		if names[h.Name] {
			return nil, canary.Invalid("Config.Hooks["+strconv.Itoa(i)+"].Name", h.Name, "is used twice")
		}
		names[h.Name] = true
	}
	c := cfg.Client
	if c == nil {
		c = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Set{name: cfg.Name, namespace: cfg.Namespace, checksum: cfg.Checksum, hooks: cfg.Hooks, client: c, loc: cfg.Location}, nil
}

func (s *Set) payload(phase string, md map[string]string) Payload {
	return Payload{Name: s.name, Namespace: s.namespace, Phase: phase, Checksum: s.checksum, Metadata: md}
}

func (s *Set) note(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err.Error())
	if len(s.errs) > 100 {
		s.errs = s.errs[len(s.errs)-100:]
	}
}

// Failures returns the hook failures seen, newest last (at most 100).
func (s *Set) Failures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

// run calls every hook of type t in order and returns the first no.
func (s *Set) run(ctx context.Context, t Type, phase string, md map[string]string) (ran []string, err error) {
	for _, h := range s.hooks {
		if h.Type != t {
			continue
		}
		ran = append(ran, h.Name)
		if err := call(ctx, s.client, h, s.payload(phase, md)); err != nil {
			s.note(err)
			return ran, err
		}
	}
	return ran, nil
}

// ConfirmRollout calls the confirm-rollout hooks: the rollout should not
// be started (its first Step not made) until it returns true. Call it at
// every attempt; true when there is no such hook.
func (s *Set) ConfirmRollout(ctx context.Context) (bool, error) {
	_, err := s.run(ctx, ConfirmRollout, "Initialized", nil)
	if errors.Is(err, ErrRefused) || errors.Is(err, context.DeadlineExceeded) {
		return false, nil
	}
	return err == nil, err
}

// Gate returns the [workload.Gate] of the confirm-traffic-increase and
// confirm-promotion hooks, for rollback.Config.Gate with the plan's
// ApproveIncrease and ApprovePromotion: the rollout holds at the gate
// (and keeps being analysed) until every hook of the kind says yes. A
// gate of a kind with no hook is left to a person (Rollout.Approve).
func (s *Set) Gate() workload.Gate { return gate{s} }

type gate struct{ s *Set }

func (g gate) Check(ctx context.Context, req workload.GateRequest) (workload.Approval, error) {
	t, phase := ConfirmTrafficIncrease, "Waiting"
	if req.Kind == workload.BeforePromotion {
		t, phase = ConfirmPromotion, "WaitingPromotion"
	}
	ran, err := g.s.run(ctx, t, phase, nil)
	switch {
	case len(ran) == 0:
		return workload.Approval{Reason: "no " + string(t) + " hook: waiting for a person"}, nil
	case err != nil:
		return workload.Approval{Reason: err.Error()}, nil
	}
	return workload.Approval{Approved: true, Actor: "webhook " + strings.Join(ran, ", "), Reason: string(t) + " hooks said yes"}, nil
}

// Metric returns the metric that runs the pre-rollout hooks (at every
// analysis until they all said yes once; with Plan.ZeroTraffic that is
// before the canary gets production traffic) and the rollout hooks (at
// every analysis): 1 when every hook called said yes, 0 when one said no,
// timed out or could not be reached. Judge it with [Limit], so that a
// failed hook counts as a failed check, as in Flagger. canaryVersion is
// rollback.Target.Canary.Version (only the canary's query calls hooks).
func (s *Set) Metric(canaryVersion string) (rollback.Metric, error) {
	q, err := metricTmpl.Render(metrics.Vars{Version: canaryVersion, Window: time.Minute})
	if err != nil {
		return rollback.Metric{}, err
	}
	s.mu.Lock()
	s.canaryQ = q
	s.mu.Unlock()
	return rollback.Metric{Name: MetricName, Provider: provider{s}, Query: metricTmpl}, nil
}

// Limit is the threshold that judges [Set.Metric].
func Limit() analysis.Limit { return analysis.AtLeast(MetricName, 1) }

type provider struct{ s *Set }

func (p provider) Query(ctx context.Context, q metrics.Query) (metrics.Result, error) {
	s := p.s
	s.mu.Lock()
	isCanary, preDone := q.Text == s.canaryQ, s.preDone
	s.mu.Unlock()
	if !isCanary {
		return metrics.Result{Value: 1}, nil // stable and baseline: nothing to call
	}
	if !preDone {
		if _, err := s.run(ctx, PreRollout, "Progressing", nil); err != nil {
			return metrics.Result{Value: 0, Count: 1}, nil
		}
		s.mu.Lock()
		s.preDone = true
		s.mu.Unlock()
	}
	if _, err := s.run(ctx, Rollout, "Progressing", nil); err != nil {
		return metrics.Result{Value: 0, Count: 1}, nil
	}
	return metrics.Result{Value: 1, Count: 1}, nil
}

// flaggerPhase names a rollout's phase as Flagger names a Canary's.
func flaggerPhase(p rollback.Phase) string {
	switch p {
	case rollback.Pending:
		return "Initialized"
	case rollback.Paused, rollback.AwaitingApproval:
		return "Waiting"
	case rollback.Promoting:
		return "Promoting"
	case rollback.Succeeded:
		return "Succeeded"
	case rollback.RollingBack, rollback.RolledBack:
		return "Failed"
	}
	return "Progressing"
}

// Sink wraps next (the rollout's audit sink): once next accepted an
// event, the event hooks are told of it (Flagger's event payload) and,
// when the rollout became final, the post-rollout hooks are called. A
// hook's failure is only reported (Failures), never refused to the
// rollout; each call is cut at its hook's timeout.
func (s *Set) Sink(next rollback.Sink) rollback.Sink {
	return rollback.SinkFunc(func(ctx context.Context, e rollback.Event) error {
		if next != nil {
			if err := next.Record(ctx, e); err != nil {
				return err
			}
		}
		s.mu.Lock()
		if e.Seq != 0 && e.Seq <= s.lastSeq {
			s.mu.Unlock()
			return nil // offered again: told already
		}
		s.lastSeq = e.Seq
		final := e.Kind == rollback.KindTransition && e.To.Final() && !s.finalRan
		if final {
			s.finalRan = true
		}
		s.mu.Unlock()
		typ := "Normal"
		if e.Kind == rollback.KindFailure || e.Kind == rollback.KindAlert || (e.Kind == rollback.KindTransition && e.To == rollback.RollingBack) {
			typ = "Warning"
		}
		_, _ = s.run(ctx, Event, flaggerPhase(e.To), map[string]string{
			"eventMessage": display.Event(e, s.loc), "eventType": typ,
			"timestamp": strconv.FormatInt(e.Time.UnixMilli(), 10),
		})
		if final {
			_, _ = s.run(ctx, PostRollout, flaggerPhase(e.To), nil)
		}
		return nil
	})
}

// CheckRollback asks the rollback hooks; when one says yes, the rollout
// is rolled back through a, exactly once per hook and checksum (the
// hook's yes repeated at every check acts once), with the hook named as
// the actor. It reports whether a hook said yes.
func (s *Set) CheckRollback(ctx context.Context, now time.Time, a *trigger.Applier) (bool, error) {
	for _, h := range s.hooks {
		if h.Type != Rollback {
			continue
		}
		if err := call(ctx, s.client, h, s.payload("Progressing", nil)); err != nil {
			continue // a no (or no answer) is the normal case
		}
		_, err := a.Apply(ctx, now, trigger.Signal{
			ID: "hook:" + h.Name + "@" + s.checksum, Rollout: s.name, Action: trigger.RollBack,
			Actor: "webhook " + h.Name, Reason: "the rollback hook " + h.Name + " said yes",
		})
		return true, err
	}
	return false, nil
}
