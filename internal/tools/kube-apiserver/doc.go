// Package kubeapiserver pins the kube-apiserver version used by the
// integration tests. Build it with
//
//	go build -o "$HOME/.cache/meshcanary/bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
//
// from this folder; scripts/testenv.sh does that once and caches the binary.
package kubeapiserver
