package rollback

import (
	"context"
	"sync"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/traffic"
)

// Recording supplies what would have been observed at an analysis instant,
// given the split in force then. Replay calls it once per analysis.
type Recording func(now time.Time, split traffic.Split) []analysis.Observation

// ReplayResult is what a policy would have done.
type ReplayResult struct {
	// Events are every event the rollout would have emitted, in order.
	Events []Event
	// Final is the status at the end of the replay.
	Final Status
	// Decided is when the rollout reached Succeeded or RolledBack (or
	// started rolling back); zero if it did not by the end.
	Decided time.Time
	// Looks is how many analyses ran.
	Looks int
}

// Replay runs cfg's plan, policy and analyzer over rec from start to until
// (inclusive), stepping at the instants the rollout itself asks for
// (Status.Next), with an in-memory router and no clock. cfg.Router,
// cfg.Metrics, cfg.Scaler, cfg.Readiness, cfg.Gate and cfg.Sink are
// ignored; gates are never approved. It returns the decisions and the
// instants they would have been taken, so a policy can be tuned on
// recorded data before it meets production.
func Replay(ctx context.Context, cfg Config, start, until time.Time, rec Recording) (ReplayResult, error) {
	if rec == nil {
		return ReplayResult{}, canary.Invalid("Replay.rec", nil, "must not be nil")
	}
	if until.Before(start) {
		return ReplayResult{}, canary.Invalid("Replay.until", until, "must not be before start %v", start)
	}
	var res ReplayResult
	cfg.Router = &memRouter{split: traffic.AllStable()}
	cfg.Metrics, cfg.Scaler, cfg.Readiness, cfg.Gate = nil, nil, nil, nil
	cfg.Sink = SinkFunc(func(_ context.Context, e Event) error {
		res.Events = append(res.Events, e)
		if e.Kind == Transition && res.Decided.IsZero() && (e.To == RollingBack || e.To.Final()) {
			res.Decided = e.Time
		}
		return nil
	})
	r, err := New(cfg)
	if err != nil {
		return ReplayResult{}, err
	}
	r.source = func(_ context.Context, now time.Time, split traffic.Split) []analysis.Observation {
		return rec(now, split)
	}
	now := start
	for !now.After(until) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		st, err := r.Step(ctx, now)
		res.Final = st
		if err != nil {
			return res, err
		}
		if st.Phase.Final() {
			break
		}
		next := st.Next
		if !next.After(now) {
			next = now.Add(r.m.plan.interval)
		}
		now = next
	}
	res.Looks = r.State().Looks
	return res, nil
}

// memRouter is the in-memory router Replay uses.
type memRouter struct {
	mu    sync.Mutex
	split traffic.Split
}

func (m *memRouter) SetSplit(_ context.Context, s traffic.Split) error {
	if err := s.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.split = *cloneSplit(s)
	return nil
}

func (m *memRouter) Split(context.Context) (traffic.Split, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *cloneSplit(m.split), nil
}

func (m *memRouter) Release(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.split.Mirror, m.split.TestRoute = 0, traffic.HeaderRoute{}
	return nil
}
