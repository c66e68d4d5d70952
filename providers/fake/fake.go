package fake

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Action records one call to a fake.
type Action struct {
	Verb string // "set", "get", "release", "query", "range", "replicas", "scale", "ready", "check"
	// Arg is the call's argument: a traffic.Split, a metrics.Query, a
	// workload.Version, a workload.GateRequest…; nil for calls without one.
	Arg any
	Err error // what the call returned
}

// Error is the error type the fakes return for injected failures made with
// FailWith's default, so tests can check errors.As reachability.
type Error struct {
	Verb string
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("fake %s: %s", e.Verb, e.Msg) }

// recorder is the shared action log and error injection of every fake.
type recorder struct {
	mu      sync.Mutex
	actions []Action
	fail    map[string][]error // verb → errors to return, one per call
	always  map[string]error
}

// Fail makes the next len(errs) calls of verb return errs in order ("*"
// matches every verb). A nil entry lets that call through.
func (r *recorder) Fail(verb string, errs ...error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail == nil {
		r.fail = map[string][]error{}
	}
	r.fail[verb] = append(r.fail[verb], errs...)
}

// FailAlways makes every call of verb return err until FailAlways(verb, nil).
func (r *recorder) FailAlways(verb string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.always == nil {
		r.always = map[string]error{}
	}
	if err == nil {
		delete(r.always, verb)
		return
	}
	r.always[verb] = err
}

// Actions returns a copy of the calls recorded so far.
func (r *recorder) Actions() []Action {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Action(nil), r.actions...)
}

// Count returns how many calls of verb were recorded.
func (r *recorder) Count(verb string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.actions {
		if a.Verb == verb {
			n++
		}
	}
	return n
}

// ClearActions forgets the recorded calls.
func (r *recorder) ClearActions() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actions = nil
}

// begin checks ctx and the injected errors for verb; r.mu must be held.
func (r *recorder) begin(ctx context.Context, verb string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return r.take(verb)
}

// record appends an action; r.mu must be held.
func (r *recorder) record(verb string, arg any, err error) {
	r.actions = append(r.actions, Action{Verb: verb, Arg: arg, Err: err})
}

var errNoScript = errors.New("no series scripted for this query")
