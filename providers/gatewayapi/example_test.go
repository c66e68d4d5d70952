package gatewayapi_test

import (
	"context"
	"fmt"

	"sigs.k8s.io/gateway-api/pkg/client/clientset/versioned/fake"

	"github.com/meshcanary/canary/providers/gatewayapi"
	"github.com/meshcanary/canary/traffic"
)

func ExampleDriver_Desired() {
	// A real program passes versioned.NewForConfig(restConfig).
	client := fake.NewClientset(sampleRoute("shop", "cart"))
	r, err := gatewayapi.NewDriver(client, gatewayapi.Config{
		Namespace: "shop", Route: "cart", Rule: "api", Stable: "cart", Canary: "cart-canary",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// For GitOps: compute the route without writing it.
	route, err := r.Desired(context.Background(), traffic.Weighted(20))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ref := range route.Spec.Rules[0].BackendRefs {
		fmt.Printf("%s weight %d\n", ref.Name, *ref.Weight)
	}
	// Output:
	// cart weight 80
	// cart-canary weight 20
}
