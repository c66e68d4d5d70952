package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImport maps the examples of Flagger's and Argo Rollouts' own
// documentation (testdata/flagger, testdata/argo; sources in each file's
// header) and checks that the result is a valid rollout file with the
// values the originals meant, and that what could not be mapped is listed.
func TestImport(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		want  []string // in the rollout file
		notes []string // in the "not mapped" list
	}{
		{"flagger istio tutorial", []string{"flagger", "testdata/flagger/podinfo-canary.yaml"},
			[]string{"stageWeight: 10", "maxWeight: 50", "interval: 1m", "deadline: 1m", "failureLimit: 5",
				"builtin: istio/error-rate", "max: 0.01", "builtin: istio/latency-p99", "max: 0.5", "window: 30s",
				"virtualService: podinfo", "host: podinfo-canary"},
			[]string{"webhooks[0] (acceptance-test, type pre-rollout)", "webhooks[1] (load-test, type rollout)",
				"spec.autoscalerRef", "spec.service.gateways", "spec.service.hosts", "spec.service.retries", "no values as a failed check"}},
		{"flagger stepWeights, MetricTemplate, promotion gate", []string{"flagger", "testdata/flagger/custom-metric.yaml"},
			[]string{"- weight: 1\n", "- weight: 80\n", "beforePromotion: true", `destination_workload="{{workload}}"`,
				"}[{{window}}]", "address: http://prometheus.istio-system:9090", "max: 5", "failureLimit: 10"},
			[]string{"confirm-promotion): mapped to plan.gates.beforePromotion"}},
		{"argo background analysis", []string{"argo", "testdata/argo/analysistemplate.yaml", "testdata/argo/rollout.yaml"},
			[]string{"weight: 20\n      hold: 10m", "weight: 80\n      hold: 10m", "interval: 5m", "min: 0.95",
				`destination_service=~"guestbook-svc.default.svc.cluster.local"`, "failureLimit: 4",
				"virtualService: rollout-vsvc", "route: primary", "host: canary-svc"},
			[]string{"startingStep: not mapped", "does not select the version"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := ctl(t, t.TempDir(), append([]string{"import"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("rollout file lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tc.notes {
				if !strings.Contains(errOut, n) || !strings.Contains(out, n) {
					t.Errorf("not-mapped list lacks %q:\n%s", n, errOut)
				}
			}
			p := filepath.Join(t.TempDir(), "imported.yaml")
			os.WriteFile(p, []byte(out), 0o644)
			if v, e, code := ctl(t, t.TempDir(), "validate", "-f", p); code != 0 {
				t.Errorf("the imported file does not validate: %s %s", v, e)
			}
		})
	}
	_, errOut, code := ctl(t, t.TempDir(), "import", "argo", "testdata/argo/rollout.yaml")
	if code != 2 || !strings.Contains(errOut, "give at least one AnalysisTemplate") {
		t.Errorf("argo without a template: exit %d %s", code, errOut)
	}
}
