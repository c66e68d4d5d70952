package kubernetes_test

import (
	"context"
	"testing"

	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/workload"
)

// The scaler's writes name the module's field manager.
func TestScaleFieldManager(t *testing.T) {
	cs := fake.NewClientset(deployment("ns", "app", 2), deployment("ns", "app-canary", 1))
	d, _ := kubernetes.NewDeployments(cs, kubernetes.DeploymentsConfig{Namespace: "ns", Stable: "app", Canary: "app-canary"})
	if err := d.Scale(context.Background(), workload.Canary, 0); err != nil {
		t.Fatal(err)
	}
	patches := 0
	for _, a := range cs.Actions() {
		if p, ok := a.(k8stesting.PatchActionImpl); ok {
			patches++
			if p.PatchOptions.FieldManager != canary.FieldManager {
				t.Errorf("patch with field manager %q, want %q", p.PatchOptions.FieldManager, canary.FieldManager)
			}
		}
	}
	if patches == 0 {
		t.Error("no patch recorded")
	}
}
