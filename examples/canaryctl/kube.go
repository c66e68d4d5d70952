package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshcanary/canary/providers/appmesh"
	"github.com/meshcanary/canary/providers/gatewayapi"
	"github.com/meshcanary/canary/providers/istio"
	k8sstore "github.com/meshcanary/canary/providers/kubernetes"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/spec"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

// kubeconfig returns the REST config of the file named in the rollout, or
// of $KUBECONFIG, or of ~/.kube/config.
func kubeconfig(file string) (*rest.Config, error) {
	if file == "" {
		file = strings.Split(os.Getenv("KUBECONFIG"), string(os.PathListSeparator))[0]
	}
	if file == "" {
		if home, err := os.UserHomeDir(); err == nil {
			file = filepath.Join(home, ".kube", "config")
		}
	}
	rc, err := clientcmd.BuildConfigFromFlags("", file)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", file, err)
	}
	return rc, nil
}

// kubeRouter builds the Kubernetes routers (providers/istio, gatewayapi,
// appmesh) from the rollout file's options.
func kubeRouter(rs spec.Routing) (rollback.Splitter, error) {
	switch {
	case rs.Istio != nil:
		i := rs.Istio
		rc, err := kubeconfig(i.Kubeconfig)
		if err != nil {
			return nil, err
		}
		c, err := istioclient.NewForConfig(rc)
		if err != nil {
			return nil, err
		}
		return istio.New(c, istio.Config{Namespace: i.Namespace, VirtualService: i.VirtualService, Route: i.Route,
			Stable:    istio.Destination{Host: i.Stable.Host, Subset: i.Stable.Subset, LabelValue: i.Stable.LabelValue},
			Canary:    istio.Destination{Host: i.Canary.Host, Subset: i.Canary.Subset, LabelValue: i.Canary.LabelValue},
			TestRoute: i.TestRoute, DestinationRule: i.DestinationRule, CreateSubsets: i.CreateSubsets})
	case rs.GatewayAPI != nil:
		g := rs.GatewayAPI
		rc, err := kubeconfig(g.Kubeconfig)
		if err != nil {
			return nil, err
		}
		c, err := gwclient.NewForConfig(rc)
		if err != nil {
			return nil, err
		}
		return gatewayapi.New(c, gatewayapi.Config{Namespace: g.Namespace, Route: g.Route, Rule: g.Rule,
			Stable: g.Stable, Canary: g.Canary, TestRule: g.TestRule, Implementation: g.Implementation})
	case rs.AppMesh != nil:
		a := rs.AppMesh
		rc, err := kubeconfig(a.Kubeconfig)
		if err != nil {
			return nil, err
		}
		c, err := dynamic.NewForConfig(rc)
		if err != nil {
			return nil, err
		}
		return appmesh.New(c, appmesh.Config{Namespace: a.Namespace, VirtualRouter: a.VirtualRouter, Route: a.Route,
			Stable: a.Stable, Canary: a.Canary, TestRoute: a.TestRoute})
	}
	return nil, fmt.Errorf("no router set")
}

// openKubeStore opens the ConfigMap store of namespace ns. It checks,
// before anything is written, that the API server answers and that the
// namespace exists, so that a wrong --store or --kubeconfig is one line
// and nothing half-written.
func openKubeStore(ctx context.Context, ns, file string) (rolloutStore, error) {
	if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
		return rolloutStore{}, fmt.Errorf("--store %s%s: not a namespace name: %s", kubeStorePrefix, ns, msgs[0])
	}
	rc, err := kubeconfig(file)
	if err != nil {
		return rolloutStore{}, err
	}
	// A request that hangs (an address that drops packets) ends with a
	// message rather than never.
	rc.Timeout = 20 * time.Second
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return rolloutStore{}, fmt.Errorf("kubeconfig: %w", err)
	}
	where := fmt.Sprintf("%s%s (ConfigMaps %s* on %s)", kubeStorePrefix, ns, kubeConfigMapPrefix, rc.Host)
	_, err = c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case err == nil, apierrors.IsForbidden(err):
		// Allowed to use ConfigMaps but not to read namespaces: the
		// first Load says whether the namespace exists.
	case apierrors.IsNotFound(err):
		return rolloutStore{}, fmt.Errorf("store %s: namespace %q does not exist on %s", kubeStorePrefix+ns, ns, rc.Host)
	case ctx.Err() != nil:
		return rolloutStore{}, ctx.Err()
	default:
		return rolloutStore{}, fmt.Errorf("store %s: the Kubernetes API server %s did not answer: %v", kubeStorePrefix+ns, rc.Host, err)
	}
	return rolloutStore{Store: &k8sstore.ConfigMapStore{Client: c, Namespace: ns, Prefix: kubeConfigMapPrefix}, where: where}, nil
}
