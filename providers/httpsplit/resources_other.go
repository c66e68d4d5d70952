//go:build !unix

package httpsplit

func selfCPUSeconds() float64  { return runtimeCPUSeconds() }
func selfMemoryBytes() float64 { return runtimeMemoryBytes() }
