package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeKubeconfig writes a kubeconfig whose current context points at
// server, with a second context "other" pointing at otherServer.
func writeKubeconfig(t *testing.T, name, server, otherServer string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	data := `apiVersion: v1
kind: Config
clusters:
- name: main
  cluster: {server: "` + server + `"}
- name: other
  cluster: {server: "` + otherServer + `"}
users:
- name: u
  user: {token: not-a-real-token}
contexts:
- name: main
  context: {cluster: main, user: u}
- name: other
  context: {cluster: other, user: u}
current-context: main
`
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// isolate leaves no kubeconfig and no in-cluster environment behind the
// test's back.
func isolate(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
}

// $KUBECONFIG is a list, as for kubectl: a missing first entry is skipped
// and the next file is used (the example used to read only the first
// entry and fail).
func TestKubeconfigListIsMerged(t *testing.T) {
	isolate(t)
	second := writeKubeconfig(t, "second.yaml", "https://127.0.0.1:6443", "https://127.0.0.2:6443")
	t.Setenv("KUBECONFIG", strings.Join([]string{filepath.Join(t.TempDir(), "missing.yaml"), second}, string(os.PathListSeparator)))
	rc, err := restConfig("", "")
	if err != nil {
		t.Fatalf("restConfig: %v", err)
	}
	if rc.Host != "https://127.0.0.1:6443" {
		t.Errorf("Host = %q, want the second $KUBECONFIG entry's server", rc.Host)
	}
	rc, err = restConfig("", "other")
	if err != nil {
		t.Fatalf("restConfig with -context other: %v", err)
	}
	if rc.Host != "https://127.0.0.2:6443" {
		t.Errorf("-context other: Host = %q, want https://127.0.0.2:6443", rc.Host)
	}
}

// An explicit -kubeconfig wins over $KUBECONFIG, and a missing one is an
// error (not a silent fallback).
func TestExplicitKubeconfig(t *testing.T) {
	isolate(t)
	t.Setenv("KUBECONFIG", writeKubeconfig(t, "env.yaml", "https://127.0.0.3:6443", "https://127.0.0.4:6443"))
	explicit := writeKubeconfig(t, "flag.yaml", "https://127.0.0.5:6443", "https://127.0.0.6:6443")
	rc, err := restConfig(explicit, "")
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != "https://127.0.0.5:6443" {
		t.Errorf("Host = %q, want the -kubeconfig file's server", rc.Host)
	}
	if _, err := restConfig(filepath.Join(t.TempDir(), "missing.yaml"), ""); err == nil {
		t.Error("a missing -kubeconfig file was accepted")
	}
}

// With no kubeconfig anywhere and outside a pod, the error says so.
func TestNoConfiguration(t *testing.T) {
	isolate(t)
	t.Setenv("KUBECONFIG", "")
	if _, err := restConfig("", ""); err == nil || !strings.Contains(err.Error(), "no configuration") {
		t.Errorf("restConfig with nothing to load = %v, want client-go's empty-configuration error", err)
	}
}
