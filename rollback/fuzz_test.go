package rollback_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
	"github.com/meshcanary/canary/workload"
)

// FuzzRestore builds well-formed states (every field of the right type,
// values anywhere) from the fuzzer's numbers: Restore either refuses one
// with a *canary.FieldError or returns a rollout that steps, reports and
// takes every manual operation without panicking, and whose snapshot
// restores again. Before issue 9 several such states restored and then
// panicked for ever.
func FuzzRestore(f *testing.F) {
	f.Add(uint8(2), int8(0), uint8(10), uint8(0), false, int8(0), uint8(10), false, uint8(3), uint8(0))
	f.Add(uint8(2), int8(-1), uint8(10), uint8(0), false, int8(0), uint8(10), false, uint8(3), uint8(1))
	f.Add(uint8(3), int8(0), uint8(10), uint8(1), false, int8(0), uint8(10), false, uint8(3), uint8(2))
	f.Add(uint8(3), int8(0), uint8(10), uint8(4), false, int8(0), uint8(10), false, uint8(3), uint8(3))
	f.Add(uint8(4), int8(0), uint8(10), uint8(0), true, int8(1), uint8(10), true, uint8(3), uint8(4))
	f.Add(uint8(7), int8(1), uint8(0), uint8(0), false, int8(0), uint8(50), true, uint8(9), uint8(5))
	f.Add(uint8(3), int8(-1), uint8(0), uint8(2), false, int8(0), uint8(0), false, uint8(1), uint8(6))
	f.Fuzz(func(t *testing.T, phase uint8, stage int8, weight uint8, resumeTo uint8, gate bool, gateTarget int8, applied uint8, intent bool, seq uint8, op uint8) {
		h := newHarness(rollback.Plan{Stages: rollback.Weights(10, 50), Interval: time.Minute}, rollback.Policy{}, fake.Constant(0.001, 500))
		h.cfg.Readiness, h.cfg.Gate = h.scaler, h.gate
		base, err := rollback.New(h.cfg)
		if err != nil {
			t.Fatal(err)
		}
		var s rollback.State
		if err := json.Unmarshal(mustSnapshot(t, base), &s); err != nil {
			t.Fatal(err)
		}
		s.Phase = rollback.Phase(phase % 10)
		s.Stage, s.Weight = int(stage), int(weight)
		s.ResumeTo = rollback.Phase(resumeTo % 10)
		if gate {
			s.Gate = &workload.GateRequest{Rollout: s.Name, Kind: workload.BeforeIncrease, From: s.Weight, To: 50, Since: t0}
		}
		s.GateTarget = int(gateTarget)
		if applied <= 100 {
			sp := traffic.Weighted(int(applied))
			s.Applied = &sp
		}
		if intent {
			sp := traffic.Weighted(s.Weight)
			s.Intent = &sp
		}
		s.Seq = uint64(seq)
		s.StartedAt, s.PhaseSince, s.StageSince, s.NextAnalysis = t0, t0, t0, t0.Add(time.Minute)
		snap, err := json.Marshal(s)
		if err != nil {
			return // a phase outside the names does not marshal: not well-formed
		}
		r, err := rollback.Restore(h.cfg, snap)
		if err != nil {
			var fe *canary.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Restore refused without a FieldError: %v", err)
			}
			return
		}
		now := t0.Add(90 * time.Second)
		switch op % 7 {
		case 0:
			r.Pause(ctx, now, "fuzz", "")
		case 1:
			r.Resume(ctx, now, "fuzz", "")
		case 2:
			r.SetWeight(ctx, now, int(weight%60), "fuzz", "")
		case 3:
			r.Approve(ctx, now, "fuzz", "")
		case 4:
			r.Promote(ctx, now, "fuzz", "")
		case 5:
			r.Abort(ctx, now, "fuzz", "")
		}
		for i := 0; i < 5; i++ {
			st, _ := r.Step(ctx, now)
			r.Status(now)
			if st.Next.IsZero() {
				break
			}
			now = st.Next
		}
		if _, err := rollback.Restore(h.cfg, mustSnapshot(t, r)); err != nil {
			t.Fatalf("a rollout restored from a valid state made a snapshot that does not restore: %v", err)
		}
	})
}

// TestRestoreMigrate: a state made under another plan is refused unless
// Config.Migrate is set, and then only if it fits the new plan.
func TestRestoreMigrate(t *testing.T) {
	h := newHarness(stepsPlan(10, 50), rollback.Policy{}, fake.Constant(0.001, 500))
	r := h.build(t)
	r.Step(ctx, t0)
	snap := mustSnapshot(t, r)
	h.cfg.Plan = stepsPlan(10, 30, 50)
	if _, err := rollback.Restore(h.cfg, snap); !errors.Is(err, canary.ErrInvalid) {
		t.Fatalf("a snapshot of another plan restored: %v", err)
	}
	h.cfg.Migrate = true
	m, err := rollback.Restore(h.cfg, snap)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if st := m.Status(t0); st.Phase != rollback.Progressing || st.CanaryWeight != 10 {
		t.Errorf("migrated: %v at %d %%", st.Phase, st.CanaryWeight)
	}
	h.cfg.Plan = stepsPlan(20, 50)
	if _, err := rollback.Restore(h.cfg, snap); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("a state at 10 %% migrated onto a plan without 10 %%: %v", err)
	}
}
