package istio_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshcanary/canary/providers/istio"
	"github.com/meshcanary/canary/traffic"
	"istio.io/client-go/pkg/clientset/versioned/fake"
)

func Example() {
	ctx := context.Background()
	// In a program: versioned.NewForConfig(restConfig). The fake holds a
	// VirtualService "reviews" whose route "primary" goes to subset v1,
	// and a DestinationRule with subsets v1 and v2.
	client := fake.NewSimpleClientset(virtualService("shop", "reviews", "v1"), destinationRule("shop", "v1", "v2"))
	r, err := istio.New(client, istio.Config{
		Namespace:       "shop",
		VirtualService:  "reviews",
		Route:           "primary",
		Stable:          istio.Destination{Host: "reviews", Subset: "v1"},
		Canary:          istio.Destination{Host: "reviews", Subset: "v2"},
		DestinationRule: "reviews",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range []traffic.Split{
		{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "yes"}},
		traffic.Weighted(20),
		traffic.AllStable(),
	} {
		if err := r.SetSplit(ctx, s); err != nil {
			fmt.Println(err)
			return
		}
		got, _ := r.Split(ctx)
		fmt.Println(got)
	}
	// A weight Istio cannot express is refused before any request.
	err = r.SetSplit(ctx, traffic.Split{Stable: 90, Canary: 20})
	fmt.Println(err)
	// Output:
	// stable 100% / canary 0%, test route x-canary=yes
	// stable 80% / canary 20%
	// stable 100% / canary 0%
	// invalid Split.Canary (20): stable 90 + canary 20 must sum to 100
}

func ExampleDriver_Desired() {
	ctx := context.Background()
	client := fake.NewSimpleClientset(virtualService("shop", "reviews", "v1"))
	r, _ := istio.NewDriver(client, istio.Config{
		Namespace: "shop", VirtualService: "reviews", Route: "primary",
		Stable: istio.Destination{Host: "reviews", Subset: "v1"},
		Canary: istio.Destination{Host: "reviews", Subset: "v2"},
	})
	// For GitOps: the object to commit, nothing written.
	vs, err := r.Desired(ctx, traffic.Weighted(10))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range vs.Spec.Http[1].Route {
		fmt.Printf("%s/%s weight %d\n", d.Destination.Host, d.Destination.Subset, d.Weight)
	}
	// Output:
	// reviews/v1 weight 90
	// reviews/v2 weight 10
}

func ExampleObjectError() {
	vs := virtualService("shop", "reviews", "v1")
	for _, h := range vs.Spec.Http {
		h.Name = "" // three unnamed routes
	}
	r, _ := istio.New(fake.NewSimpleClientset(vs), istio.Config{
		Namespace: "shop", VirtualService: "reviews",
		Stable: istio.Destination{Host: "reviews-stable"},
		Canary: istio.Destination{Host: "reviews-canary"},
	})
	err := r.SetSplit(context.Background(), traffic.Weighted(10))
	var oe *istio.ObjectError
	if errors.As(err, &oe) {
		fmt.Println(oe.Kind, oe.Namespace+"/"+oe.Name, oe.Field)
	}
	fmt.Println(err)
	// Output:
	// VirtualService shop/reviews spec.http[].name
	// set split of VirtualService shop/reviews: istio: VirtualService shop/reviews: spec.http[].name: has 3 HTTP routes and no route name is configured; name the route to manage and set Config.Route
}
