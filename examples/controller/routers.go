package main

import (
	"errors"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/dynamic"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/gatewayapi"
	"github.com/meshcanary/canary/providers/istio"
	mckube "github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/rollback"
)

// routers returns the function that builds a rollout's traffic router from
// spec.router.kind: an Istio VirtualService in host mode (one host per
// version), a Gateway API HTTPRoute (one backendRef per version), an SMI TrafficSplit, the AWS Load Balancer
// Controller's weighted action on an Ingress, or the replica ratio of two
// Deployments behind one Service. Only the [rollback.Splitter] methods are
// used; deploy/rbac.yaml grants each exactly the verbs it uses.
func routers(cfg *rest.Config) (func(r *Rollout) (rollback.Splitter, error), error) {
	ic, err := istioclient.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	gc, err := gatewayclient.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	kc, err := k8s.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return func(r *Rollout) (rollback.Splitter, error) {
		rt := r.Spec.Router
		switch rt.Kind {
		case "VirtualService":
			return istio.New(ic, istio.Config{Namespace: r.Namespace, VirtualService: rt.Name, Route: rt.Route,
				Stable: istio.Destination{Host: rt.StableService}, Canary: istio.Destination{Host: rt.CanaryService}})
		case "HTTPRoute":
			g, err := gatewayapi.New(gc, gatewayapi.Config{Namespace: r.Namespace, Route: rt.Name, Rule: rt.Route,
				Stable: rt.StableService, Canary: rt.CanaryService, Implementation: rt.Implementation})
			if err != nil {
				return nil, configField(err, "Config.Implementation", "spec.router.implementation")
			}
			return g, nil
		case "TrafficSplit":
			return mckube.NewTrafficSplit(dc, mckube.TrafficSplitConfig{Namespace: r.Namespace, TrafficSplit: rt.Name,
				Service: rt.RootService, Stable: rt.StableService, Canary: rt.CanaryService, APIVersion: rt.APIVersion})
		case "Ingress":
			return mckube.NewALB(kc, mckube.ALBConfig{Namespace: r.Namespace, Ingress: rt.Name, Action: rt.ActionName,
				Stable: rt.StableService, Canary: rt.CanaryService, ServicePort: rt.ServicePort})
		case "ReplicaRatio":
			return mckube.NewReplicaRatio(kc, mckube.ReplicaRatioConfig{Namespace: r.Namespace, Service: rt.Name,
				Stable: r.Spec.Stable.Deployment, Canary: r.Spec.Canary.Deployment, Replicas: rt.Replicas})
		}
		return nil, canary.Invalid("spec.router.kind", rt.Kind, "must be one of VirtualService, HTTPRoute, TrafficSplit, Ingress, ReplicaRatio")
	}, nil
}

// configField renames a router constructor's *[canary.FieldError] on
// field (a Config field of the library) to the custom resource's field,
// so that the condition and the Event name what the user wrote.
func configField(err error, field, crField string) error {
	var fe *canary.FieldError
	if errors.As(err, &fe) && fe.Field == field {
		return canary.Invalid(crField, fe.Value, "%s", fe.Reason)
	}
	return err
}
