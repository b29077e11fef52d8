package blas

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ebitengine/purego"
)

// libraryPaths are tried in order; the first that loads wins. CURATE_OPENBLAS
// names a library file explicitly.
var libraryPaths = []string{
	"libopenblas.so.0",
	"/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
	"/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
	"/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
	"/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
	"/usr/lib64/libopenblas.so.0",
	"/usr/local/lib/libopenblas.so.0",
	"/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
}

const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

type openblas struct {
	path string
	gemm func(order, transA, transB, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)
}

var (
	loadOnce sync.Once
	loaded   *openblas
	loadErr  error
)

// loadOpenBLAS opens the library once per process and pins it to one thread.
func loadOpenBLAS() (*openblas, error) {
	loadOnce.Do(func() { loaded, loadErr = openLibrary() })
	return loaded, loadErr
}

func openLibrary() (*openblas, error) {
	paths := libraryPaths
	if p := os.Getenv("CURATE_OPENBLAS"); p != "" {
		paths = []string{p}
	}
	var errs []string
	for _, p := range paths {
		h, err := purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		lib := &openblas{path: p}
		if err := register(h, lib); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		if real, err := filepath.EvalSymlinks(p); err == nil {
			lib.path = real
		}
		return lib, nil
	}
	return nil, fmt.Errorf("blas: OpenBLAS not found (install libopenblas0 or set CURATE_OPENBLAS): %s", strings.Join(errs, "; "))
}

func register(h uintptr, lib *openblas) (err error) {
	// RegisterLibFunc panics on a missing symbol.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	purego.RegisterLibFunc(&lib.gemm, h, "cblas_sgemm")
	// Kernel parallelises over goroutines; OpenBLAS's own pool would spin
	// against them. A single-threaded build has nothing to pin.
	if _, err := purego.Dlsym(h, "openblas_set_num_threads"); err == nil {
		var setThreads func(int32)
		purego.RegisterLibFunc(&setThreads, h, "openblas_set_num_threads")
		setThreads(1)
	}
	return nil
}

func (o *openblas) name() string { return "openblas (" + o.path + ")" }

func (o *openblas) sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := int32(cblasNoTrans), int32(cblasNoTrans)
	if transA {
		ta = cblasTrans
	}
	if transB {
		tb = cblasTrans
	}
	if k == 0 || alpha == 0 {
		scaleRows(c, m, n, ldc, beta)
		return
	}
	o.gemm(cblasRowMajor, ta, tb, int32(m), int32(n), int32(k), alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
}
