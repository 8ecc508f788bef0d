package benchmarks

import (
	"testing"
	"time"
)

// cpuMeter reports the CPU time the whole process (server, client and
// runtime) used per operation, as cpu-ns/op. Wall time on a shared machine
// swings with other processes' load; CPU time swings much less, so its
// ratio is the steadier of the two. Start it just before the b.Loop loop.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	d, ok := processCPU()
	return cpuMeter{d, ok}
}

func (m cpuMeter) report(b *testing.B) {
	d, ok := processCPU()
	if !m.ok || !ok || b.N == 0 {
		return
	}
	b.ReportMetric(float64(d-m.start)/float64(b.N), "cpu-ns/op")
}
