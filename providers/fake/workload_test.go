package fake_test

import (
	"context"
	"testing"

	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/workload"
	"github.com/meshcanary/canary/workload/workloadtest"
)

func TestScalerConformance(t *testing.T) {
	workloadtest.RunScaler(t, workloadtest.ScalerHarness{
		New: func(_ context.Context, _ *testing.T, stable, canary int32) workload.Scaler {
			return fake.NewScaler(stable, canary)
		},
	})
	workloadtest.RunReadiness(t, workloadtest.ReadinessHarness{
		New: func(_ context.Context, _ *testing.T, ready bool) workload.Readiness {
			s := fake.NewScaler(4, 1)
			if !ready {
				s.SetNotReady(workload.Canary, "image pull back-off")
			}
			return s
		},
	})
}

func TestGateConformance(t *testing.T) {
	workloadtest.RunGate(t, workloadtest.GateHarness{
		New: func(context.Context, *testing.T) workload.Gate { return fake.NewGate() },
		Approve: func(_ context.Context, _ *testing.T, g workload.Gate, kind workload.GateKind) {
			g.(*fake.Gate).Approve(kind, "alice", "change ticket 42")
		},
	})
}
