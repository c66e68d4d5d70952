package main

import (
	"errors"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/meshcanary/canary"
)

// routers builds a router for every kind the CRD accepts (the
// constructors send no request), and refuses an unknown kind with the
// field named.
func TestRoutersBuildEveryKind(t *testing.T) {
	build, err := routers(&rest.Config{Host: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	spec := func(rt Router) *Rollout {
		return &Rollout{Name: "a", Namespace: "ns", Spec: Spec{Stable: DeploymentRef{"a"}, Canary: DeploymentRef{"a-canary"}, Router: rt}}
	}
	for _, rt := range []Router{
		{Kind: "VirtualService", Name: "a", StableService: "a", CanaryService: "a-canary"},
		{Kind: "HTTPRoute", Name: "a", StableService: "a", CanaryService: "a-canary"},
		{Kind: "TrafficSplit", Name: "a", RootService: "a", StableService: "a-stable", CanaryService: "a-canary"},
		{Kind: "Ingress", Name: "a", ActionName: "a-split", StableService: "a", CanaryService: "a-canary", ServicePort: 80},
		{Kind: "ReplicaRatio", Name: "a", Replicas: 4},
		{Kind: "HTTPRoute", Name: "a", StableService: "a", CanaryService: "a-canary", Implementation: "linkerd"},
		{Kind: "HTTPRoute", Name: "a", StableService: "a", CanaryService: "a-canary", Implementation: "vpc-lattice"},
	} {
		if r, err := build(spec(rt)); err != nil || r == nil {
			t.Errorf("%s: %v", rt.Kind, err)
		}
	}
	_, err = build(spec(Router{Kind: "Nginx", Name: "a"}))
	var fe *canary.FieldError
	if !errors.As(err, &fe) || fe.Field != "spec.router.kind" {
		t.Errorf("unknown kind: %v, want a FieldError naming spec.router.kind", err)
	}
	// An implementation the Gateway API router does not know is refused
	// naming the custom resource's field, not the library's Config.
	r, err := build(spec(Router{Kind: "HTTPRoute", Name: "a", StableService: "a", CanaryService: "a-canary", Implementation: "istio"}))
	if !errors.As(err, &fe) || fe.Field != "spec.router.implementation" || r != nil {
		t.Errorf("unknown implementation: %v %v, want a FieldError naming spec.router.implementation", r, err)
	}
}
