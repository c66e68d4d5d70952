package rollback

// TraceRounds has r call f with the value of every round it computes
// (ready.String: one task a line), before it does the round's tasks; the
// transcripts print them.
func TraceRounds(r *Rollout, f func(round string)) {
	r.trace = func(rd ready) { f(rd.String()) }
}
