package prometheus_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/internal/promtest"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/prometheus"
)

func TestResourceTemplatesLabels(t *testing.T) {
	q, err := prometheus.ResourceTemplates(prometheus.ResourceLabels{Workload: "label_app_kubernetes_io_name"})
	if err != nil {
		t.Fatal(err)
	}
	text, err := q.CPU.Render(metrics.Vars{Namespace: "shop", Workload: "cart", Version: "v2", Window: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`label_app_kubernetes_io_name="cart"`, `label_version="v2"`, `container!="POD"`, `[60s]`} {
		if !strings.Contains(text, want) {
			t.Errorf("CPU query %s lacks %s", text, want)
		}
	}
	var fe *canary.FieldError
	if _, err := prometheus.ResourceTemplates(prometheus.ResourceLabels{Version: `label"version`}); !errors.As(err, &fe) || fe.Field != "ResourceLabels.Version" {
		t.Errorf("a bad label name = %v, want a *canary.FieldError on ResourceLabels.Version", err)
	}
}

// TestResourceTemplatesServer runs the resource templates against a real
// Prometheus scraping a cAdvisor- and kube-state-metrics-shaped exporter:
// stable v1 on three pods at 0.2 cores and 100 MB each, the canary v2 on
// one pod at 0.4 cores, leaking 1 MB/s from 100 MB, restarting every 3 s
// and OOM-killed every 4 s.
func TestResourceTemplatesServer(t *testing.T) {
	pods := []promtest.PodSet{
		{Namespace: "shop", Name: "cart", Version: "v1", Pods: 3, CPU: 0.2, Memory: 100e6},
		{Namespace: "shop", Name: "cart", Version: "v2", Pods: 1, CPU: 0.4, Memory: 100e6, MemoryGrowth: 1e6,
			RestartEvery: 3 * time.Second, OOMEvery: 4 * time.Second},
		// Another workload's pods in the namespace, which must not count.
		{Namespace: "shop", Name: "checkout", Version: "v1", Pods: 2, CPU: 5, Memory: 9e9, RestartEvery: time.Second},
	}
	srv := promtest.StartResources(t, promtest.Options{}, pods)
	const window = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	end := srv.WaitForData(ctx, t, window)
	p, err := prometheus.New(prometheus.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	q, err := prometheus.ResourceTemplates(prometheus.ResourceLabels{})
	if err != nil {
		t.Fatal(err)
	}
	leak := pods[1].MemoryAt(srv.Resources.Start(), end)
	for _, c := range []struct {
		name    string
		tmpl    metrics.Template
		version string
		want    float64
		tol     float64
		above   bool // want > 0 rather than ≈ want
	}{
		{"cpu v1", q.CPU, "v1", 0.6, 0.012, false},
		{"cpu v2", q.CPU, "v2", 0.4, 0.008, false},
		{"memory v1", q.Memory, "v1", 3 * 100e6, 1, false},
		// The peak is the last scrape at or before end, inside the window:
		// between the working set at end-window and at end (a late scrape
		// on a loaded machine moves it within that range only).
		{"memory v2", q.Memory, "v2", leak - 5e6, 5e6, false},
		{"restarts v1", q.Restarts, "v1", 0, 0, false},
		{"restarts v2", q.Restarts, "v2", 0, 0, true},
		{"oom kills v1", q.OOMKills, "v1", 0, 0, false},
		{"oom kills v2", q.OOMKills, "v2", 0, 0, true},
		{"replicas v1", q.Replicas, "v1", 3, 0, false},
		{"replicas v2", q.Replicas, "v2", 1, 0, false},
	} {
		text, err := c.tmpl.Render(metrics.Vars{Namespace: "shop", Workload: "cart", Version: c.version, Window: window})
		if err != nil {
			t.Fatal(err)
		}
		r, err := p.Query(ctx, metrics.Query{Text: text, Window: window, End: end})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		t.Logf("%s = %v", c.name, r.Value)
		if c.above {
			if !(r.Value > 0) {
				t.Errorf("%s = %v, want > 0", c.name, r.Value)
			}
		} else if math.Abs(r.Value-c.want) > c.tol {
			t.Errorf("%s = %v, want %v ± %v", c.name, r.Value, c.want, c.tol)
		}
	}
}
