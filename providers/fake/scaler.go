package fake

import (
	"context"
	"fmt"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/workload"
)

// Scaler is an in-memory [workload.Scaler] and [workload.Readiness]. Verbs
// recorded: "replicas", "scale", "ready".
type Scaler struct {
	recorder
	replicas map[workload.Version]int32
	notReady map[workload.Version]string
}

// NewScaler returns a Scaler running stable and canary replicas of each
// version, all ready.
func NewScaler(stable, canary int32) *Scaler {
	return &Scaler{
		replicas: map[workload.Version]int32{workload.Stable: stable, workload.Canary: canary},
		notReady: map[workload.Version]string{},
	}
}

func checkVersion(v workload.Version) error { return v.Check() }

// Replicas reports v's replicas.
func (s *Scaler) Replicas(ctx context.Context, v workload.Version) (n int32, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.record("replicas", v, err) }()
	if err := checkVersion(v); err != nil {
		return 0, err
	}
	if err := s.begin(ctx, "replicas"); err != nil {
		return 0, err
	}
	return s.replicas[v], nil
}

// Scale sets v's replicas.
func (s *Scaler) Scale(ctx context.Context, v workload.Version, n int32) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.record("scale", fmt.Sprintf("%s=%d", v, n), err) }()
	if err := checkVersion(v); err != nil {
		return err
	}
	if n < 0 {
		return canary.Invalid("replicas", n, "must not be negative")
	}
	if err := s.begin(ctx, "scale"); err != nil {
		return err
	}
	s.replicas[v] = n
	return nil
}

// Ready reports whether v is ready: it is unless SetNotReady says otherwise
// or it runs no replicas.
func (s *Scaler) Ready(ctx context.Context, v workload.Version) (ok bool, reason string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.record("ready", v, err) }()
	if err := checkVersion(v); err != nil {
		return false, "", err
	}
	if err := s.begin(ctx, "ready"); err != nil {
		return false, "", err
	}
	if r, bad := s.notReady[v]; bad {
		return false, r, nil
	}
	if s.replicas[v] == 0 {
		return false, "no replicas", nil
	}
	return true, "", nil
}

// SetNotReady makes v report not ready with reason; an empty reason makes
// it ready again.
func (s *Scaler) SetNotReady(v workload.Version, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason == "" {
		delete(s.notReady, v)
		return
	}
	s.notReady[v] = reason
}

// Current returns v's replicas without recording a call.
func (s *Scaler) Current(v workload.Version) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replicas[v]
}
