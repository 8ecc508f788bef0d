//go:build !unix

package benchmarks

import "time"

// processCPU is not available here; cpu-ns/op is then not reported.
func processCPU() (time.Duration, bool) { return 0, false }
