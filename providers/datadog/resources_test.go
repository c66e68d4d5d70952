package datadog_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/datadog"
)

func TestResourceTemplates(t *testing.T) {
	tmpls, err := datadog.ResourceTemplates(datadog.ResourceTags{})
	if err != nil {
		t.Fatal(err)
	}
	// What the local Datadog holds for each version: CPU in nanocores,
	// working set in bytes, restarts, OOM-killed containers, pods.
	type truth struct{ cpu, mem, restarts, oom, pods float64 }
	model := map[string]truth{
		"v1": {cpu: 0.9e9, mem: 9 * 200e6, pods: 9},
		"v2": {cpu: 0.2e9, mem: 450e6, restarts: 2, oom: 1, pods: 1},
	}
	want := map[string]string{ // the v2 query of each template, in full
		"cpu":       "sum:kubernetes.cpu.usage.total{kube_namespace:shop,service:cart,version:v2}",
		"memory":    "sum:kubernetes.memory.working_set{kube_namespace:shop,service:cart,version:v2}",
		"restarts":  "sum:kubernetes.containers.restarts{kube_namespace:shop,service:cart,version:v2}",
		"oom kills": "sum:kubernetes_state.container.status_report.count.terminated{kube_namespace:shop,service:cart,version:v2,reason:oomkilled}",
		"replicas":  "sum:kubernetes.pods.running{kube_namespace:shop,service:cart,version:v2}",
	}
	s := newServer(t)
	p := newProvider(t, s, nil)
	for _, version := range []string{"v1", "v2"} {
		m := model[version]
		for _, c := range []struct {
			name string
			tmpl metrics.Template
			v    float64
		}{
			{"cpu", tmpls.CPU, m.cpu}, {"memory", tmpls.Memory, m.mem}, {"restarts", tmpls.Restarts, m.restarts},
			{"oom kills", tmpls.OOMKills, m.oom}, {"replicas", tmpls.Replicas, m.pods},
		} {
			text, err := datadog.Render(c.tmpl, metrics.Vars{Namespace: "shop", Workload: "cart", Version: version})
			if err != nil {
				t.Fatal(err)
			}
			if version == "v2" && text != want[c.name] {
				t.Errorf("%s query %q, want %q", c.name, text, want[c.name])
			}
			v := c.v
			s.handle(text, func(t *testing.T, w http.ResponseWriter, _ *http.Request, kind string, req request, _ int) {
				if agg := req.Data.Attributes.Queries[0].Aggregator; agg != "avg" {
					t.Errorf("%s: aggregator %q, want avg over the window", text, agg)
				}
				writeJSON(w, http.StatusOK, scalarBody(nil, f(v)))
			})
			r, err := p.Query(context.Background(), q(text))
			if err != nil {
				t.Errorf("%s %s: %v", c.name, version, err)
				continue
			}
			if r.Value != c.v {
				t.Errorf("%s %s = %v, want %v", c.name, version, r.Value, c.v)
			}
		}
	}
}

func TestResourceTagsChecked(t *testing.T) {
	for _, tags := range []datadog.ResourceTags{{Version: "ver}sion"}, {CPU: "Kubernetes.cpu"}, {OOMReason: "oom killed"}} {
		var fe *canary.FieldError
		if _, err := datadog.ResourceTemplates(tags); !errors.As(err, &fe) {
			t.Errorf("ResourceTemplates(%+v) = %v, want a *canary.FieldError", tags, err)
		}
	}
}
