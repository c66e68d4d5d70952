package kubetest

import (
	"syscall"
	"testing"
)

// On Linux the servers die with the test binary.
func TestServersDieWithTheTestBinary(t *testing.T) {
	if a := sysProcAttr(); a == nil || a.Pdeathsig != syscall.SIGKILL {
		t.Fatalf("sysProcAttr() = %+v, want Pdeathsig SIGKILL", a)
	}
}
