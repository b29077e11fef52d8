package trainer

import (
	"sync"
	"sync/atomic"

	"github.com/klauspost/cpuid/v2"
)

// parallelFor calls fn(i) for i in [0, n) on at most workers goroutines.
func parallelFor(workers, n int, fn func(i int)) {
	workers = min(workers, n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// peakFLOPS estimates the float32 peak of workers cores for MFU: FMA units
// × vector width × clock. CURATE_PEAK_FLOPS is not read here on purpose:
// MFU is a relative figure, comparable between runs on one machine.
func peakFLOPS(workers int) float64 {
	perCycle := 8.0 // SSE: 4-wide multiply and add
	switch {
	case cpuid.CPU.Supports(cpuid.AVX512F, cpuid.FMA3):
		perCycle = 64 // two 16-wide FMA units
	case cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3):
		perCycle = 32 // two 8-wide FMA units
	}
	hz := float64(cpuid.CPU.BoostFreq)
	if hz == 0 {
		hz = float64(cpuid.CPU.Hz)
	}
	if hz == 0 {
		hz = 3e9
	}
	return float64(workers) * perCycle * hz
}
