package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcanary/canary/rollback"
	"go.yaml.in/yaml/v3"
)

// TestImportedStrategiesRun imports one example of the peers' own
// documentation per release strategy (the corpus, corpus_test.go) and
// runs its plan through canaryctl run on the in-process mesh
// (providers/httpsplit) with a healthy new version: the imported plan's
// shape (plan.strategy, abTest, blueGreen, sessionAffinity, mirror) is
// kept as imported; what points at the cluster (target, router,
// provider, metrics, analysis, webhooks) is replaced by the mesh's, the
// durations are shortened to seconds and the approval gates taken out so
// the run ends on its own. A blue/green plan without a mirror gets a
// preview header route, standing for the load tester that reaches
// Flagger's <service>-canary or Argo's previewService: with no request
// at all the new version could not be judged. The mirroring plans
// (Flagger's mirror, Argo's setMirrorRoute) run with their mirror alone:
// canaryctl's httpsplit provider judges the canary on the copies while it
// has no weight (httpsplit.Proxy.MirrorView). The A/B plan keeps its imported cohort, and half the load
// carries a header in it; the session-affinity plan runs its weighted
// stages with the imported cookie.
func TestImportedStrategiesRun(t *testing.T) {
	slow(t)
	for _, tc := range []struct {
		name, tool, file, shape string
		header                  [2]string // sent with every other request
	}{
		{"flagger blue/green", "flagger", "docs-gitbook-tutorials-prometheus-operator-4.yaml", "bluegreen", [2]string{"x-preview", "yes"}},
		{"argo blueGreen", "argo", "examples-rollout-bluegreen.yaml", "bluegreen", [2]string{"x-preview", "yes"}},
		// Flagger's Istio A/B example: the cookie type=insider, or a
		// user-agent matching .*Firefox.*; half the load is the cohort.
		{"flagger A/B", "flagger", "artifacts-examples-istio-abtest.yaml", "abTest", [2]string{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}},
		// Flagger's Istio session-affinity tutorial: a weighted canary whose
		// canary answers set the session cookie.
		// Blue/green with mirroring (Flagger's Gateway API tutorial) and a
		// mirror route with no weights (Argo's istio-mirror example, also blue/green with mirroring): the
		// canary is judged on the copies until it gets traffic.
		{"flagger blue/green mirror", "flagger", "docs-gitbook-tutorials-gatewayapi-progressive-delivery-6.yaml", "blueGreen", [2]string{}},
		{"argo setMirrorRoute", "argo", "examples-istio-istio-mirror.yaml", "blueGreen", [2]string{}},
		{"flagger session affinity", "flagger", "docs-gitbook-tutorials-istio-progressive-delivery-3.yaml", "sessionAffinity", [2]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := filepath.Join(docCorpus(t, tc.tool), tc.file)
			out, errOut, code := ctl(t, t.TempDir(), "import", tc.tool, src)
			if code != 0 {
				t.Fatalf("import: exit %d: %s", code, errOut)
			}
			var ro map[string]any
			if err := yaml.Unmarshal([]byte(out), &ro); err != nil {
				t.Fatal(err)
			}
			plan, _ := ro["plan"].(map[string]any)
			if _, ok := plan[tc.shape]; !ok && plan["strategy"] != tc.shape {
				t.Fatalf("the imported plan is not %s:\n%s", tc.shape, out)
			}
			m := newMesh(t, 0)
			runnable(ro, m, tc.header[0] == "x-preview")
			b, err := yaml.Marshal(ro)
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "run.yaml")
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			loadWith(t, m, tc.header)
			store := t.TempDir()
			name, _ := ro["name"].(string)
			runOut, runErr, code := ctl(t, store, "run", "-f", file, "--timeout", "120s")
			if code != 0 || !strings.Contains(runOut, name+" succeeded") {
				t.Fatalf("run: exit %d\n%s\nstdout:\n%s\nstderr:\n%s\n%v", code, b, runOut, runErr, m)
			}
			st, ok := statusOf(t, store, name)
			if !ok || st.Phase != rollback.Succeeded || st.CanaryWeight != 100 || string(st.Strategy) != strategyOf(plan) {
				t.Errorf("status after run: %+v", st)
			}
		})
	}
}

// strategyOf is the plan's strategy as Status reports it.
func strategyOf(plan map[string]any) string {
	if s, _ := plan["strategy"].(string); s != "" {
		return s
	}
	return "canary"
}

// runnable points an imported rollout file at the mesh m, keeping its
// plan's shape; see TestImportedStrategiesRun.
func runnable(ro map[string]any, m mesh, preview bool) {
	ro["target"] = map[string]any{"service": "checkout", "stable": map[string]any{"version": "stable"}, "canary": map[string]any{"version": "canary"}}
	ro["router"] = map[string]any{"httpsplit": map[string]any{"listen": m.listen, "stable": m.stable, "canary": m.canary}}
	ro["provider"] = map[string]any{"httpsplit": map[string]any{}}
	ro["metrics"] = []any{map[string]any{"name": "error-rate", "builtin": "httpsplit/error-rate"}}
	limit := []any{map[string]any{"threshold": map[string]any{"minCount": 5, "limits": []any{map[string]any{"metric": "error-rate", "max": 0.02}}}}}
	an := map[string]any{"analyzers": limit}
	plan := ro["plan"].(map[string]any)
	if bg, ok := plan["blueGreen"].(map[string]any); ok {
		an["postPromotion"] = limit
		for _, k := range []string{"prePromotion", "postPromotion", "scaleDownDelay"} {
			if _, ok := bg[k]; ok {
				bg[k] = "2s"
			}
		}
		if preview {
			bg["preview"] = map[string]any{"header": "x-preview", "value": "yes"}
		}
	}
	ro["analysis"] = an
	ro["policy"] = map[string]any{"failureLimit": 2}
	delete(ro, "signals")
	plan["interval"], plan["deadline"] = "1s", "90s"
	delete(plan, "gates")
	delete(plan, "hold")
	if ab, ok := plan["abTest"].(map[string]any); ok {
		ab["iterations"] = 2
	}
	if st, ok := plan["stages"].([]any); ok {
		for i := range st {
			if s, ok := st[i].(map[string]any); ok {
				delete(s, "hold")
			}
		}
	}
}

// loadWith sends requests through the mesh from four workers until the
// test ends, every other one with the header h (when set).
func loadWith(t *testing.T, m mesh, h [2]string) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	c := &http.Client{Timeout: 2 * time.Second}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.listen+"/", nil)
				if h[0] != "" && (n+w)%2 == 0 {
					req.Header.Set(h[0], h[1])
				}
				resp, err := c.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					m.sent.Add(1)
				} else {
					m.failed.Add(1)
					m.lastErr.Store(err.Error())
				}
			}
		}()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
}
