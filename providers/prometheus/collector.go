package prometheus

import (
	"context"
	"strings"
	"sync"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/rollback"
)

// RolloutMetrics is a prometheus.Collector for the rollouts a process
// drives (the example controller, or any tool that steps rollouts):
//
//	meshcanary_rollouts{phase}                  gauge: rollouts in each phase (every phase, zeros too)
//	meshcanary_rollout_canary_weight{rollout}   gauge: the weight each rollout wants for the canary
//	meshcanary_analyses_total{outcome}          counter: analyses by outcome (pass, fail, inconclusive)
//	meshcanary_rollbacks_total{reason}          counter: rollbacks by reason class (analysis,
//	                                            not-ready, progress-deadline, route-missing, manual, other)
//	meshcanary_action_failures_total{action}    counter: failures to act (set-split, scale-canary, …)
//	meshcanary_step_duration_seconds            histogram: how long a Step took
//
// Label values come from fixed sets (the rollout's name aside), so the
// series stay few whatever the reasons' text. It is usable without the
// controller:
//
//	m := prometheus.NewRolloutMetrics("")
//	registry.MustRegister(m)
//	cfg.Sink = m.Sink()                  // or one of several sinks
//	st, err := r.Step(ctx, now)
//	m.ObserveStep(st, time.Since(start))
//
// The counters count each rollout's events once by sequence number within
// the process: an event offered again (another sink failed) is not counted
// twice. After a failover the replica that takes a rollout over counts
// from where it starts; sum the counters over replicas.
type RolloutMetrics struct {
	mu      sync.Mutex
	phases  map[string]rollback.Phase
	weights map[string]int
	lastSeq map[string]uint64

	phaseDesc, weightDesc *prom.Desc
	analyses              *prom.CounterVec
	rollbacks             *prom.CounterVec
	failures              *prom.CounterVec
	steps                 prom.Histogram
}

var _ prom.Collector = (*RolloutMetrics)(nil)

// NewRolloutMetrics returns a collector whose metric names start with
// namespace; zero means "meshcanary".
func NewRolloutMetrics(namespace string) *RolloutMetrics {
	if namespace == "" {
		namespace = "meshcanary"
	}
	m := &RolloutMetrics{
		phases:  map[string]rollback.Phase{},
		weights: map[string]int{},
		lastSeq: map[string]uint64{},
		phaseDesc: prom.NewDesc(namespace+"_rollouts", "Rollouts in each phase.",
			[]string{"phase"}, nil),
		weightDesc: prom.NewDesc(namespace+"_rollout_canary_weight", "The canary weight (percent) each rollout wants.",
			[]string{"rollout"}, nil),
		analyses: prom.NewCounterVec(prom.CounterOpts{Namespace: namespace, Name: "analyses_total",
			Help: "Analyses by outcome."}, []string{"outcome"}),
		rollbacks: prom.NewCounterVec(prom.CounterOpts{Namespace: namespace, Name: "rollbacks_total",
			Help: "Rollbacks by reason class."}, []string{"reason"}),
		failures: prom.NewCounterVec(prom.CounterOpts{Namespace: namespace, Name: "action_failures_total",
			Help: "Failures to act, by action."}, []string{"action"}),
		steps: prom.NewHistogram(prom.HistogramOpts{Namespace: namespace, Name: "step_duration_seconds",
			Help: "How long one rollout Step took.", Buckets: prom.ExponentialBuckets(0.0005, 2, 16)}),
	}
	for _, o := range []analysis.Outcome{analysis.Pass, analysis.Fail, analysis.Inconclusive} {
		m.analyses.WithLabelValues(o.String())
	}
	for _, r := range rollbackReasons {
		m.rollbacks.WithLabelValues(r)
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *RolloutMetrics) Describe(ch chan<- *prom.Desc) {
	ch <- m.phaseDesc
	ch <- m.weightDesc
	m.analyses.Describe(ch)
	m.rollbacks.Describe(ch)
	m.failures.Describe(ch)
	m.steps.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *RolloutMetrics) Collect(ch chan<- prom.Metric) {
	m.mu.Lock()
	counts := make([]int, rollback.RolledBack+1)
	for _, p := range m.phases {
		if p >= 0 && int(p) < len(counts) {
			counts[p]++
		}
	}
	for name, w := range m.weights {
		ch <- prom.MustNewConstMetric(m.weightDesc, prom.GaugeValue, float64(w), name)
	}
	m.mu.Unlock()
	for p, n := range counts {
		ch <- prom.MustNewConstMetric(m.phaseDesc, prom.GaugeValue, float64(n), rollback.Phase(p).String())
	}
	m.analyses.Collect(ch)
	m.rollbacks.Collect(ch)
	m.failures.Collect(ch)
	m.steps.Collect(ch)
}

// ObserveStep records a rollout's status after a Step (or a manual
// operation) and, when took is positive, how long the Step took.
func (m *RolloutMetrics) ObserveStep(st rollback.Status, took time.Duration) {
	m.mu.Lock()
	m.phases[st.Name] = st.Phase
	m.weights[st.Name] = st.CanaryWeight
	m.mu.Unlock()
	if took > 0 {
		m.steps.Observe(took.Seconds())
	}
}

// Forget drops a rollout's series (its object was deleted).
func (m *RolloutMetrics) Forget(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.phases, name)
	delete(m.weights, name)
	delete(m.lastSeq, name)
}

