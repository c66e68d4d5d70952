package main

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/meshcanary/canary/providers/kubernetes"
)

// kubelet stands in, on the API server of the tests (which runs no
// controllers), for the Deployment controller and the kubelets: whenever
// a Deployment's spec.replicas differs from its status, it writes a
// status with that many pods, all ready, and the generation observed. The
// ReplicaRatio router waits for these ready counts after each write.
func (f *fixture) kubelet(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(f.ctx)
	w := watchFrom(ctx, t, func(ctx context.Context) (string, error) {
		l, err := f.kc.AppsV1().Deployments(f.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", err
		}
		return l.ResourceVersion, nil
	}, func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return f.kc.AppsV1().Deployments(f.ns).Watch(ctx, o)
	})
	var wg sync.WaitGroup
	wg.Add(1)
	t.Cleanup(func() { cancel(); w.Stop(); wg.Wait() })
	go func() {
		defer wg.Done()
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok || ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			n := int32(1)
			if d.Spec.Replicas != nil {
				n = *d.Spec.Replicas
			}
			st := d.Status
			if st.ObservedGeneration == d.Generation && st.Replicas == n && st.ReadyReplicas == n && st.AvailableReplicas == n {
				continue
			}
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n,
				ReadyReplicas: n, AvailableReplicas: n}
			// A conflict means a newer event is on its way.
			_, _ = f.kc.AppsV1().Deployments(f.ns).UpdateStatus(ctx, d, metav1.UpdateOptions{})
		}
	}()
}

// smiApp is an application behind an SMI TrafficSplit (v1alpha4, as
// Linkerd's SMI extension serves it): root Service name over name-v1 (all
// the traffic), name-canary and a third backend at weight 0, with a label
// and an annotation another tool owns.
func (f *fixture) smiApp(t *testing.T, name string) *unstructured.Unstructured {
	t.Helper()
	f.deployment(t, name, 4)
	f.deployment(t, name+"-canary", 2)
	ts := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
		"metadata": map[string]any{"namespace": f.ns, "name": name,
			"labels": map[string]any{"owner": "flux"}, "annotations": map[string]any{"team": "cart"}},
		"spec": map[string]any{"service": name, "backends": []any{
			map[string]any{"service": name + "-v1", "weight": int64(100)},
			map[string]any{"service": name + "-old", "weight": int64(0)},
			map[string]any{"service": name + "-canary", "weight": int64(0)},
		}},
	}}
	before, err := f.dc.Resource(kubernetes.TrafficSplits("v1alpha4")).Namespace(f.ns).Create(f.ctx, ts, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := rolloutSpec(name)
	spec["router"] = map[string]any{"kind": "TrafficSplit", "name": name, "rootService": name, "apiVersion": "v1alpha4",
		"stableService": name + "-v1", "canaryService": name + "-canary"}
	f.createRollout(t, name, spec)
	return before
}

// smiCanaryWeight reads the TrafficSplit's canary backend weight.
func (f *fixture) smiCanaryWeight(t *testing.T, name string) (int64, *unstructured.Unstructured) {
	t.Helper()
	u, err := f.dc.Resource(kubernetes.TrafficSplits("v1alpha4")).Namespace(f.ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bs, _, _ := unstructured.NestedSlice(u.Object, "spec", "backends")
	for _, b := range bs {
		if b.(map[string]any)["service"] == name+"-canary" {
			w, _, _ := unstructured.NestedInt64(b.(map[string]any), "weight")
			return w, u
		}
	}
	return -1, u
}

// albAction is the AWS Load Balancer Controller's forward action with
// every request on stable, in the layout of the controller's
// documentation (which the router keeps).
func albAction(name string, canaryWeight int) string {
	return fmt.Sprintf(`{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"%s","servicePort":80,"weight":%d},{"serviceName":"%s-canary","servicePort":80,"weight":%d}],"targetGroupStickinessConfig":{"enabled":true,"durationSeconds":60}}}`,
		name, 100-canaryWeight, name, canaryWeight)
}

const albActionKey = "alb.ingress.kubernetes.io/actions."

// albApp is an application behind an Ingress of the AWS Load Balancer
// Controller: the action name-split on /api, a plain Service on /static,
// and annotations the controller and other tools own.
func (f *fixture) albApp(t *testing.T, name string) *networkingv1.Ingress {
	t.Helper()
	f.deployment(t, name, 4)
	f.deployment(t, name+"-canary", 2)
	prefix, class := networkingv1.PathTypePrefix, "alb"
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name, Annotations: map[string]string{
			"alb.ingress.kubernetes.io/scheme":     "internet-facing",
			albActionKey + name + "-split":         albAction(name, 0),
			albActionKey + "maintain":              `{"type":"fixed-response","fixedResponseConfig":{"contentType":"text/plain","statusCode":"503"}}`,
			"alb.ingress.kubernetes.io/group.name": "shop",
		}},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{Host: name + ".example",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
				{Path: "/api", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: name + "-split", Port: networkingv1.ServiceBackendPort{Name: "use-annotation"}}}},
				{Path: "/static", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "assets", Port: networkingv1.ServiceBackendPort{Number: 80}}}},
			}}}}}},
	}
	before, err := f.kc.NetworkingV1().Ingresses(f.ns).Create(f.ctx, ing, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := rolloutSpec(name)
	spec["router"] = map[string]any{"kind": "Ingress", "name": name, "actionName": name + "-split", "servicePort": int64(80),
		"stableService": name, "canaryService": name + "-canary"}
	f.createRollout(t, name, spec)
	return before
}

