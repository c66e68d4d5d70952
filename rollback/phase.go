package rollback

import "fmt"

// Phase is where a rollout stands. The zero Phase is Pending.
type Phase int

const (
	// Pending: built, not yet stepped.
	Pending Phase = iota
	// Validating: the zero-traffic phase; the canary runs with no
	// production traffic (test requests only) and is analysed.
	Validating
	// Progressing: the canary takes a share of traffic that rises stage by
	// stage while it is analysed.
	Progressing
	// Paused: held at its weight by an operator (or by a policy that
	// pauses instead of rolling back); nothing moves until Resume.
	Paused
	// AwaitingApproval: a gate holds the next weight rise or the
	// promotion until it is approved; analysis goes on meanwhile.
	AwaitingApproval
	// Promoting: every request is being moved to the canary.
	Promoting
	// Succeeded: the canary takes all traffic. Final.
	Succeeded
	// RollingBack: every request is being moved to the stable version and
	// the canary scaled to zero; Step retries until all of it is done.
	RollingBack
	// RolledBack: the stable version takes all traffic again. Final.
	RolledBack
)

var phaseNames = [...]string{"pending", "validating", "progressing", "paused", "awaiting-approval",
	"promoting", "succeeded", "rolling-back", "rolled-back"}

func (p Phase) String() string {
	if p >= 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// Final reports whether p is Succeeded or RolledBack.
func (p Phase) Final() bool { return p == Succeeded || p == RolledBack }

// MarshalText writes the phase's name.
func (p Phase) MarshalText() ([]byte, error) {
	if p < 0 || int(p) >= len(phaseNames) {
		return nil, fmt.Errorf("rollback: unknown phase %d", int(p))
	}
	return []byte(phaseNames[p]), nil
}

// UnmarshalText reads a phase's name and refuses any other text.
func (p *Phase) UnmarshalText(b []byte) error {
	for i, n := range phaseNames {
		if string(b) == n {
			*p = Phase(i)
			return nil
		}
	}
	return fmt.Errorf("rollback: unknown phase %q", b)
}