// Sink returns a [rollback.Sink] that counts analyses, rollbacks and
// failures from the rollouts' events. It never fails.
func (m *RolloutMetrics) Sink() rollback.Sink {
	return rollback.SinkFunc(func(_ context.Context, e rollback.Event) error {
		m.record(e)
		return nil
	})
}

func (m *RolloutMetrics) record(e rollback.Event) {
	m.mu.Lock()
	if e.Seq != 0 && e.Seq <= m.lastSeq[e.Rollout] {
		m.mu.Unlock()
		return
	}
	m.lastSeq[e.Rollout] = e.Seq
	m.mu.Unlock()
	switch e.Kind {
	case rollback.KindAnalysis:
		if e.Verdict != nil {
			m.analyses.WithLabelValues(e.Verdict.Outcome.String()).Inc()
		}
	case rollback.KindTransition:
		if e.To == rollback.RollingBack {
			m.rollbacks.WithLabelValues(RollbackReason(e)).Inc()
		}
	case rollback.KindFailure:
		m.failures.WithLabelValues(actionLabel(e.Action)).Inc()
	}
}

var rollbackReasons = []string{"analysis", "not-ready", "progress-deadline", "budget", "route-missing", "manual", "other"}

// RollbackReason classifies a transition to rolling-back into one of a
// fixed set of label values: "analysis" (failed analyses), "not-ready"
// (the canary never became ready), "progress-deadline", "budget" (the
// evidence could not arrive within rollback.Plan.MaxDuration),
// "route-missing" (the route was deleted), "manual" (an operator's abort)
// or "other".
func RollbackReason(e rollback.Event) string {
	r := e.Reason
	switch {
	case e.Kind == rollback.KindManual || strings.HasPrefix(r, "aborted"):
		return "manual"
	case strings.Contains(r, "failed analyses"):
		return "analysis"
	case strings.Contains(r, "not ready"):
		return "not-ready"
	case strings.Contains(r, "progress deadline"):
		return "progress-deadline"
	case strings.Contains(r, "Plan.MaxDuration"):
		return "budget"
	case strings.Contains(r, "route is gone"):
		return "route-missing"
	}
	return "other"
}

var knownActions = map[string]bool{"set-split": true, "verify": true, "scale-canary": true, "restore-stable": true, "scale-stable": true,
	"record-replicas": true, "release": true, "readiness": true, "gate": true, "analyze": true, "store": true, "sink": true}

func actionLabel(a string) string {
	if knownActions[a] {
		return a
	}
	return "other"
}
