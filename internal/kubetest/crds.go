package kubetest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// appMeshCRD is the App Mesh controller's VirtualRouter CRD, written for
// these tests from the public schema (the controller's Go module is not on
// the module proxy).
//
//go:embed crds/appmesh.k8s.aws_virtualrouters.yaml
var appMeshCRD []byte

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crdSources lists the CRD files the harness installs: module path, the
// version (empty: the one the build list selects; set for a module no
// package imports, fetched through the module proxy and checked against
// the checksum database like any other) and the glob of files inside the
// module.
var crdSources = []struct{ module, version, glob string }{
	{"istio.io/api", "", "kubernetes/customresourcedefinitions.gen.yaml"},
	{"sigs.k8s.io/gateway-api", "", "config/crd/standard/*.yaml"},
	// SMI's TrafficSplit as Open Service Mesh installs it (v1alpha2
	// served); servedSMI also serves v1alpha3 and v1alpha4.
	{"github.com/openservicemesh/osm", "v1.2.4", "cmd/osm-bootstrap/crds/smi_traffic_split.yaml"},
}

// servedSMI makes the TrafficSplit CRD serve v1alpha3 and v1alpha4 as
// well as OSM's v1alpha2 (the SMI SDK's own CRD serves v1alpha4): OSM's
// file declares the three with conversion None and the same backends
// ({service, weight}), so the TrafficSplit router's tests can read and
// write each version the router supports.
func servedSMI(crd *unstructured.Unstructured) {
	if crd.GetName() != "trafficsplits.split.smi-spec.io" {
		return
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		if m, ok := v.(map[string]any); ok && (m["name"] == "v1alpha3" || m["name"] == "v1alpha4") {
			m["served"] = true
		}
	}
	_ = unstructured.SetNestedSlice(crd.Object, versions, "spec", "versions")
}

// moduleDir returns the directory of module in the module cache, at the
// version given or else the one the build list selects, downloading it if
// needed (a fresh clone has an empty cache until the first build).
func moduleDir(ctx context.Context, module, version string) (string, error) {
	if version != "" {
		module += "@" + version
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go mod download -json %s: %v: %s%s", module, err, stderr.Bytes(), out.Bytes())
	}
	var info struct{ Dir, Version, Error string }
	if err := json.Unmarshal(out.Bytes(), &info); err != nil {
		return "", fmt.Errorf("go mod download -json %s: %v", module, err)
	}
	if info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download -json %s: no directory (%s)", module, info.Error)
	}
	return info.Dir, nil
}

// crdDocuments returns every CustomResourceDefinition to install.
func crdDocuments(ctx context.Context) ([]*unstructured.Unstructured, error) {
	var files [][]byte
	var names []string
	for _, src := range crdSources {
		dir, err := moduleDir(ctx, src.module, src.version)
		if err != nil {
			return nil, err
		}
		paths, err := filepath.Glob(filepath.Join(dir, src.glob))
		if err != nil || len(paths) == 0 {
			return nil, fmt.Errorf("no CRD files %s in %s", src.glob, dir)
		}
		sort.Strings(paths)
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			files, names = append(files, data), append(names, p)
		}
	}
	files, names = append(files, appMeshCRD), append(names, "crds/appmesh.k8s.aws_virtualrouters.yaml")

	var crds []*unstructured.Unstructured
	for i, data := range files {
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return nil, fmt.Errorf("%s: %w", names[i], err)
			}
			u := &unstructured.Unstructured{Object: obj}
			// Some files also hold other kinds (Gateway API ships a
			// ValidatingAdmissionPolicy); only CRDs are installed.
			if obj == nil || u.GetKind() != "CustomResourceDefinition" {
				continue
			}
			servedSMI(u)
			crds = append(crds, u)
		}
	}
	return crds, nil
}

func (e *Environment) installCRDs(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	crds, err := crdDocuments(ctx)
	if err != nil {
		return err
	}
	dc, err := dynamic.NewForConfig(e.Config)
	if err != nil {
		return err
	}
	for _, crd := range crds {
		if _, err := dc.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create CRD %s: %w", crd.GetName(), err)
		}
	}
	for _, crd := range crds {
		if err := waitEstablished(ctx, dc, crd); err != nil {
			return err
		}
	}
	return nil
}

// waitEstablished waits until crd is Established and its resource answers a
// list request (discovery can lag the condition briefly).
func waitEstablished(ctx context.Context, dc dynamic.Interface, crd *unstructured.Unstructured) error {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	var version string
	for _, v := range versions {
		if m, ok := v.(map[string]any); ok && m["served"] == true {
			version, _ = m["name"].(string)
			break
		}
	}
	for {
		got, err := dc.Resource(crdGVR).Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err == nil && established(got) {
			gvr := schema.GroupVersionResource{Group: group, Version: version, Resource: plural}
			if _, err = dc.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1}); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %v (last error: %v)", crd.GetName(), ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func established(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}
