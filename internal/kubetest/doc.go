// Package kubetest runs a real Kubernetes API server for integration tests:
// etcd and kube-apiserver on 127.0.0.1, started once per test binary on the
// first call to Env and stopped by Main when the tests end.
//
// A package's tests use it like this:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		env := kubetest.Env(t) // skips under -short
//		ns := env.Namespace(t) // fresh namespace, deleted at cleanup
//		client := env.Kube(t)
//		…
//	}
//
// The binaries come from the environment that scripts/testenv.sh prepares:
// etcd from $MESHCANARY_ETCD (else etcd on PATH) and kube-apiserver from
// $MESHCANARY_KUBE_APISERVER (else
// $HOME/.cache/meshcanary/bin/kube-apiserver-v1.37.2). Under go test -short
// Env skips the test; otherwise a missing binary fails it, so that a
// continuous-integration run can never pass by skipping.
//
// The server has no controllers: nothing reconciles Deployments or deletes
// namespaces' contents, so tests set status themselves. Authorization is
// RBAC; the harness's token belongs to system:masters, and a second token
// with no permissions lets a test turn a client's requests into real 403
// Forbidden answers (Counter.Deny).
//
// Env installs, once, the CustomResourceDefinitions the mesh adapters need:
// Istio's (from the istio.io/api module), Gateway API's standard channel
// (from sigs.k8s.io/gateway-api), SMI's TrafficSplit (split.smi-spec.io,
// the CRD Open Service Mesh v1.2.4 installs, from the
// github.com/openservicemesh/osm module at that version, also serving
// v1alpha3 and v1alpha4) and an App Mesh VirtualRouter
// (appmesh.k8s.aws/v1beta2) written for these tests from the public schema,
// and waits until they are Established.
package kubetest
