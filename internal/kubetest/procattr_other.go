//go:build !linux

package kubetest

import "syscall"

// sysProcAttr is nil outside Linux, which has no Pdeathsig: there, etcd and
// kube-apiserver are stopped by Main (by PID) when the tests end, but a test
// binary killed outright leaves them running until they are stopped by hand.
func sysProcAttr() *syscall.SysProcAttr { return nil }
