package main

import (
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/rest"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/gatewayapi"
	"github.com/meshcanary/canary/providers/istio"
	"github.com/meshcanary/canary/rollback"
)

// routers returns the function that builds a rollout's traffic router:
// an Istio VirtualService in host mode (one host per version) or a Gateway
// API HTTPRoute (one backendRef per version). Only the [rollback.Router]
// methods are used.
func routers(cfg *rest.Config) (func(r *Rollout) (rollback.Router, error), error) {
	ic, err := istioclient.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	gc, err := gatewayclient.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return func(r *Rollout) (rollback.Router, error) {
		rt := r.Spec.Router
		switch rt.Kind {
		case "VirtualService":
			return istio.New(ic, istio.Config{Namespace: r.Namespace, VirtualService: rt.Name, Route: rt.Route,
				Stable: istio.Destination{Host: rt.StableService}, Canary: istio.Destination{Host: rt.CanaryService}})
		case "HTTPRoute":
			return gatewayapi.New(gc, gatewayapi.Config{Namespace: r.Namespace, Route: rt.Name, Rule: rt.Route,
				Stable: rt.StableService, Canary: rt.CanaryService})
		}
		return nil, canary.Invalid("spec.router.kind", rt.Kind, "must be VirtualService or HTTPRoute")
	}, nil
}
