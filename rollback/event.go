package rollback

import (
	"context"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/traffic"
)

// EventKind says what an Event records.
type EventKind string

const (
	// KindTransition: the phase changed.
	KindTransition EventKind = "transition"
	// KindAnalysis: an analysis ran; Verdict and Observations are set.
	KindAnalysis EventKind = "analysis"
	// KindAction: the rollout wrote to the router or the scaler.
	KindAction EventKind = "action"
	// KindManual: an operator's command.
	KindManual EventKind = "manual"
	// KindFailure: something the rollout tried failed; Error is set. A
	// failure repeated without change is reported once, then with its
	// repeat count at most every hour (Repeats).
	KindFailure EventKind = "failure"
	// KindAlert: something a person should look at that the policy does
	// not act on by itself, such as a failing analysis while paused under
	// PauseOnFailure.
	KindAlert EventKind = "alert"
)

// Event is one entry of the audit trail. Times are UTC on the wire.
//
// An Event holds data, not text for people: the weights, the split, the
// verdict with each metric's value and count, the failure count and the
// repeat count are fields, and only the reasons are sentences. Package
// [github.com/meshcanary/canary/display] renders an event on one line in a
// time zone the caller chooses (display.Event).
type Event struct {
	// Seq numbers the rollout's events from 1 without gaps, so a reader
	// can tell that none is missing.
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Rollout string    `json:"rollout"`
	Kind    EventKind `json:"kind"`
	// From and To are the phases before and after.
	From Phase `json:"from"`
	To   Phase `json:"to"`
	// WeightFrom and WeightTo are the canary's weights before and after.
	WeightFrom int `json:"weightFrom"`
	WeightTo   int `json:"weightTo"`
	// Action names what was done: "set-split", "verify", "scale-canary",
	// "restore-stable", "scale-stable" (the old version after a blue/green
	// switch), "record-replicas", "release", "readiness", "gate",
	// "query <metric>", "analyze", "persist".
	Action string         `json:"action,omitempty"`
	Split  *traffic.Split `json:"split,omitempty"`
	// Verdict and Observations are set on analysis events. Observations
	// keep values and counts, not raw samples, so an event stays small
	// whatever the traffic.
	Verdict      *analysis.Verdict      `json:"verdict,omitempty"`
	Observations []analysis.Observation `json:"observations,omitempty"`
	// Failures is the failed-analysis count after this event, by the
	// policy's counting.
	Failures int    `json:"failures,omitempty"`
	Actor    string `json:"actor,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Error    string `json:"error,omitempty"`
	// Repeats is, on a failure event, how many times the failure happened
	// since it was last reported.
	Repeats int `json:"repeats,omitempty"`
}

// Sink receives events. Record is called in order of Seq; an event whose
// Record returns an error is offered again, with all later ones, at the
// rollout's next call.
//
// Exactly once: with a [Config.Store], an event is handed to the sink only
// after the state holding it was saved, and the state saved after its
// acknowledgement no longer holds it, so an acknowledged event is never
// offered again once that save succeeds. A crash between the sink's
// acknowledgement and that save offers the event again after the restart,
// with the same Seq and content: a sink must skip an event whose Seq it
// already holds (a JSON-lines trail reads its last Seq when it opens).
// Seq rises by one per event; a gap means events were given up on
// ([State.Dropped], [MaxUndelivered]).
type Sink interface {
	Record(ctx context.Context, e Event) error
}

// SinkFunc adapts a function to the Sink interface.
type SinkFunc func(ctx context.Context, e Event) error

// Record calls f(ctx, e).
func (f SinkFunc) Record(ctx context.Context, e Event) error { return f(ctx, e) }
