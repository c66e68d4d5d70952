package appmesh_test

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/meshcanary/canary/providers/appmesh"
	"github.com/meshcanary/canary/traffic"
)

func ExampleRouter() {
	// A real program passes dynamic.NewForConfig(restConfig).
	client := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), sampleRouter("shop", "cart", "httpRoute"))
	r, err := appmesh.New(client, appmesh.Config{
		Namespace: "shop", VirtualRouter: "cart", Route: "api", Stable: "cart", Canary: "cart-canary",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := r.SetSplit(ctx, traffic.Weighted(10)); err != nil {
		fmt.Println(err)
		return
	}
	s, _ := r.Split(ctx)
	fmt.Println(s)
	fmt.Println(r.SetSplit(ctx, traffic.Split{Stable: 90, Canary: 10, Mirror: 5}))
	// Output:
	// stable 90% / canary 10%
	// invalid Split.Mirror (5): App Mesh cannot mirror requests; use 0 (or the Gateway API router)
}
