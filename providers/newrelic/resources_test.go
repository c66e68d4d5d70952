package newrelic_test

import (
	"context"
	"errors"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/newrelic"
)

func TestResourceTemplates(t *testing.T) {
	q, err := newrelic.ResourceTemplates(newrelic.ResourceAttributes{})
	if err != nil {
		t.Fatal(err)
	}
	where := "FROM K8sContainerSample WHERE `namespaceName` = 'shop' AND `label.app` = 'cart' AND `label.version` = 'v2'"
	want := map[string]string{ // the v2 query of each template, in full
		"cpu":       "SELECT sum(x) AS 'value' FROM (SELECT average(`cpuUsedCores`) AS 'x' " + where + " FACET `podName`, `containerName` LIMIT MAX)",
		"memory":    "SELECT sum(x) AS 'value' FROM (SELECT max(`memoryWorkingSetBytes`) AS 'x' " + where + " FACET `podName`, `containerName` LIMIT MAX)",
		"restarts":  "SELECT sum(x) AS 'value' FROM (SELECT max(`restartCount`) - min(`restartCount`) AS 'x' " + where + " FACET `podName`, `containerName` LIMIT MAX)",
		"oom kills": "SELECT filter(uniqueCount(`podName`, `containerName`), WHERE `reason` = 'OOMKilled') AS 'value' " + where,
		"replicas":  "SELECT uniqueCount(`podName`) AS 'value' " + where,
	}
	type truth struct{ cpu, mem, restarts, oom, pods float64 }
	model := map[string]truth{
		"v1": {cpu: 0.9, mem: 9 * 200e6, pods: 9},
		"v2": {cpu: 0.2, mem: 450e6, restarts: 2, oom: 1, pods: 1},
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
			{"cpu", q.CPU, m.cpu}, {"memory", q.Memory, m.mem}, {"restarts", q.Restarts, m.restarts},
			{"oom kills", q.OOMKills, m.oom}, {"replicas", q.Replicas, m.pods},
		} {
			text, err := newrelic.Render(c.tmpl, metrics.Vars{Namespace: "shop", Workload: "cart", Version: version})
			if err != nil {
				t.Fatal(err)
			}
			if version == "v2" && text != want[c.name] {
				t.Errorf("%s query\n%s\nwant\n%s", c.name, text, want[c.name])
			}
			s.handle(text, rowsAnswer(map[string]any{"value": c.v}))
			r, err := p.Query(context.Background(), metrics.Query{Text: text, Window: testWindow, End: testEnd})
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

func TestResourceAttributesChecked(t *testing.T) {
	for _, a := range []newrelic.ResourceAttributes{{Version: "label.version'"}, {Event: "K8s Container"}, {CPU: "`x`"}} {
		var fe *canary.FieldError
		if _, err := newrelic.ResourceTemplates(a); !errors.As(err, &fe) {
			t.Errorf("ResourceTemplates(%+v) = %v, want a *canary.FieldError", a, err)
		}
	}
}
