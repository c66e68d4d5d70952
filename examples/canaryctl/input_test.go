package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const goodRollout = `name: shop
router:
  httpsplit: {listen: "127.0.0.1:1", stable: "http://127.0.0.1:2", canary: "http://127.0.0.1:3"}
provider:
  httpsplit: {}
metrics:
  - {name: error-rate, builtin: httpsplit/error-rate}
plan:
  stages: [10, 50]
  interval: 1m
analysis:
  preset: default
`

// TestBadInput: every bad input is one clear line naming the problem, a
// non-zero exit, and nothing written to the store.
func TestBadInput(t *testing.T) {
	csvHeader := "time,metric,canary_value,canary_count,stable_value,stable_count\n"
	for _, tc := range []struct {
		name string
		args func(t *testing.T) []string
		code int
		want string
	}{
		{"malformed YAML", func(t *testing.T) []string {
			return []string{"run", "-f", write(t, "r.yaml", "name: shop\nplan: [interval: \n")}
		}, 2, "r.yaml"},
		{"unknown field with its line", func(t *testing.T) []string {
			return []string{"run", "-f", write(t, "r.yaml", strings.Replace(goodRollout, "interval: 1m", "interval: 1m\n  colour: blue", 1))}
		}, 2, "r.yaml:11: invalid plan.colour: is not a known field"},
		{"unknown preset", func(t *testing.T) []string {
			return []string{"run", "-f", write(t, "r.yaml", strings.Replace(goodRollout, "preset: default", "preset: reckless", 1))}
		}, 2, "r.yaml:12: invalid analysis.preset (reckless): is not a preset; known: default, strict, lenient, fixed-threshold"},
		{"template that does not parse", func(t *testing.T) []string {
			return []string{"validate", "-f", write(t, "r.yaml", strings.Replace(goodRollout, "builtin: httpsplit/error-rate", `query: 'errors{version={{version}}}'`, 1))}
		}, 2, "r.yaml:7: invalid metrics[0].query.text (error-rate): {{version}} must stand inside a quoted string"},
		{"missing store", func(t *testing.T) []string {
			return []string{"status", "shop", "--store", filepath.Join(t.TempDir(), "nope")}
		}, 2, "does not exist"},
		{"Kubernetes router without a cluster", func(t *testing.T) []string {
			return []string{"run", "-f", write(t, "r.yaml", strings.Replace(strings.Replace(goodRollout,
				`httpsplit: {listen: "127.0.0.1:1", stable: "http://127.0.0.1:2", canary: "http://127.0.0.1:3"}`,
				`istio: {kubeconfig: /nonexistent/kubeconfig, namespace: shop, virtualService: shop, stable: {host: shop-v1}, canary: {host: shop-v2}}`, 1),
				"httpsplit: {}", "prometheus: {address: \"http://127.0.0.1:9\"}", 1)), "--store", filepath.Join(t.TempDir(), "s")}
		}, 2, "router.istio: kubeconfig /nonexistent/kubeconfig"},
		{"unknown rollout", func(t *testing.T) []string { return []string{"pause", "shop", "--actor", "a"} }, 2, `no rollout "shop" in store`},
		{"no actor", func(t *testing.T) []string { return []string{"abort", "shop", "--actor", ""} }, 2, "--actor is required"},
		{"unknown command", func(t *testing.T) []string { return []string{"deploy"} }, 2, `unknown command "deploy"`},
		{"CSV with a missing count", func(t *testing.T) []string {
			return []string{"backtest", "-f", write(t, "r.yaml", goodRollout), "--csv", write(t, "d.csv", csvHeader+"2026-11-24T14:00:00Z,error-rate,0.01,,0.01,100\n")}
		}, 2, "d.csv:2: canary count is missing"},
		{"CSV with a negative count", func(t *testing.T) []string {
			return []string{"backtest", "-f", write(t, "r.yaml", goodRollout), "--csv", write(t, "d.csv", csvHeader+"2026-11-24T14:00:00Z,error-rate,0.01,100,0.01,-5\n")}
		}, 2, "d.csv:2: stable count -5 is negative"},
		{"CSV with an unknown metric", func(t *testing.T) []string {
			return []string{"backtest", "-f", write(t, "r.yaml", goodRollout), "--csv", write(t, "d.csv", csvHeader+"2026-11-24T14:00:00Z,latency,0.01,100,0.01,5\n")}
		}, 2, `d.csv:2: metric "latency" is not a metric of the rollout`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := t.TempDir()
			args := tc.args(t)
			out, errOut, code := ctl(t, store, args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimRight(errOut, "\n"), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line containing %q (stdout %q)", code, errOut, tc.code, tc.want, out)
			}
			if ents, _ := os.ReadDir(store); len(ents) != 0 {
				t.Errorf("the store was written: %v", ents)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	out, errOut, code := ctl(t, t.TempDir(), "validate", "-f", "testdata/checkout.yaml")
	if code != 0 || !strings.Contains(out, "rollout checkout is valid: router httpsplit, 2 metrics, stages 10, 25, 50 %") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}

// TestValidateWarnsDeprecated: a file still written with plan.steps (the
// old name of plan.stages) validates, exit 0, and the spec's deprecation
// warning is printed on stderr, one line.
func TestValidateWarnsDeprecated(t *testing.T) {
	b, err := os.ReadFile("testdata/checkout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(string(b), "  stages:", "  steps:", 1)
	if old == string(b) {
		t.Fatal("testdata/checkout.yaml has no plan.stages to rename")
	}
	file := write(t, "old.yaml", old)
	out, errOut, code := ctl(t, t.TempDir(), "validate", "-f", file)
	if code != 0 || !strings.Contains(out, "rollout checkout is valid: router httpsplit, 2 metrics, stages 10, 25, 50 %") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	want := file + ": warning: plan.steps is deprecated; write stages (read as plan.stages)\n"
	if errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
	// The current name gives no warning.
	if _, errOut, code := ctl(t, t.TempDir(), "validate", "-f", "testdata/checkout.yaml"); code != 0 || errOut != "" {
		t.Errorf("stages: exit %d, stderr %q; want 0 and no warning", code, errOut)
	}
}

// csvRows writes one row a minute: the canary's error rate is good, then
// goes bad from minute bad on.
func csvRows(minutes, bad int) string {
	var b strings.Builder
	b.WriteString("time,metric,canary_value,canary_count,stable_value,stable_count\n")
	for i := range minutes {
		rate := 0.001
		if i >= bad {
			rate = 0.08
		}
		fmt.Fprintf(&b, "2026-07-01T12:%02d:00Z,error-rate,%g,400,0.001,4000\n", i, rate)
	}
	return b.String()
}

func TestBacktestCSV(t *testing.T) {
	file := write(t, "r.yaml", goodRollout)
	out, errOut, code := ctl(t, t.TempDir(), "backtest", "-f", file, "--csv", write(t, "good.csv", csvRows(20, 99)))
	if code != 0 || !strings.Contains(out, "decision: succeeded") {
		t.Errorf("good data: exit %d\n%s%s", code, out, errOut)
	}
	// July: London is on BST.
	if !strings.Contains(out, "01/07/2026 13:0") || !strings.Contains(out, "BST") {
		t.Errorf("times not in Europe/London:\n%s", out)
	}
	out, errOut, code = ctl(t, t.TempDir(), "backtest", "-f", file, "--csv", write(t, "bad.csv", csvRows(10, 1)))
	if code != 0 || !strings.Contains(out, "decision: rolled-back at 01/07/2026 13:0") || !strings.Contains(out, ": fail") {
		t.Errorf("bad data: exit %d\n%s%s", code, out, errOut)
	}
}

// TestBacktestPrometheus answers range queries as Prometheus's HTTP API
// documents them (resultType matrix, values as [unix time, "value"]).
func TestBacktestPrometheus(t *testing.T) {
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query_range" || r.FormValue("step") != "60" {
			http.Error(w, `{"status":"error","error":"bad request"}`, 400)
			return
		}
		q := r.FormValue("query")
		queries = append(queries, q)
		canary := strings.Contains(q, `"canary"`)
		var pts []string
		for ts := int64(1782907200); ts <= 1782907200+9*60; ts += 60 {
			v := "0.001"
			switch {
			case strings.HasPrefix(q, "requests"):
				v = "4000"
			case canary && ts >= 1782907200+60:
				v = "0.09"
			}
			pts = append(pts, fmt.Sprintf(`[%d,"%s"]`, ts, v))
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[%s]}]}}`, strings.Join(pts, ","))
	}))
	defer srv.Close()
	file := write(t, "r.yaml", strings.Replace(goodRollout, "httpsplit: {}", "prometheus: {address: \""+srv.URL+"\"}", 1)+
		"target: {stable: {version: stable}, canary: {version: canary}}\n")
	out, errOut, code := ctl(t, t.TempDir(), "backtest", "-f", file, "--prometheus", srv.URL,
		"--from", "2026-07-01T12:00:00Z", "--to", "2026-07-01T12:09:00Z")
	if code != 0 || !strings.Contains(out, "decision: rolled-back") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if len(queries) != 4 || !strings.Contains(strings.Join(queries, " "), `error_rate{version="canary"}`) {
		t.Errorf("queries: %q", queries)
	}
}

// TestHelpListsExitCodes: canaryctl -h lists every exit status, one per
// outcome, as the README's table does.
func TestHelpListsExitCodes(t *testing.T) {
	_, errOut, code := ctl(t, t.TempDir(), "-h")
	if code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
	for i, want := range []string{"done", "rolled back", "bad input", "queued", "finished already", "stopped before the end", "refused", "does not verify", "another driver holds", "failed"} {
		if !strings.Contains(errOut, fmt.Sprintf("\n  %d  ", i)) || !strings.Contains(errOut, want) {
			t.Errorf("-h lacks exit status %d (%s):\n%s", i, want, errOut)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if !strings.Contains(string(readme), fmt.Sprintf("\n| %d | ", i)) {
			t.Errorf("README's exit status table lacks %d", i)
		}
	}
}
