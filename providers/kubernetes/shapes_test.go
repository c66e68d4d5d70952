package kubernetes_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/traffic"
)

// The three weight-only routers (SMI TrafficSplit, ALB Ingress,
// ReplicaRatio) carry no cohort and no session affinity: their drivers do
// not declare traffic.Features, and the Router refuses such a split with a
// *canary.FieldError naming the field and the router, before any request
// (the fake clients record none).
func TestWeightOnlyRoutersRefuseShapes(t *testing.T) {
	cohort, err := traffic.NewCohort(traffic.Match{Header: "x-user", Value: "beta"})
	if err != nil {
		t.Fatal(err)
	}
	cookie, err := traffic.NewCohort(traffic.Match{Cookie: "ab", Value: "on"})
	if err != nil {
		t.Fatal(err)
	}
	shapes := []struct {
		s     traffic.Split
		field string
		text  string
	}{
		{traffic.Split{Stable: 100, Cohort: cohort}, "Split.Cohort[0].Header", "cannot route by header"},
		{traffic.Split{Stable: 100, Cohort: cookie}, "Split.Cohort[0].Cookie", "cannot route by cookie"},
		{traffic.Split{Stable: 80, Canary: 20, Affinity: traffic.Affinity{Cookie: "s", Value: "v", MaxAge: 60}}, "Split.Affinity", "session affinity"},
	}
	kube := fake.NewSimpleClientset()
	dyn := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme())
	smi, err := kubernetes.NewTrafficSplitDriver(dyn, smiConfig("shop", "split", "v1alpha2"))
	if err != nil {
		t.Fatal(err)
	}
	alb, err := kubernetes.NewALBDriver(kube, albConfig("shop", "ingress"))
	if err != nil {
		t.Fatal(err)
	}
	ratio, err := kubernetes.NewReplicaRatioDriver(kube, ratioConfig("shop", "cart"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		driver interface {
			traffic.Driver
			RouterConfig() traffic.Config
		}
		object string
	}{
		{"TrafficSplit", smi, "TrafficSplit shop/split"},
		{"ALB", alb, "Ingress shop/ingress"},
		{"ReplicaRatio", ratio, "Deployments shop/cart and shop/cart-canary"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, ok := c.driver.(traffic.Featurer); ok {
				t.Fatalf("%T declares traffic.Features; it carries weights only", c.driver)
			}
			r := traffic.NewRouter(c.driver, c.driver.RouterConfig())
			for _, sh := range shapes {
				for _, err := range []error{r.Check(sh.s), r.SetSplit(context.Background(), sh.s)} {
					var fe *canary.FieldError
					if !errors.As(err, &fe) || fe.Field != sh.field || !strings.Contains(err.Error(), c.object) || !strings.Contains(err.Error(), sh.text) {
						t.Errorf("%v: %v; want a FieldError on %s naming %q", sh.s, err, sh.field, c.object)
					}
				}
			}
			if n := len(kube.Actions()) + len(dyn.Actions()); n != 0 {
				t.Errorf("refused splits sent %d requests", n)
			}
		})
	}
}
