package rollback

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/traffic"
)

// SnapshotFormat is the version of the State's JSON form.
const SnapshotFormat = 1

// State is the whole state of a rollout: plain data that marshals to JSON
// (Rollout.Snapshot) and, restored with Restore, continues the rollout
// exactly where it stopped. Callers normally only read it.
type State struct {
	Format int    `json:"format"`
	Name   string `json:"name"`
	Phase  Phase  `json:"phase"`
	// Step is the index of the plan step in force; -1 before the first.
	Step int `json:"step"`
	// Weight is the canary's weight the rollout wants now.
	Weight int `json:"weight"`
	// Applied is the split last written and read back; nil before the
	// first write.
	Applied *traffic.Split `json:"applied,omitempty"`

	StartedAt  time.Time `json:"startedAt,omitzero"`
	PhaseSince time.Time `json:"phaseSince,omitzero"`
	StepSince  time.Time `json:"stepSince,omitzero"`
	// NextAnalysis is when the next analysis is due.
	NextAnalysis time.Time `json:"nextAnalysis,omitzero"`
	// NotReadySince is when the canary was first seen not ready (zero
	// while it is ready or unknown).
	NotReadySince time.Time `json:"notReadySince,omitzero"`
	CanaryReady   bool      `json:"canaryReady,omitempty"`

	// Looks counts analyses; Failed the failed ones (cumulative);
	// Consecutive the failed ones in a row; InconclusiveRun the
	// inconclusive ones in a row; StepPasses the passes at this step.
	Looks           int               `json:"looks"`
	Failed          int               `json:"failed"`
	Consecutive     int               `json:"consecutive"`
	InconclusiveRun int               `json:"inconclusiveRun"`
	StepPasses      int               `json:"stepPasses"`
	LastVerdict     *analysis.Verdict `json:"lastVerdict,omitempty"`
	// AnalysisMemory is the analyzer's last Verdict.Memory, handed back
	// as analysis.Input.Memory at the next analysis.
	AnalysisMemory json.RawMessage `json:"analysisMemory,omitempty"`

	// ResumeTo is the phase Resume returns to from Paused.
	ResumeTo Phase `json:"resumeTo,omitempty"`
	// Gate is the pending approval in AwaitingApproval; GateTarget the
	// step it leads to (len(steps) for the promotion).
	Gate       *GateRequest `json:"gate,omitempty"`
	GateTarget int          `json:"gateTarget,omitempty"`

	// StableReplicas is the stable version's replica count recorded at the
	// start, restored on a rollback.
	StableReplicas   int32 `json:"stableReplicas,omitempty"`
	StableRecorded   bool  `json:"stableRecorded,omitempty"`
	CanaryScaledDown bool  `json:"canaryScaledDown,omitempty"`
	StableRestored   bool  `json:"stableRestored,omitempty"`
	Released         bool  `json:"released,omitempty"`

	// Totals accumulate every short window since analysis began.
	Totals []Total `json:"totals,omitempty"`
	// Reason says why the rollout is in its phase.
	Reason string `json:"reason,omitempty"`
	// Seq is the number of the last event; Pending the events the sink
	// has not yet accepted.
	Seq     uint64  `json:"seq"`
	Pending []Event `json:"pending,omitempty"`
}

// Total accumulates one metric's short windows.
type Total struct {
	Metric string `json:"metric"`
	Canary Sum    `json:"canary"`
	Stable Sum    `json:"stable"`
}

// Sum is a count-weighted running sum.
type Sum struct {
	Count int64   `json:"count"`
	Sum   float64 `json:"sum"` // Σ value × count
}

func (s *Sum) add(m analysis.Measurement) {
	if m.Observed && m.Count > 0 {
		s.Count += m.Count
		s.Sum += m.Value * float64(m.Count)
	}
}

func (s Sum) measurement() analysis.Measurement {
	if s.Count == 0 {
		return analysis.Measurement{}
	}
	return analysis.Observed(s.Sum/float64(s.Count), s.Count)
}

func cloneSplit(s traffic.Split) *traffic.Split {
	if s.TestRoute != nil {
		tr := *s.TestRoute
		s.TestRoute = &tr
	}
	return &s
}

// decodeState reads a snapshot strictly: unknown fields, unknown phases and
// values out of range for m's plan are errors naming the field.
func (m *Machine) decodeState(b []byte) (State, error) {
	var s State
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return State{}, canary.Invalid("Snapshot", nil, "%v", err)
	}
	if dec.More() {
		return State{}, canary.Invalid("Snapshot", nil, "has data after the state object")
	}
	n := len(m.plan.steps)
	switch {
	case s.Format != SnapshotFormat:
		return State{}, canary.Invalid("Snapshot.format", s.Format, "must be %d", SnapshotFormat)
	case s.Step < -1 || s.Step >= n:
		return State{}, canary.Invalid("Snapshot.step", s.Step, "must be between -1 and %d for this plan", n-1)
	case s.Weight < 0 || s.Weight > 100:
		return State{}, canary.Invalid("Snapshot.weight", s.Weight, "must be between 0 and 100")
	case s.GateTarget < 0 || s.GateTarget > n:
		return State{}, canary.Invalid("Snapshot.gateTarget", s.GateTarget, "must be between 0 and %d for this plan", n)
	case s.Phase == AwaitingApproval && s.Gate == nil:
		return State{}, canary.Invalid("Snapshot.gate", nil, "must be set in phase %s", s.Phase)
	case s.Phase == Paused && s.ResumeTo != Validating && s.ResumeTo != Progressing && s.ResumeTo != AwaitingApproval:
		return State{}, canary.Invalid("Snapshot.resumeTo", s.ResumeTo.String(), "must be validating, progressing or awaiting-approval")
	case s.Phase == Validating && m.plan.zero == nil:
		return State{}, canary.Invalid("Snapshot.phase", s.Phase.String(), "this plan has no zero-traffic phase")
	case s.Looks < 0 || s.Failed < 0 || s.Consecutive < 0 || s.InconclusiveRun < 0 || s.StepPasses < 0:
		return State{}, canary.Invalid("Snapshot", nil, "has a negative counter")
	}
	if s.Applied != nil {
		if err := s.Applied.Validate(); err != nil {
			return State{}, fmt.Errorf("rollback: Snapshot.applied: %w", err)
		}
	}
	return s, nil
}
