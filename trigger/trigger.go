package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
)

// Action is what a signal asks of a rollout.
type Action int

const (
	// Pause holds the rollout at its weight until a person resumes it
	// ([rollback.Rollout.Pause]).
	Pause Action = iota + 1
	// RollBack sends every request to stable at once
	// ([rollback.Rollout.Abort]).
	RollBack
)

func (a Action) String() string {
	switch a {
	case Pause:
		return "pause"
	case RollBack:
		return "roll-back"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// MarshalText writes "pause" or "roll-back".
func (a Action) MarshalText() ([]byte, error) {
	if a != Pause && a != RollBack {
		return nil, canary.Invalid("Action", int(a), "must be Pause or RollBack")
	}
	return []byte(a.String()), nil
}

// UnmarshalText reads "pause" or "roll-back" (also "rollback" and "abort").
func (a *Action) UnmarshalText(b []byte) error {
	switch string(b) {
	case "pause":
		*a = Pause
	case "roll-back", "rollback", "abort":
		*a = RollBack
	default:
		return canary.Invalid("action", string(b), `must be "pause" or "roll-back"`)
	}
	return nil
}

// Signal is one request from outside to act on a rollout.
type Signal struct {
	// ID identifies the signal: a signal delivered again with the same ID
	// (an alert Alertmanager repeats) acts at most once. Required.
	ID string
	// Rollout names the rollout acted on. Required.
	Rollout string
	Action  Action
	// Actor and Reason go to the rollout's audit trail, on the event the
	// action records.
	Actor  string
	Reason string
}

// Target is a rollout a signal acts on; *[rollback.Rollout] is one.
type Target interface {
	Pause(ctx context.Context, now time.Time, actor, reason string) (rollback.Status, error)
	Abort(ctx context.Context, now time.Time, actor, reason string) (rollback.Status, error)
}

// Targets finds the rollout a signal names. It returns an error wrapping
// [ErrUnknownRollout] when there is none (a rollout that finished and was
// forgotten, a name mistyped in a route).
type Targets interface {
	Target(ctx context.Context, name string) (Target, error)
}

// Map is a fixed set of Targets by rollout name.
type Map map[string]Target

// Target returns m[name], or an error wrapping [ErrUnknownRollout].
func (m Map) Target(_ context.Context, name string) (Target, error) {
	if t, ok := m[name]; ok && t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownRollout, name)
}

var (
	// ErrUnknownRollout: no rollout of that name is known.
	ErrUnknownRollout = errors.New("trigger: unknown rollout")
	// ErrBusy: another process claimed the signal moments ago and has not
	// recorded its outcome yet; the sender should deliver it again later.
	ErrBusy = errors.New("trigger: signal being applied by another process")
)

// Outcome is what Apply did with one signal.
type Outcome struct {
	// Applied: the action was taken now. Duplicate: the signal had been
	// applied (or refused for good) before and nothing was done.
	Applied   bool `json:"applied,omitempty"`
	Duplicate bool `json:"duplicate,omitempty"`
	// Refused is the rollout's reason for refusing the action for good
	// (a rollout already promoted cannot be rolled back), recorded so
	// that the signal is not tried again.
	Refused string          `json:"refused,omitempty"`
	Status  rollback.Status `json:"status"`
}

// DefaultClaimTimeout is the zero [Applier.ClaimTimeout].
const DefaultClaimTimeout = time.Minute

// MaxLedger is how many signals a rollout's ledger remembers; the oldest
// are forgotten first.
const MaxLedger = 1000

// Applier applies signals to rollouts exactly once, through a ledger kept
// in a [store.Store] under the key "<rollout>.signals" with the store's
// compare-and-swap, as canaryctl's operator commands are: it claims the
// signal's ID in the ledger, acts, then records the outcome. A signal
// whose ID the ledger holds is not applied again, by this process or by
// any other sharing the store.
//
// A process that dies between its claim and the outcome leaves the claim;
// after ClaimTimeout the next delivery of the signal applies it again.
// Both actions are idempotent on the rollout (pausing a paused rollout and
// rolling back one rolling back record nothing), so the only case where a
// signal can act twice is a crash in that window followed by a person
// resuming the rollout before the signal is delivered again.
//
// The zero Applier is not usable: Store and Targets are required.
type Applier struct {
	Store   store.Store
	Targets Targets
	// ClaimTimeout is how long a claim without an outcome stops another
	// delivery; zero means [DefaultClaimTimeout].
	ClaimTimeout time.Duration

	mu sync.Mutex // one signal at a time in this process
}

type ledger struct {
	Signals []entry `json:"signals"`
}

type entry struct {
	ID      string    `json:"id"`
	Action  Action    `json:"action"`
	Actor   string    `json:"actor,omitempty"`
	Claimed time.Time `json:"claimed"`
	// Done is set once the outcome is known; Refused when the rollout
	// refused the action for good.
	Done    bool   `json:"done,omitempty"`
	Refused string `json:"refused,omitempty"`
}

// Key returns the store key of a rollout's ledger.
func Key(rollout string) string { return rollout + ".signals" }

func (s Signal) validate() error {
	switch {
	case s.ID == "":
		return canary.Invalid("Signal.ID", s.ID, "must not be empty")
	case len(s.ID) > 512:
		return canary.Invalid("Signal.ID", len(s.ID), "must be at most 512 bytes long")
	case s.Action != Pause && s.Action != RollBack:
		return canary.Invalid("Signal.Action", int(s.Action), "must be Pause or RollBack")
	}
	return store.ValidKey("Signal.Rollout", Key(s.Rollout))
}

// Apply applies s at now, unless its ID was applied before. It returns
// an error wrapping [ErrUnknownRollout] when s names no known rollout,
// [ErrBusy] while another process holds a fresh claim on it, and the
// rollout's error when acting failed before the decision was taken (the
// claim is then released, so that the next delivery tries again).
func (a *Applier) Apply(ctx context.Context, now time.Time, s Signal) (Outcome, error) {
	if a == nil || a.Store == nil || a.Targets == nil {
		return Outcome{}, canary.Invalid("Applier", nil, "needs a Store and Targets")
	}
	if err := s.validate(); err != nil {
		return Outcome{}, err
	}
	t, err := a.Targets.Target(ctx, s.Rollout)
	if err != nil {
		return Outcome{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	timeout := a.ClaimTimeout
	if timeout <= 0 {
		timeout = DefaultClaimTimeout
	}
	key := Key(s.Rollout)

	// Claim.
	claimed := false
	for attempt := 0; !claimed; attempt++ {
		l, ver, err := a.load(ctx, key)
		if err != nil {
			return Outcome{}, err
		}
		if i := l.find(s.ID); i >= 0 {
			e := l.Signals[i]
			switch {
			case e.Done:
				return Outcome{Duplicate: true, Refused: e.Refused}, nil
			case now.Sub(e.Claimed) < timeout:
				return Outcome{}, fmt.Errorf("%w: %s claimed at %s", ErrBusy, s.ID, e.Claimed.UTC().Format(time.RFC3339))
			}
			l.Signals[i].Claimed = now.UTC() // the claimer died: take it over
		} else {
			l.Signals = append(l.Signals, entry{ID: s.ID, Action: s.Action, Actor: s.Actor, Claimed: now.UTC()})
			if n := len(l.Signals) - MaxLedger; n > 0 {
				l.Signals = append([]entry(nil), l.Signals[n:]...)
			}
		}
		err = a.save(ctx, key, l, ver)
		switch {
		case err == nil:
			claimed = true
		case errors.Is(err, store.ErrConflict) && attempt < 8:
			// Someone else wrote the ledger: read it again.
		default:
			return Outcome{}, err
		}
	}

	// Act.
	var st rollback.Status
	switch s.Action {
	case Pause:
		st, err = t.Pause(ctx, now, s.Actor, s.Reason)
	default:
		st, err = t.Abort(ctx, now, s.Actor, s.Reason)
	}
	out := Outcome{Applied: true, Status: st}
	refused := ""
	switch {
	case err == nil:
	case errors.Is(err, rollback.ErrNotAllowed):
		refused, out = err.Error(), Outcome{Refused: err.Error(), Status: st}
	case taken(s.Action, st.Phase):
		// The decision is in the rollout's state; what failed is acting
		// on it (the router, the scaler), which the rollout's next Step
		// retries. The signal is applied.
	default:
		// Nothing was decided: release the claim so that the next
		// delivery tries again.
		if rerr := a.record(ctx, key, s.ID, now, false, ""); rerr != nil {
			return Outcome{}, errors.Join(err, rerr)
		}
		return Outcome{Status: st}, err
	}
	if rerr := a.record(ctx, key, s.ID, now, true, refused); rerr != nil {
		return out, rerr
	}
	return out, nil
}

// taken reports whether a rollout in phase ph holds the decision action
// asks for.
func taken(a Action, ph rollback.Phase) bool {
	switch a {
	case Pause:
		return ph == rollback.Paused || ph == rollback.RollingBack || ph == rollback.RolledBack
	default:
		return ph == rollback.RollingBack || ph == rollback.RolledBack
	}
}

// record marks the claim on id done (with refused), or, when !done,
// removes it.
func (a *Applier) record(ctx context.Context, key, id string, now time.Time, done bool, refused string) error {
	for attempt := 0; ; attempt++ {
		l, ver, err := a.load(ctx, key)
		if err != nil {
			return err
		}
		i := l.find(id)
		if i < 0 {
			return fmt.Errorf("trigger: the claim on signal %s vanished from %s", id, key)
		}
		if done {
			l.Signals[i].Done, l.Signals[i].Refused = true, refused
		} else {
			l.Signals = append(l.Signals[:i], l.Signals[i+1:]...)
		}
		err = a.save(ctx, key, l, ver)
		if err == nil || !errors.Is(err, store.ErrConflict) || attempt >= 8 {
			return err
		}
	}
}

func (a *Applier) load(ctx context.Context, key string) (ledger, string, error) {
	data, ver, err := a.Store.Load(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return ledger{}, "", nil
	}
	if err != nil {
		return ledger{}, "", fmt.Errorf("trigger: load %s: %w", key, err)
	}
	var l ledger
	if err := json.Unmarshal(data, &l); err != nil {
		return ledger{}, "", fmt.Errorf("trigger: %s is not a signal ledger: %w", key, err)
	}
	return l, ver, nil
}

func (a *Applier) save(ctx context.Context, key string, l ledger, ver string) error {
	data, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if _, err := a.Store.Save(ctx, key, data, ver); err != nil {
		return fmt.Errorf("trigger: save %s: %w", key, err)
	}
	return nil
}

func (l ledger) find(id string) int {
	for i, e := range l.Signals {
		if e.ID == id {
			return i
		}
	}
	return -1
}
