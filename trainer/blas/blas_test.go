package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func kernels(t testing.TB) map[string]*Kernel {
	out := map[string]*Kernel{}
	for _, b := range []string{Go, OpenBLAS} {
		for _, w := range []int{1, 3} {
			k, err := New(b, w)
			if err != nil {
				t.Logf("skipping %s: %v", b, err)
				continue
			}
			out[fmt.Sprintf("%s/w%d", b, w)] = k
		}
	}
	return out
}

func randMat(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// reference computes alpha*op(A)*op(B)+beta*C in float64.
func reference(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			out[i*n+j] = float64(alpha)*s + float64(beta)*float64(c[i*ldc+j])
		}
	}
	return out
}

func TestSgemm(t *testing.T) {
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {3, 5, 7}, {4, 4, 4}, {17, 9, 300}, {64, 64, 64}, {130, 70, 513}, {8, 3, 0},
	}
	for name, kern := range kernels(t) {
		for _, sh := range shapes {
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, ab := range [][2]float32{{1, 0}, {0.5, 1}, {-2, 0.25}} {
					r := rand.New(rand.NewPCG(uint64(sh.m), uint64(sh.k)))
					lda, ldb, ldc := sh.k+2, sh.n+1, sh.n+3
					if tr[0] {
						lda = sh.m + 2
					}
					if tr[1] {
						ldb = sh.k + 1
					}
					arows, brows := sh.m, sh.k
					if tr[0] {
						arows = sh.k
					}
					if tr[1] {
						brows = sh.n
					}
					a := randMat(r, max(arows*lda, 1))
					b := randMat(r, max(brows*ldb, 1))
					c := randMat(r, sh.m*ldc)
					want := reference(tr[0], tr[1], sh.m, sh.n, sh.k, ab[0], a, lda, b, ldb, ab[1], c, ldc)
					kern.Sgemm(tr[0], tr[1], sh.m, sh.n, sh.k, ab[0], a, lda, b, ldb, ab[1], c, ldc)
					for i := 0; i < sh.m; i++ {
						for j := 0; j < sh.n; j++ {
							got, w := float64(c[i*ldc+j]), want[i*sh.n+j]
							if math.Abs(got-w) > 1e-4*(1+math.Abs(w))*math.Sqrt(float64(sh.k+1)) {
								t.Fatalf("%s %v %+v alpha,beta=%v: C[%d,%d] = %v, want %v", name, tr, sh, ab, i, j, got, w)
							}
						}
					}
				}
			}
		}
	}
}

// TestBackendsAgree runs the same product through OpenBLAS and the Go kernel.
func TestBackendsAgree(t *testing.T) {
	ob, err := New(OpenBLAS, 2)
	if err != nil {
		t.Skip(err)
	}
	g, _ := New(Go, 2)
	r := rand.New(rand.NewPCG(1, 2))
	m, n, k := 256, 192, 320
	a, b := randMat(r, m*k), randMat(r, n*k)
	c1, c2 := make([]float32, m*n), make([]float32, m*n)
	ob.Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c1, n)
	g.Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c2, n)
	for i := range c1 {
		if d := math.Abs(float64(c1[i] - c2[i])); d > 1e-3 {
			t.Fatalf("element %d: openblas %v, go %v", i, c1[i], c2[i])
		}
	}
}

func TestSplitIsExact(t *testing.T) {
	for _, b := range []string{Go, OpenBLAS} {
		k1, err := New(b, 1)
		if err != nil {
			continue
		}
		k4, _ := New(b, 4)
		r := rand.New(rand.NewPCG(3, 4))
		m, n, k := 200, 96, 128
		a, bb := randMat(r, m*k), randMat(r, n*k)
		c1, c4 := make([]float32, m*n), make([]float32, m*n)
		k1.Sgemm(false, true, m, n, k, 1, a, k, bb, k, 0, c1, n)
		k4.Sgemm(false, true, m, n, k, 1, a, k, bb, k, 0, c4, n)
		for i := range c1 {
			if c1[i] != c4[i] {
				t.Fatalf("%s: element %d differs between 1 and 4 workers: %v vs %v", b, i, c1[i], c4[i])
			}
		}
	}
}

func TestShapeErrors(t *testing.T) {
	k, _ := New(Go, 1)
	defer func() {
		if recover() == nil {
			t.Fatal("short C did not panic")
		}
	}()
	k.Sgemm(false, false, 4, 4, 4, 1, make([]float32, 16), 4, make([]float32, 16), 4, 0, make([]float32, 15), 4)
}

func TestUnknownBackend(t *testing.T) {
	if _, err := New("cuBLAS", 1); err == nil {
		t.Fatal("want error for unknown backend")
	}
}

func BenchmarkSgemm(b *testing.B) {
	for name, kern := range kernels(b) {
		for _, tr := range [][2]bool{{false, true}, {false, false}, {true, false}} {
			b.Run(fmt.Sprintf("%s/tA=%v,tB=%v", name, tr[0], tr[1]), func(b *testing.B) {
				m, n, k := 512, 256, 256
				r := rand.New(rand.NewPCG(1, 1))
				a, bb, c := randMat(r, m*k), randMat(r, n*k), make([]float32, m*n)
				lda, ldb := k, k
				if tr[0] {
					lda = m
				}
				if !tr[1] {
					ldb = n
				}
				b.SetBytes(int64(4 * (m*k + n*k + m*n)))
				b.ResetTimer()
				for range b.N {
					kern.Sgemm(tr[0], tr[1], m, n, k, 1, a, lda, bb, ldb, 0, c, n)
				}
				b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
