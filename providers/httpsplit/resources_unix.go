//go:build unix

package httpsplit

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// selfCPUSeconds is getrusage(RUSAGE_SELF)'s user plus system time.
func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return runtimeCPUSeconds()
	}
	tv := func(t syscall.Timeval) float64 {
		return time.Duration(t.Nano()).Seconds()
	}
	return tv(ru.Utime) + tv(ru.Stime)
}

// selfMemoryBytes is the resident set from /proc/self/statm (Linux), else
// the Go runtime's figure.
func selfMemoryBytes() float64 {
	if runtime.GOOS == "linux" {
		if b, err := os.ReadFile("/proc/self/statm"); err == nil {
			if f := strings.Fields(string(b)); len(f) >= 2 {
				if pages, err := strconv.ParseFloat(f[1], 64); err == nil {
					return pages * float64(os.Getpagesize())
				}
			}
		}
	}
	return runtimeMemoryBytes()
}
