// Package kubeapiserver pins the kube-apiserver version used by the
// integration tests. scripts/testenv.sh builds it once and caches the
// binary; by hand, from this folder:
//
//	GOWORK=off go build -o "$HOME/.cache/meshcanary/bin/kube-apiserver-v1.37.2" k8s.io/kubernetes/cmd/kube-apiserver
//
// This module stays out of the repository's go.work (hence GOWORK=off): it
// needs replace lines for the k8s.io staging modules, and in the workspace
// k8s.io/kubernetes's requirements would join the build list of every
// module and move their dependencies.
package kubeapiserver
