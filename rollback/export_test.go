package rollback

import "time"

// TraceRounds has r call f with the value of every round it computes
// (ready.String: one task a line), before it does the round's tasks; the
// transcripts print them.
func TraceRounds(r *Rollout, f func(round string)) {
	r.trace = func(rd ready) { f(rd.String()) }
}

// NoQuiet has every Step of r run the machine, even one that quiet says
// would decide nothing: the reference the quiet path is compared with.
func NoQuiet(r *Rollout) { r.noQuiet = true }

// WouldBeQuiet reports whether a Step of r at now would take the quiet
// path (for a state the clock check leaves alone).
func WouldBeQuiet(r *Rollout, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.m.wants(r.s, now, r.cfg.Readiness != nil, r.cfg.Gate != nil, r.cfg.Scaler != nil)
	return r.quiet(w, now)
}
