package analysis

// MetricReader is implemented by analyzers that can say which metrics they
// read. Every analyzer of this package implements it, so that a rollout
// can refuse, before it starts, an analyzer reading a metric nobody
// measures (it could never pass) or a comparison with stable on a metric
// whose stable side is not measured.
type MetricReader interface {
	// MetricNames lists the metrics the analyzer reads.
	MetricNames() []string
	// StableMetricNames lists those of them whose stable version it
	// compares with (they need the stable short window measured).
	StableMetricNames() []string
}

// Reads reports the metrics a reads and those whose stable side it reads,
// with known false when a (or a part of a composition) does not implement
// MetricReader: then nothing can be said. An empty composition reads
// nothing and is known.
func Reads(a Analyzer) (metrics, stable []string, known bool) {
	switch x := a.(type) {
	case nil:
		return nil, nil, false
	case compose:
		return readsAll(x.parts)
	case Scorecard:
		parts := make([]Analyzer, len(x.Parts))
		for i, p := range x.Parts {
			parts[i] = p.Analyzer
		}
		return readsAll(parts)
	case MetricReader:
		return x.MetricNames(), x.StableMetricNames(), true
	}
	return nil, nil, false
}

func readsAll(parts []Analyzer) (metrics, stable []string, known bool) {
	for _, p := range parts {
		m, s, ok := Reads(p)
		if !ok {
			return nil, nil, false
		}
		metrics, stable = union(metrics, m), union(stable, s)
	}
	return metrics, stable, true
}

func union(a, b []string) []string {
	for _, x := range b {
		found := false
		for _, y := range a {
			found = found || x == y
		}
		if !found {
			a = append(a, x)
		}
	}
	return a
}

// MetricNames implements MetricReader.
func (t Threshold) MetricNames() []string {
	var out []string
	for _, l := range t.Limits {
		out = union(out, []string{l.Metric})
	}
	return out
}

// StableMetricNames implements MetricReader: a threshold reads no stable side.
func (Threshold) StableMetricNames() []string { return nil }

// MetricNames implements MetricReader.
func (s Sequential) MetricNames() []string { return []string{s.Metric} }

// StableMetricNames implements MetricReader.
func (s Sequential) StableMetricNames() []string { return []string{s.Metric} }

// MetricNames implements MetricReader.
func (c Compare) MetricNames() []string {
	var out []string
	for _, r := range c.Metrics {
		out = union(out, []string{r.Metric})
	}
	return out
}

// StableMetricNames implements MetricReader.
func (c Compare) StableMetricNames() []string { return c.MetricNames() }

// MetricNames implements MetricReader.
func (d DualWindow) MetricNames() []string { return []string{d.Metric} }

// StableMetricNames implements MetricReader: the two windows read the canary
// and the stable version's history (the baseline), not its short window.
func (DualWindow) StableMetricNames() []string { return nil }

// MetricNames implements MetricReader.
func (m MannWhitney) MetricNames() []string {
	var out []string
	for _, j := range m.Metrics {
		out = union(out, []string{j.Metric})
	}
	return out
}

// StableMetricNames implements MetricReader.
func (m MannWhitney) StableMetricNames() []string { return m.MetricNames() }

// MetricNames implements MetricReader.
func (r Rates) MetricNames() []string {
	var out []string
	for _, m := range r.Metrics {
		out = union(out, []string{m.Metric})
	}
	return out
}

// StableMetricNames implements MetricReader.
func (r Rates) StableMetricNames() []string { return r.MetricNames() }

// MetricNames implements MetricReader.
func (r Resources) MetricNames() []string {
	var out []string
	for _, u := range r.Usage {
		out = union(out, []string{u.Metric})
	}
	out = union(out, r.Faults)
	for _, m := range []string{r.Replicas, r.Requests} {
		if m != "" {
			out = union(out, []string{m})
		}
	}
	return out
}

// StableMetricNames implements MetricReader: usage is compared with stable's
// per unit, so the usage metrics and their divisors need stable measured.
func (r Resources) StableMetricNames() []string {
	out := []string{}
	for _, u := range r.Usage {
		out = union(out, []string{u.Metric})
	}
	for _, m := range []string{r.Replicas, r.Requests} {
		if m != "" {
			out = union(out, []string{m})
		}
	}
	return out
}
