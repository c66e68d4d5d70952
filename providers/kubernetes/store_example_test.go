package kubernetes_test

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/store"
)

// Two drivers of one rollout: the one holding a stale resourceVersion is
// refused.
func ExampleConfigMapStore() {
	ctx := context.Background()
	client := fake.NewClientset() // in a program: kubernetes.NewForConfig(restConfig)
	casConfigMaps(client)         // the fake then checks resourceVersions as the API server does
	s := &kubernetes.ConfigMapStore{Client: client, Namespace: "shop"}

	v1, _ := s.Save(ctx, "checkout", []byte(`{"phase":"progressing"}`), "")
	_, err := s.Save(ctx, "checkout", []byte(`{"phase":"rolling-back"}`), v1)
	fmt.Println("new driver:", err)
	_, err = s.Save(ctx, "checkout", []byte(`{"phase":"succeeded"}`), v1)
	fmt.Println("stale driver refused:", errors.Is(err, store.ErrConflict))
	_, err = s.Save(ctx, "big", make([]byte, kubernetes.MaxRecordSize+1), "")
	fmt.Println(err)
	// Output:
	// new driver: <nil>
	// stale driver refused: true
	// invalid data (1024001 bytes): must be at most 1024000 bytes (kubernetes.MaxRecordSize, under the API server's 1 MiB ConfigMap limit)
}

// A rollout's events as Kubernetes Events on its object.
func ExampleEvents() {
	ctx := context.Background()
	client := fake.NewClientset()
	ev := kubernetes.NewEvents(client, kubernetes.EventsConfig{})
	sink := ev.Sink(&corev1.ObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Namespace: "shop", Name: "checkout-canary"})
	_ = sink.Record(ctx, rollback.Event{Seq: 4, Rollout: "checkout", Kind: rollback.KindTransition,
		From: rollback.Progressing, To: rollback.RollingBack, WeightFrom: 20, Actor: "policy", Reason: "2 failed analyses"})
	l, _ := client.CoreV1().Events("shop").List(ctx, metav1.ListOptions{})
	for _, e := range l.Items {
		fmt.Println(e.Type, e.Reason, e.Message)
	}
	// Output:
	// Warning RollingBack progressing → rolling-back, canary 20 % → 0 % by policy: 2 failed analyses
}
