package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/providers/prometheus"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/spec"
)

// lookup adds the Istio and Envoy PromQL templates of providers/prometheus
// to the spec's built-ins: "istio/error-rate", "envoy/latency-p99", ….
func lookup(name string) (spec.Builtin, bool) {
	b, ok := builtins()[name]
	return b, ok
}

func builtins() map[string]spec.Builtin {
	m := map[string]spec.Builtin{}
	add := func(prefix string, q prometheus.Queries, err error) {
		if err != nil {
			return
		}
		for n, t := range map[string]metrics.Template{"error-rate": q.ErrorRate, "success-rate": q.SuccessRate,
			"request-rate": q.RequestRate, "latency-p50": q.LatencyP50, "latency-p95": q.LatencyP95, "latency-p99": q.LatencyP99} {
			m[prefix+"/"+n] = spec.Builtin{Query: t, Count: q.RequestCount}
		}
	}
	q, err := prometheus.IstioQueries(prometheus.IstioLabels{})
	add("istio", q, err)
	q, err = prometheus.EnvoyQueries(prometheus.EnvoyLabels{})
	add("envoy", q, err)
	return m
}

// resources are what a run started and must stop.
type resources struct{ closers []func() }

func (r *resources) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

// factories builds routers and providers for a run.
func (r *resources) factories() spec.Factories {
	return spec.Factories{Lookup: lookup, Router: r.router, Provider: r.provider}
}

func (r *resources) router(_ context.Context, rs spec.Router) (rollback.Router, error) {
	switch {
	case rs.HTTPSplit != nil:
		h := rs.HTTPSplit
		st, err := url.Parse(h.Stable)
		if err != nil {
			return nil, err
		}
		ca, err := url.Parse(h.Canary)
		if err != nil {
			return nil, err
		}
		p, err := httpsplit.New(httpsplit.Config{Stable: st, Canary: ca, Retention: h.Retention.D()})
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", h.Listen)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("listen: %w", err)
		}
		srv := &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Println("httpsplit:", err)
			}
		}()
		r.closers = append(r.closers, func() { srv.Close(); p.Close() })
		return p, nil
	}
	return kubeRouter(rs)
}

func (r *resources) provider(_ context.Context, ps spec.Provider, router rollback.Router) (metrics.Provider, error) {
	switch {
	case ps.HTTPSplit != nil:
		p, ok := router.(*httpsplit.Proxy)
		if !ok {
			return nil, fmt.Errorf("the httpsplit provider needs the httpsplit router")
		}
		return p, nil
	case ps.Prometheus != nil:
		return prometheus.New(prometheus.Config{Address: ps.Prometheus.Address})
	}
	return nil, fmt.Errorf("no provider set")
}
