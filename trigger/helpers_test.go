package trigger_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
)

// t0 is a fixed winter instant (GMT).
var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

const interval = time.Minute

var errTmpl = metrics.MustParse(metrics.PromQL, "error-rate",
	`sum(rate(requests{version="{{version}}",code=~"5.."}[{{window}}])) / sum(rate(requests{version="{{version}}"}[{{window}}]))`)

// subject is a rollout over the fakes whose canary is healthy, kept in a
// store, with its audit trail collected.
type subject struct {
	r      *rollback.Rollout
	router *fake.Router
	store  *store.Memory

	mu     sync.Mutex
	events []rollback.Event
}

func (s *subject) trail() []rollback.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rollback.Event(nil), s.events...)
}

// manual returns the manual events of the trail.
func (s *subject) manual() []rollback.Event {
	var out []rollback.Event
	for _, e := range s.trail() {
		if e.Kind == rollback.KindManual {
			out = append(out, e)
		}
	}
	return out
}

func newSubject(t testing.TB, name string) *subject {
	t.Helper()
	s := &subject{router: fake.NewRouter(), store: new(store.Memory)}
	p := fake.NewProvider(s.router)
	q := func(v string) string {
		r, _ := errTmpl.Render(metrics.Vars{Version: v, Window: interval})
		return r
	}
	p.Script(q("v2"), fake.Constant(0.001, 1000))
	p.Script(q("v1"), fake.Constant(0.001, 1000))
	r, err := rollback.New(rollback.Config{
		Name:     name,
		Plan:     rollback.Plan{Stages: rollback.Weights(10, 50), Interval: interval, Hold: 10 * interval},
		Target:   rollback.Target{Stable: rollback.Workload{Version: "v1"}, Canary: rollback.Workload{Version: "v2"}},
		Metrics:  []rollback.Metric{{Name: "error-rate", Provider: p, Query: errTmpl}},
		Analyzer: analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("error-rate", 0.02)}},
		Router:   s.router,
		Store:    s.store,
		Sink: rollback.SinkFunc(func(_ context.Context, e rollback.Event) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.events = append(s.events, e)
			return nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.r = r
	if st, err := r.Step(context.Background(), t0); err != nil || st.Phase != rollback.Progressing {
		t.Fatalf("first step: %v, %v", st.Phase, err)
	}
	return s
}
