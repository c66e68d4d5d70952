package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/httpsplit"
	k8sprov "github.com/meshcanary/canary/providers/kubernetes"
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

func (r *resources) router(_ context.Context, rs spec.Routing) (rollback.Splitter, error) {
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
	if router, ok, err := moreKubeRouters(rs); ok {
		return router, err
	}
	return kubeRouter(rs)
}

// moreKubeRouters builds the routers of providers/kubernetes from the
// rollout file: replicaRatio (no traffic router: the share of ready
// pods), smi (an SMI TrafficSplit) and alb (the AWS Load Balancer
// Controller's action on an Ingress). ok is false for any other router.
func moreKubeRouters(rs spec.Routing) (_ rollback.Splitter, ok bool, _ error) {
	var file string
	switch {
	case rs.ReplicaRatio != nil:
		file = rs.ReplicaRatio.Kubeconfig
	case rs.SMI != nil:
		file = rs.SMI.Kubeconfig
	case rs.ALB != nil:
		file = rs.ALB.Kubeconfig
	default:
		return nil, false, nil
	}
	rc, err := kubeconfig(file)
	if err != nil {
		return nil, true, err
	}
	switch {
	case rs.ReplicaRatio != nil:
		c, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, true, err
		}
		rr := rs.ReplicaRatio
		if rr.Replicas < 1 || rr.Replicas > math.MaxInt32 {
			return nil, true, fmt.Errorf("router.replicaRatio.replicas: %d is not a number of pods", rr.Replicas)
		}
		total := int32(rr.Replicas)
		_, step := k8sprov.RoundWeight(1, total)
		fmt.Printf("router replicaRatio: %d replicas: a canary weight w runs ceil(%d × w / 100) canary pods, so the canary's share of the pods moves in steps of %d %%\n",
			total, total, step)
		r, err := k8sprov.NewReplicaRatio(c, k8sprov.ReplicaRatioConfig{Namespace: rr.Namespace, Service: rr.Service,
			Stable: rr.StableDeployment, Canary: rr.CanaryDeployment, Replicas: total})
		return r, true, err
	case rs.SMI != nil:
		c, err := dynamic.NewForConfig(rc)
		if err != nil {
			return nil, true, err
		}
		s := rs.SMI
		r, err := k8sprov.NewTrafficSplit(c, k8sprov.TrafficSplitConfig{Namespace: s.Namespace, TrafficSplit: s.TrafficSplit,
			Service: s.Service, Stable: s.StableBackend, Canary: s.CanaryBackend, APIVersion: s.APIVersion})
		return r, true, err
	default:
		c, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, true, err
		}
		a := rs.ALB
		if a.ServicePort < 1 || a.ServicePort > 65535 {
			return nil, true, fmt.Errorf("router.alb.servicePort: %d is not a port number", a.ServicePort)
		}
		r, err := k8sprov.NewALB(c, k8sprov.ALBConfig{Namespace: a.Namespace, Ingress: a.Ingress, Action: a.ActionName,
			Stable: a.StableService, Canary: a.CanaryService, ServicePort: int32(a.ServicePort)})
		return r, true, err
	}
}

func (r *resources) provider(_ context.Context, ps spec.Provider, router rollback.Splitter) (metrics.Provider, error) {
	switch {
	case ps.HTTPSplit != nil:
		p, ok := router.(*httpsplit.Proxy)
		if !ok {
			return nil, fmt.Errorf("the httpsplit provider needs the httpsplit router")
		}
		// While the canary has no weight and a mirror is set (blue/green
		// with mirroring before the switch, a zero-traffic phase with a
		// mirror), its only requests are the copies: judge it on them.
		return p.MirrorView(), nil
	case ps.Prometheus != nil:
		return prometheus.New(prometheusConfig(ps.Prometheus))
	}
	return nil, fmt.Errorf("no provider set")
}
