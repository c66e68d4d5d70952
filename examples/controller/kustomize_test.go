package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// kustomizeGVR maps the kinds of the kustomize base to their resources.
var kustomizeGVR = map[string]schema.GroupVersionResource{
	"Namespace":                {Version: "v1", Resource: "namespaces"},
	"CustomResourceDefinition": crdGVR,
	"Deployment":               {Group: "apps", Version: "v1", Resource: "deployments"},
	"PodDisruptionBudget":      {Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
}

// build runs kustomize (krusty, as `kustomize build` does) on dir.
func build(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out []*unstructured.Unstructured
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

// The kustomize base (deploy/kustomization.yaml) builds into the CRD, the
// namespace, the ServiceAccount and RBAC, the Deployment and its
// PodDisruptionBudget; an overlay that moves it into the test's namespace
// (as a user's overlay would) applies server-side to the real
// kube-apiserver, every object accepted by the server's validation, and a
// second apply changes nothing.
func TestKustomizeBaseAppliesServerSide(t *testing.T) {
	base, err := filepath.Abs("deploy")
	if err != nil {
		t.Fatal(err)
	}
	want := checkBase(t, base)
	f := newFixture(t)
	// The overlay: the test's namespace, and a suffix on the cluster-wide
	// names so that tests sharing the API server do not collide
	// (kustomize leaves the CRD's and the Namespace's names alone).
	objs := build(t, overlay(t, base, f.ns))
	apply := func() map[string]string {
		versions := map[string]string{}
		// Namespace and CRD first, as kubectl orders them.
		slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
			rank := func(u *unstructured.Unstructured) int {
				switch u.GetKind() {
				case "Namespace":
					return 0
				case "CustomResourceDefinition":
					return 1
				}
				return 2
			}
			return rank(a) - rank(b)
		})
		for _, u := range objs {
			gvr, ok := kustomizeGVR[u.GetKind()]
			if !ok {
				gvr, ok = rbacGVR[u.GetKind()]
			}
			if !ok {
				t.Fatalf("no resource for kind %s", u.GetKind())
			}
			if u.GetKind() == "Namespace" && u.GetName() != f.ns {
				t.Fatalf("the overlay left the Namespace named %q, want %q", u.GetName(), f.ns)
			}
			if strings.Contains(fmt.Sprint(u.Object), manifestNamespace) {
				t.Fatalf("%s %s still names %s after the overlay", u.GetKind(), u.GetName(), manifestNamespace)
			}
			body, err := u.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			ri := f.dc.Resource(gvr)
			opts := metav1.PatchOptions{FieldManager: "meshcanary-kustomize-test", Force: ptr(true)}
			var got *unstructured.Unstructured
			if u.GetNamespace() == "" {
				got, err = ri.Patch(f.ctx, u.GetName(), types.ApplyPatchType, body, opts)
				if u.GetKind() == "ClusterRole" || u.GetKind() == "ClusterRoleBinding" {
					name := u.GetName()
					t.Cleanup(func() { _ = ri.Delete(f.ctx, name, metav1.DeleteOptions{}) })
				}
			} else {
				got, err = ri.Namespace(u.GetNamespace()).Patch(f.ctx, u.GetName(), types.ApplyPatchType, body, opts)
			}
			if err != nil {
				t.Fatalf("server-side apply of %s %s refused: %v", u.GetKind(), u.GetName(), err)
			}
			versions[u.GetKind()+"/"+u.GetName()] = got.GetResourceVersion()
		}
		return versions
	}
	first := apply()
	if len(first) != len(want) {
		t.Fatalf("applied %d objects, want %d", len(first), len(want))
	}
	// The Deployment as the server stored it: the ServiceAccount of the
	// RBAC, the downward-API identity, a PDB selecting its pods.
	d, err := f.kc.AppsV1().Deployments(f.ns).Get(f.ctx, "meshcanary-controller-"+f.ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkDeployment(t, d, "meshcanary-controller-"+f.ns)
	pdb, err := f.kc.PolicyV1().PodDisruptionBudgets(f.ns).Get(f.ctx, "meshcanary-controller-"+f.ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sel, _ := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the PodDisruptionBudget's selector %v does not select the controller's pods %v", pdb.Spec.Selector, d.Spec.Template.Labels)
	}
	// Applying again is a no-op: the server keeps every object as it was.
	poll(t, time.Minute, "a second apply to change nothing", func() (bool, string) {
		second := apply()
		for k, v := range first {
			if second[k] != v {
				first = second
				return false, fmt.Sprintf("%s changed: resourceVersion %s -> %s", k, v, second[k])
			}
		}
		return true, ""
	})
}

// The kustomize base builds (no API server needed): every kind of the
// install, each labelled as part of meshcanary, the Deployment as the
// RBAC expects it.
func TestKustomizeBaseBuilds(t *testing.T) {
	base, err := filepath.Abs("deploy")
	if err != nil {
		t.Fatal(err)
	}
	checkBase(t, base)
	// An overlay moves it all into another namespace: kustomize renames
	// the Namespace and rewrites the bindings' subjects, and leaves the
	// CRD's name alone.
	for _, u := range build(t, overlay(t, base, "team-a")) {
		if strings.Contains(fmt.Sprint(u.Object), manifestNamespace) {
			t.Errorf("%s %s still names %s after the overlay", u.GetKind(), u.GetName(), manifestNamespace)
		}
		switch u.GetKind() {
		case "Namespace":
			if u.GetName() != "team-a" {
				t.Errorf("the Namespace is named %q after the overlay", u.GetName())
			}
		case "CustomResourceDefinition":
			if u.GetName() != "rollouts.meshcanary.dev" {
				t.Errorf("the CRD is named %q after the overlay", u.GetName())
			}
		}
	}
}

// overlay writes a kustomization that moves base into namespace ns and
// suffixes the names with it, and returns its directory.
func overlay(t *testing.T, base, ns string) string {
	t.Helper()
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, base) // kustomize takes no absolute base
	if err != nil {
		t.Fatal(err)
	}
	k := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%q]\nnamespace: %s\nnameSuffix: -%s\n", rel, ns, ns)
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkBase builds the base and checks its kinds, labels and Deployment;
// it returns the kinds, sorted.
func checkBase(t *testing.T, base string) []string {
	t.Helper()
	objs := build(t, base)
	var kinds []string
	for _, u := range objs {
		kinds = append(kinds, u.GetKind())
		if l := u.GetLabels()["app.kubernetes.io/part-of"]; l != "meshcanary" {
			t.Errorf("%s %s: label app.kubernetes.io/part-of = %q", u.GetKind(), u.GetName(), l)
		}
		if u.GetKind() == "Deployment" {
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
				t.Fatal(err)
			}
			checkDeployment(t, &d, "meshcanary-controller")
		}
	}
	slices.Sort(kinds)
	want := []string{"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Deployment", "Namespace",
		"PodDisruptionBudget", "Role", "RoleBinding", "ServiceAccount"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("the base builds %v, want %v", kinds, want)
	}
	return want
}

func checkDeployment(t *testing.T, d *appsv1.Deployment, sa string) {
	t.Helper()
	ps := d.Spec.Template.Spec
	if ps.ServiceAccountName != sa {
		t.Errorf("serviceAccountName %q, want %q", ps.ServiceAccountName, sa)
	}
	if len(ps.Containers) != 1 || !strings.HasSuffix(ps.Containers[0].Image, ":v0.1.0") {
		t.Fatalf("containers %+v", ps.Containers)
	}
	env := map[string]string{}
	for _, e := range ps.Containers[0].Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["POD_NAME"] != "metadata.name" || env["POD_NAMESPACE"] != "metadata.namespace" {
		t.Errorf("downward API env %v", env)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("replicas %v, want at least 2 (a PodDisruptionBudget of minAvailable 1 needs a spare)", d.Spec.Replicas)
	}
}

func ptr[T any](v T) *T { return &v }
