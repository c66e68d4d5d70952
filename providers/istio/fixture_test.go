package istio_test

import (
	"github.com/meshcanary/canary/providers/istio"
	"google.golang.org/protobuf/types/known/durationpb"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// subsetConfig is a subset-mode Config over the objects of fixture.
func subsetConfig(ns string) istio.Config {
	return istio.Config{
		Namespace:       ns,
		VirtualService:  "reviews",
		Route:           "primary",
		Stable:          istio.Destination{Host: "reviews", Subset: "v1"},
		Canary:          istio.Destination{Host: "reviews", Subset: "v2"},
		DestinationRule: "reviews",
	}
}

// hostConfig is a host-mode Config over the objects of hostFixture.
func hostConfig(ns string) istio.Config {
	return istio.Config{
		Namespace:      ns,
		VirtualService: "reviews",
		Route:          "primary",
		Stable:         istio.Destination{Host: "reviews-stable"},
		Canary:         istio.Destination{Host: "reviews-canary." + ns + ".svc.cluster.local"},
	}
}

// virtualService has a managed route "primary" to stable with fields the
// router must not touch (match, timeout, retries, headers), a route before
// it and a route after it.
func virtualService(ns, stableHost, stableSubset string) *networkingv1.VirtualService {
	vs := &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: ns,
		Labels: map[string]string{"app": "reviews"}, Annotations: map[string]string{"owner": "team-a"}}}
	vs.Spec.Hosts = []string{"reviews"}
	vs.Spec.Gateways = []string{"mesh"}
	vs.Spec.Http = []*networkingv1alpha3.HTTPRoute{
		{
			Name:  "static",
			Match: []*networkingv1alpha3.HTTPMatchRequest{{Uri: &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Prefix{Prefix: "/static"}}}},
			Route: []*networkingv1alpha3.HTTPRouteDestination{{Destination: &networkingv1alpha3.Destination{Host: "assets"}}},
		},
		{
			Name:    "primary",
			Match:   []*networkingv1alpha3.HTTPMatchRequest{{Uri: &networkingv1alpha3.StringMatch{MatchType: &networkingv1alpha3.StringMatch_Prefix{Prefix: "/api"}}}},
			Route:   []*networkingv1alpha3.HTTPRouteDestination{{Destination: &networkingv1alpha3.Destination{Host: stableHost, Subset: stableSubset}}},
			Timeout: durationpb.New(1500 * 1e6),
			Retries: &networkingv1alpha3.HTTPRetry{Attempts: 3, RetryOn: "5xx"},
			Headers: &networkingv1alpha3.Headers{Request: &networkingv1alpha3.Headers_HeaderOperations{Set: map[string]string{"x-from": "mesh"}}},
		},
		{
			Name:  "fallback",
			Route: []*networkingv1alpha3.HTTPRouteDestination{{Destination: &networkingv1alpha3.Destination{Host: "legacy"}}},
		},
	}
	return vs
}

func destinationRule(ns string, subsets ...string) *networkingv1.DestinationRule {
	dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: ns}}
	dr.Spec.Host = "reviews"
	for _, s := range subsets {
		dr.Spec.Subsets = append(dr.Spec.Subsets, &networkingv1alpha3.Subset{Name: s, Labels: map[string]string{"version": s}})
	}
	return dr
}
