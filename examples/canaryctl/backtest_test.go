package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestBacktestPrometheusErrors: the range queries go through the
// Prometheus provider, so its checks apply: a query answering several
// series is refused naming them, a server's refusal is shown with its
// status, and a metric with no points reads as unobserved, not as an
// error.
func TestBacktestPrometheusErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		answer func(w http.ResponseWriter, q string)
		code   int    // 0: success
		want   string // in the output (stdout and stderr)
	}{
		{"several series", func(w http.ResponseWriter, q string) {
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[`+
				`{"metric":{"pod":"a"},"values":[[1782907200,"1"]]},{"metric":{"pod":"b"},"values":[[1782907200,"1"]]}]}}`)
		}, 1, `several series where one value was expected: 2 series: {pod="a"}, {pod="b"}`},
		{"unauthorized", func(w http.ResponseWriter, q string) {
			http.Error(w, "no", http.StatusUnauthorized)
		}, 1, "metrics: unauthorized"},
		{"no points", func(w http.ResponseWriter, q string) {
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
		}, 0, "no decision by the end of the data"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var paths []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				paths = append(paths, r.URL.Path)
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				c.answer(w, r.FormValue("query"))
			}))
			defer srv.Close()
			file := write(t, "r.yaml", strings.Replace(goodRollout, "httpsplit: {}", "prometheus: {address: \""+srv.URL+"\"}", 1)+
				"target: {stable: {version: stable}, canary: {version: canary}}\n")
			out, errOut, code := ctl(t, t.TempDir(), "backtest", "-f", file, "--prometheus", srv.URL,
				"--from", "2026-07-01T12:00:00Z", "--to", "2026-07-01T12:09:00Z")
			if (code == 0) != (c.code == 0) || !strings.Contains(out+errOut, c.want) {
				t.Errorf("exit %d, want %d, and output with %q:\n%s%s", code, c.code, c.want, out, errOut)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(paths) == 0 || paths[0] != "/api/v1/query_range" {
				t.Errorf("requests %v, want range queries", paths)
			}
		})
	}
}
