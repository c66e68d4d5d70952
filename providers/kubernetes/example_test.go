package kubernetes_test

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/workload"
)

func ExampleDeployments() {
	ctx := context.Background()
	replicas := int32(2)
	// A real program passes a clientset built from its kubeconfig.
	client := fake.NewClientset(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cart"}, Spec: appsv1.DeploymentSpec{Replicas: &replicas}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cart-canary"}, Spec: appsv1.DeploymentSpec{Replicas: &replicas}},
	)
	d, err := kubernetes.NewDeployments(client, kubernetes.DeploymentsConfig{Namespace: "shop", Stable: "cart", Canary: "cart-canary"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := d.Scale(ctx, workload.Canary, 0); err != nil { // a rollback scales the canary down
		fmt.Println(err)
		return
	}
	n, _ := d.Replicas(ctx, workload.Canary)
	ready, reason, _ := d.Ready(ctx, workload.Canary)
	fmt.Printf("replicas %d, ready %v, reason %q\n", n, ready, reason)

	_, err = kubernetes.NewDeployments(client, kubernetes.DeploymentsConfig{Namespace: "shop", Stable: "Cart", Canary: "cart-canary"})
	fmt.Println(err)
	// Output:
	// replicas 0, ready true, reason ""
	// invalid DeploymentsConfig.Stable (Cart): a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')
}
