// Package blas multiplies float32 matrices for the trainer: OpenBLAS loaded
// at run time (no cgo, so one binary runs with or without the library) or a
// blocked pure-Go kernel when the library is absent or CURATE_BLAS=go.
//
// Both kernels are single-threaded; Kernel adds the parallelism itself by
// splitting the rows of the result into fixed blocks shared by goroutines.
// OpenBLAS is pinned to one thread per call so its worker threads never spin
// against the Go scheduler, and since the blocks do not depend on the number
// of workers, neither does any result.
package blas

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// serialGemm computes C = alpha*op(A)*op(B) + beta*C on row-major matrices
// using the calling thread only. It must be safe for concurrent use on
// disjoint C.
type serialGemm interface {
	sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	name() string
}

// Kernel is the matrix-product engine shared by a training run. It is safe
// for concurrent use: Sgemm spreads one product over Workers goroutines,
// SgemmSerial runs on the caller's goroutine for callers that parallelise
// over many small products themselves (attention heads).
type Kernel struct {
	impl    serialGemm
	workers int
}

// Backend names accepted by New.
const (
	Auto     = "auto"     // OpenBLAS when it loads, else Go
	OpenBLAS = "openblas" // OpenBLAS or an error
	Go       = "go"       // the pure-Go kernel
)

// New returns a kernel using workers goroutines (0 = GOMAXPROCS). backend is
// Auto, OpenBLAS or Go; Auto honours CURATE_BLAS=go|openblas from the
// environment.
func New(backend string, workers int) (*Kernel, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if backend == Auto || backend == "" {
		if env := os.Getenv("CURATE_BLAS"); env != "" {
			backend = env
		}
	}
	switch backend {
	case Go:
		return &Kernel{impl: goGemm{}, workers: workers}, nil
	case OpenBLAS:
		lib, err := loadOpenBLAS()
		if err != nil {
			return nil, err
		}
		return &Kernel{impl: lib, workers: workers}, nil
	case Auto, "":
		if lib, err := loadOpenBLAS(); err == nil {
			return &Kernel{impl: lib, workers: workers}, nil
		}
		return &Kernel{impl: goGemm{}, workers: workers}, nil
	}
	return nil, fmt.Errorf("blas: unknown backend %q (want auto, openblas or go)", backend)
}

// Name says which kernel runs: "openblas (PATH)" or "go".
func (k *Kernel) Name() string { return k.impl.name() }

// Workers is the number of goroutines one Sgemm uses.
func (k *Kernel) Workers() int { return k.workers }

// minParallelWork is the multiply-add count below which splitting a product
// costs more than it saves.
const minParallelWork = 1 << 17

// blockRows is the row-block size of a split product of m rows: about
// maxBlocks blocks of a multiple of 64 rows (a multiple of every
// micro-kernel's row count), at least 64. Blocks depend on the shape only,
// never on the worker count, so each element of C is computed by a call of
// the same shape however many workers share the blocks: results are
// identical for any worker count, with OpenBLAS too.
func blockRows(m int) int {
	const maxBlocks = 16
	return max(64, ((m+maxBlocks-1)/maxBlocks+63)&^63)
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices, where
// op(X) is X or its transpose; op(A) is m×k, op(B) is k×n, C is m×n with row
// strides lda, ldb, ldc. It panics on slices too short for the shapes, as a
// slice index would.
func (k *Kernel) Sgemm(transA, transB bool, m, n, kk int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkShapes(transA, transB, m, n, kk, a, lda, b, ldb, c, ldc)
	rows := blockRows(m)
	blocks := (m + rows - 1) / rows
	if m*n*kk < minParallelWork || blocks == 1 {
		k.impl.sgemm(transA, transB, m, n, kk, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	block := func(i int) {
		i0 := i * rows
		i1 := min(i0+rows, m)
		aOff := i0 * lda
		if transA {
			aOff = i0
		}
		k.impl.sgemm(transA, transB, i1-i0, n, kk, alpha, a[aOff:], lda, b, ldb, beta, c[i0*ldc:], ldc)
	}
	workers := min(k.workers, blocks)
	if workers <= 1 {
		for i := 0; i < blocks; i++ {
			block(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < blocks; i = int(next.Add(1) - 1) {
				block(i)
			}
		}()
	}
	wg.Wait()
}

// SgemmSerial is Sgemm on the calling goroutine only.
func (k *Kernel) SgemmSerial(transA, transB bool, m, n, kk int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkShapes(transA, transB, m, n, kk, a, lda, b, ldb, c, ldc)
	k.impl.sgemm(transA, transB, m, n, kk, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkShapes panics with a clear message when a slice cannot hold its
// matrix: a C library would otherwise read or write out of bounds.
func checkShapes(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	need := func(name string, s []float32, rows, cols, ld int) {
		if rows == 0 || cols == 0 {
			return
		}
		if ld < cols || len(s) < (rows-1)*ld+cols {
			panic(fmt.Sprintf("blas: %s is %d floats with stride %d, too small for %d×%d", name, len(s), ld, rows, cols))
		}
	}
	need("A", a, ar, ac, lda)
	need("B", b, br, bc, ldb)
	need("C", c, m, n, ldc)
}