// ratioApp is an application without a router: one Service selecting the
// pods of the stable Deployment (4 replicas) and of the canary (none).
func (f *fixture) ratioApp(t *testing.T, name string) {
	t.Helper()
	part := map[string]string{"app.kubernetes.io/part-of": name}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec: corev1.ServiceSpec{Selector: part, Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := f.kc.CoreV1().Services(f.ns).Create(f.ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		name string
		n    int32
	}{{name, 4}, {name + "-canary", 0}} {
		labels := map[string]string{"app": d.name, "app.kubernetes.io/part-of": name}
		n := d.n
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: d.name, Annotations: map[string]string{"owner": "helm"}},
			Spec: appsv1.DeploymentSpec{Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": d.name}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}}}},
		}
		if _, err := f.kc.AppsV1().Deployments(f.ns).Create(f.ctx, dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The kubelet stand-in reports the stable's pods ready before the
	// rollout exists (the router reads no split without ready pods).
	poll(t, time.Minute, name+"'s pods ready", func() (bool, string) {
		d, err := f.kc.AppsV1().Deployments(f.ns).Get(f.ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return d.Status.ReadyReplicas == 4 && d.Status.ObservedGeneration == d.Generation, fmt.Sprintf("%+v", d.Status)
	})
	spec := rolloutSpec(name)
	spec["router"] = map[string]any{"kind": "ReplicaRatio", "name": name, "replicas": int64(4)}
	f.createRollout(t, name, spec)
}

// replicas reads a Deployment's spec.replicas and annotations.
func (f *fixture) replicas(t *testing.T, name string) (int32, map[string]string) {
	t.Helper()
	d, err := f.kc.AppsV1().Deployments(f.ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *d.Spec.Replicas, d.Annotations
}

// linkerdApp is an application behind an HTTPRoute as Linkerd 2.14+
// reads it: its parent is the Service name (GAMMA), and the Rollout names
// implementation linkerd. With gatewayParent the route's parent is a
// Gateway instead, which Linkerd does not read.
func (f *fixture) linkerdApp(t *testing.T, name string, gatewayParent bool) *unstructured.Unstructured {
	t.Helper()
	parent := map[string]any{"group": "core", "kind": "Service", "name": name, "port": int64(80)}
	if gatewayParent {
		parent = map[string]any{"name": "mesh-gateway"}
	}
	return f.gatewayApp(t, name, "linkerd", parent, nil)
}

// latticeApp is an application behind an HTTPRoute of the AWS Gateway API
// Controller (implementation vpc-lattice): its parent is a Gateway, and
// the managed rule matches on headers headers (VPC Lattice takes at most
// 5).
func (f *fixture) latticeApp(t *testing.T, name string, headers int) *unstructured.Unstructured {
	t.Helper()
	var hs []any
	for i := range headers {
		hs = append(hs, map[string]any{"name": fmt.Sprintf("x-h%d", i), "value": "1"})
	}
	match := []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/api"}, "headers": hs}}
	return f.gatewayApp(t, name, "vpc-lattice", map[string]any{"name": "lattice-network"}, match)
}

// gatewayApp creates the Deployments, an HTTPRoute whose rule "primary"
// (with matches) sends all traffic to stable, another rule, and a Rollout
// through it with the implementation given.
func (f *fixture) gatewayApp(t *testing.T, name, impl string, parent map[string]any, matches []any) *unstructured.Unstructured {
	t.Helper()
	f.deployment(t, name, 4)
	f.deployment(t, name+"-canary", 2)
	backend := func(svc string, w int64) any { return map[string]any{"name": svc, "port": int64(80), "weight": w} }
	primary := map[string]any{"name": "primary", "backendRefs": []any{backend(name, 100), backend(name+"-canary", 0)}}
	if matches != nil {
		primary["matches"] = matches
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": name, "namespace": f.ns, "annotations": map[string]any{"team": "cart"}},
		"spec": map[string]any{"parentRefs": []any{parent}, "rules": []any{
			primary,
			map[string]any{"name": "other", "matches": []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/static"}}},
				"backendRefs": []any{backend("assets", 1)}},
		}},
	}}
	before, err := f.dc.Resource(routeGVR).Namespace(f.ns).Create(f.ctx, u, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := rolloutSpec(name)
	spec["router"] = map[string]any{"kind": "HTTPRoute", "name": name, "route": "primary", "implementation": impl,
		"stableService": name, "canaryService": name + "-canary"}
	f.createRollout(t, name, spec)
	return before
}

// refused waits until the Rollout name has Valid=False and an InvalidSpec
// Event whose messages hold every fragment, and checks that the object
// before was never written.
func (f *fixture) refused(t *testing.T, name string, before *unstructured.Unstructured, fragments ...string) {
	t.Helper()
	has := func(msg string) bool {
		for _, fr := range fragments {
			if !strings.Contains(msg, fr) {
				return false
			}
		}
		return true
	}
	poll(t, 2*time.Minute, name+"'s condition and Event", func() (bool, string) {
		r := f.rollout(t, name)
		ok := false
		for _, c := range r.Status.Conditions {
			ok = ok || c.Type == "Valid" && c.Status == "False" && has(c.Message)
		}
		ev := false
		for _, e := range f.events(t, name) {
			ev = ev || e.Reason == "InvalidSpec" && e.Type == "Warning" && has(e.Message)
		}
		return ok && ev, fmt.Sprintf("status %+v", r.Status)
	})
	got, err := f.dc.Resource(routeGVR).Namespace(f.ns).Get(f.ctx, name, metav1.GetOptions{})
	if err != nil || got.GetResourceVersion() != before.GetResourceVersion() {
		t.Errorf("the HTTPRoute %s was written: %v, resourceVersion %s → %s", name, err, before.GetResourceVersion(), got.GetResourceVersion())
	}
}

// sameObject reports how after differs from before in what a rollback
// must restore: the spec, the labels and the annotations (the
// resourceVersion, generation and managed fields may change).
func sameObject(before, after *unstructured.Unstructured) string {
	var diffs []string
	if !reflect.DeepEqual(before.Object["spec"], after.Object["spec"]) {
		diffs = append(diffs, fmt.Sprintf("spec %v → %v", before.Object["spec"], after.Object["spec"]))
	}
	if !reflect.DeepEqual(before.GetLabels(), after.GetLabels()) {
		diffs = append(diffs, fmt.Sprintf("labels %v → %v", before.GetLabels(), after.GetLabels()))
	}
	if !reflect.DeepEqual(before.GetAnnotations(), after.GetAnnotations()) {
		diffs = append(diffs, fmt.Sprintf("annotations %v → %v", before.GetAnnotations(), after.GetAnnotations()))
	}
	return strings.Join(diffs, "; ")
}

// The routers of issue 21, end to end: for an SMI TrafficSplit, an
// Ingress of the AWS Load Balancer Controller, a replica-ratio canary (no
// router), an HTTPRoute read by Linkerd (implementation linkerd) and one
// read by the AWS Gateway API Controller (implementation vpc-lattice), a
// healthy canary is promoted and a faulty one rolled back by the
// controller running as the ServiceAccount of deploy/rbac.yaml. Every
// object it writes is accepted by the API server (the SMI CRD is Open
// Service Mesh's, the HTTPRoute CRD Gateway API's standard channel, the
// Ingress and Deployments the built-in types; any refusal would stall the
// rollout and fail the test), no request is Forbidden, every write names
// the field manager meshcanary, and a rollback leaves the object it
// routed through as it was before the rollout. An HTTPRoute whose parent
// Linkerd does not read (a Gateway), and one whose rule has more header
// matches than VPC Lattice takes, are refused with a condition and an
// Event naming the route's field, and are not written.
func TestEndToEndRouters(t *testing.T) {
	f := newFixture(t)
	smiBefore := f.smiApp(t, "smi-shop")
	smiFaultyBefore := f.smiApp(t, "smi-faulty")
	albBefore := f.albApp(t, "alb-shop")
	albFaultyBefore := f.albApp(t, "alb-faulty")
	f.linkerdApp(t, "linkerd-shop", false)
	linkerdFaultyBefore := f.linkerdApp(t, "linkerd-faulty", false)
	badParent := f.linkerdApp(t, "linkerd-gateway", true)
	f.latticeApp(t, "lattice-shop", 2)
	latticeFaultyBefore := f.latticeApp(t, "lattice-faulty", 2)
	tooManyHeaders := f.latticeApp(t, "lattice-headers", 6)
	f.kubelet(t) // after f.deployment has written its statuses
	f.ratioApp(t, "ratio-shop")
	f.ratioApp(t, "ratio-faulty")

	cfg := f.applyRBAC(t, nil)
	w := newWire()
	cfg.WrapTransport = w.wrap
	start(t, f.controllerOptions(t, "replica-0", cfg))

	want := map[string]string{}
	for _, kind := range []string{"smi", "alb", "ratio", "linkerd", "lattice"} {
		want[kind+"-shop"], want[kind+"-faulty"] = "succeeded", "rolled-back"
	}
	for name, phase := range want {
		poll(t, 3*time.Minute, name+" to be "+phase, func() (bool, string) {
			r := f.rollout(t, name)
			return r.Status.Phase == phase, fmt.Sprintf("%+v", r.Status)
		})
	}
	for name, phase := range want {
		r := f.rollout(t, name)
		wantOutcome, wantWeight := "pass", 100
		if phase == "rolled-back" {
			wantOutcome, wantWeight = "fail", 0
		}
		if r.Status.LastVerdict == nil || r.Status.LastVerdict.Outcome != wantOutcome || r.Status.CanaryWeight != wantWeight {
			t.Errorf("%s: status %+v, want verdict %s at weight %d", name, r.Status, wantOutcome, wantWeight)
		}
	}

	t.Run("TrafficSplit", func(t *testing.T) {
		if wt, u := f.smiCanaryWeight(t, "smi-shop"); wt != 100 {
			t.Errorf("promoted canary weight %d in the TrafficSplit, want 100: %v", wt, u.Object["spec"])
		} else if diff := sameObject(smiBefore, u); !strings.Contains(diff, "spec") || strings.Contains(diff, "labels") || strings.Contains(diff, "annotations") {
			t.Errorf("the promotion changed more than the weights: %s", diff)
		}
		_, after := f.smiCanaryWeight(t, "smi-faulty")
		if diff := sameObject(smiFaultyBefore, after); diff != "" {
			t.Errorf("the rollback did not restore the TrafficSplit: %s", diff)
		}
	})
	t.Run("Ingress", func(t *testing.T) {
		ing, err := f.kc.NetworkingV1().Ingresses(f.ns).Get(f.ctx, "alb-shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ing.Annotations[albActionKey+"alb-shop-split"], albAction("alb-shop", 100); got != want {
			t.Errorf("promoted action:\n got %s\nwant %s", got, want)
		}
		for k, v := range albBefore.Annotations {
			if k != albActionKey+"alb-shop-split" && ing.Annotations[k] != v {
				t.Errorf("annotation %s changed: %q → %q", k, v, ing.Annotations[k])
			}
		}
		if !reflect.DeepEqual(albBefore.Spec, ing.Spec) {
			t.Errorf("the promotion changed the Ingress's rules: %+v", ing.Spec)
		}
		after, err := f.kc.NetworkingV1().Ingresses(f.ns).Get(f.ctx, "alb-faulty", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(albFaultyBefore.Annotations, after.Annotations) || !reflect.DeepEqual(albFaultyBefore.Spec, after.Spec) {
			t.Errorf("the rollback did not restore the Ingress:\nbefore %v\nafter  %v", albFaultyBefore.Annotations, after.Annotations)
		}
	})
	t.Run("ReplicaRatio", func(t *testing.T) {
		if s, _ := f.replicas(t, "ratio-shop"); s != 0 {
			t.Errorf("promoted: stable has %d replicas, want 0", s)
		}
		if c, a := f.replicas(t, "ratio-shop-canary"); c != 4 || a[kubernetes.WeightAnnotation] != "100" {
			t.Errorf("promoted: canary has %d replicas (weight annotation %q), want 4 at 100", c, a[kubernetes.WeightAnnotation])
		}
		// The rollback restores the replicas and every annotation but the
		// router's own weight (now 0).
		s, sa := f.replicas(t, "ratio-faulty")
		c, ca := f.replicas(t, "ratio-faulty-canary")
		if s != 4 || c != 0 || sa["owner"] != "helm" || ca["owner"] != "helm" || ca[kubernetes.WeightAnnotation] != "0" {
			t.Errorf("rolled back: stable %d %v, canary %d %v; want 4 and 0 replicas, annotations kept, weight 0", s, sa, c, ca)
		}
		// The canary reached 2 of 4 pods (50 %) before the analysis
		// failed: the rollback undid a real move.
		scaled := false
		for _, r := range w.snapshot() {
			scaled = scaled || r.Method == http.MethodPatch && strings.HasSuffix(r.Path, "/deployments/ratio-faulty-canary") && r.Status == http.StatusOK
		}
		if !scaled {
			t.Error("the faulty canary's Deployment was never patched: no move to roll back")
		}
	})
	t.Run("HTTPRoute-linkerd", func(t *testing.T) {
		if wt := f.routeCanaryWeight(t, "linkerd-shop", "linkerd-shop-canary"); wt != 100 {
			t.Errorf("promoted canary weight %d in the HTTPRoute, want 100", wt)
		}
		after, err := f.dc.Resource(routeGVR).Namespace(f.ns).Get(f.ctx, "linkerd-faulty", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := sameObject(linkerdFaultyBefore, after); diff != "" {
			t.Errorf("the rollback did not restore the HTTPRoute: %s", diff)
		}
		// A Gateway parent: refused with the field, nothing written.
		f.refused(t, "linkerd-gateway", badParent, "spec.parentRefs[0]", "Linkerd reads an HTTPRoute whose parents are Services")
	})
	t.Run("HTTPRoute-vpc-lattice", func(t *testing.T) {
		if wt := f.routeCanaryWeight(t, "lattice-shop", "lattice-shop-canary"); wt != 100 {
			t.Errorf("promoted canary weight %d in the HTTPRoute, want 100", wt)
		}
		after, err := f.dc.Resource(routeGVR).Namespace(f.ns).Get(f.ctx, "lattice-faulty", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := sameObject(latticeFaultyBefore, after); diff != "" {
			t.Errorf("the rollback did not restore the HTTPRoute: %s", diff)
		}
		// Six header matches: more than a VPC Lattice rule takes.
		f.refused(t, "lattice-headers", tooManyHeaders, "spec.rules[0].matches[0].headers", "VPC Lattice takes at most 5 header matches")
	})

	// No request was Forbidden, and every write named the field manager.
	written := map[string]int{}
	for _, r := range w.snapshot() {
		if r.Status == http.StatusForbidden {
			t.Errorf("%s %s: 403 Forbidden for %s (deploy/rbac.yaml lacks it)", r.Method, r.Path, f.serviceAccount())
		}
		if isWrite(r.Method) {
			written[resourceOf(r.Path)]++
			if r.FieldManager != kubernetes.FieldManager {
				t.Errorf("%s %s with field manager %q, want %q", r.Method, r.Path, r.FieldManager, kubernetes.FieldManager)
			}
		}
	}
	for _, res := range []string{"trafficsplits", "ingresses", "deployments", "httproutes"} {
		if written[res] == 0 {
			t.Errorf("the controller wrote no %s (written: %v)", res, written)
		}
	}
	t.Logf("controller writes by resource: %v", written)
}
