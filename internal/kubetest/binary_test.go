package kubetest

import (
	"strings"
	"testing"
)

// A missing binary is reported with how to get it (Env turns this into
// t.Fatalf outside -short).
func TestMissingBinaryExplainsHowToGetIt(t *testing.T) {
	t.Setenv("MESHCANARY_KUBE_APISERVER", "/nonexistent/kube-apiserver")
	if _, err := binary("MESHCANARY_KUBE_APISERVER", "/also/missing"); err == nil || !strings.Contains(err.Error(), "scripts/testenv.sh") {
		t.Errorf("binary() = %v, want an error pointing to scripts/testenv.sh", err)
	}
	t.Setenv("MESHCANARY_ETCD", "")
	if _, err := binary("MESHCANARY_ETCD", "no-such-etcd-binary"); err == nil || !strings.Contains(err.Error(), "scripts/testenv.sh") {
		t.Errorf("binary() = %v, want an error pointing to scripts/testenv.sh", err)
	}
}
