package rollback_test

import (
	"context"
	"testing"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/fake"
	"github.com/meshcanary/canary/rollback"
)

// t0 is a fixed instant in BST (British Summer Time).
var t0 = time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)

var errTmpl = metrics.MustParse(metrics.PromQL, "error-rate",
	`sum(rate(requests{version="{{version}}",code=~"5.."}[{{window}}])) / sum(rate(requests{version="{{version}}"}[{{window}}]))`)

type harness struct {
	router   *fake.Router
	provider *fake.Provider
	scaler   *fake.Scaler
	gate     *fake.Gate
	events   []rollback.Event
	cfg      rollback.Config
}

func (h *harness) canaryQuery() string {
	q, _ := errTmpl.Render(metrics.Vars{Version: "v2", Window: time.Minute})
	return q
}

func (h *harness) stableQuery() string {
	q, _ := errTmpl.Render(metrics.Vars{Version: "v1", Window: time.Minute})
	return q
}

// newHarness builds a rollout config over the fakes with an error-rate
// metric (≤ 2 %) whose canary series is canary and stable series 0.5 %.
func newHarness(plan rollback.Plan, policy rollback.Policy, canary fake.Series) *harness {
	h := &harness{router: fake.NewRouter(), scaler: fake.NewScaler(4, 1), gate: fake.NewGate()}
	h.provider = fake.NewProvider(h.router)
	h.provider.Script(h.canaryQuery(), canary)
	h.provider.Script(h.stableQuery(), fake.Constant(0.005, 1000))
	h.cfg = rollback.Config{
		Name:     "checkout",
		Plan:     plan,
		Policy:   policy,
		Target:   rollback.Target{Namespace: "shop", Stable: rollback.Workload{Version: "v1"}, Canary: rollback.Workload{Version: "v2"}},
		Metrics:  []rollback.Metric{{Name: "error-rate", Provider: h.provider, Query: errTmpl}},
		Analyzer: analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("error-rate", 0.02)}},
		Router:   h.router,
		Scaler:   h.scaler,
		Sink: rollback.SinkFunc(func(_ context.Context, e rollback.Event) error {
			h.events = append(h.events, e)
			return nil
		}),
	}
	return h
}

func (h *harness) build(t testing.TB) *rollback.Rollout {
	t.Helper()
	r, err := rollback.New(h.cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// run steps r at the instants it asks for until it is final or until end;
// it returns the statuses seen.
func run(t testing.TB, r *rollback.Rollout, from, end time.Time) []rollback.Status {
	t.Helper()
	var seen []rollback.Status
	now := from
	for i := 0; i < 10000 && !now.After(end); i++ {
		st, _ := r.Step(context.Background(), now)
		seen = append(seen, st)
		if st.Phase.Final() {
			return seen
		}
		next := st.Next
		if !next.After(now) {
			next = now.Add(time.Second)
		}
		now = next
	}
	return seen
}
