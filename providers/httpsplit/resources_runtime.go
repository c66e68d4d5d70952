package httpsplit

import "runtime/metrics"

// runtimeCPUSeconds is the Go runtime's estimate of the CPU time used:
// all CPU time available to the process less the idle time.
func runtimeCPUSeconds() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/total:cpu-seconds"}, {Name: "/cpu/classes/idle:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 || s[1].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return s[0].Value.Float64() - s[1].Value.Float64()
}

// runtimeMemoryBytes is the memory the Go runtime has mapped less what it
// has released to the system.
func runtimeMemoryBytes() float64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return float64(s[0].Value.Uint64() - s[1].Value.Uint64())
}
