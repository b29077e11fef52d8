package blas

import "sync"

// goGemm is the pure-Go kernel: both operands are brought into "dot
// product" form (rows of op(A) and columns of op(B) contiguous along k,
// packing a transposed copy only when needed), then 4×4 tiles of C are
// computed with sixteen register accumulators over k-blocks that stay in
// cache.
type goGemm struct{}

func (goGemm) name() string { return "go" }

// kBlock is the k extent of one pass: 4 rows of A and 4 columns of B of this
// length (8 KiB) stay in L1 while a tile is computed.
const kBlock = 256

var packPool = sync.Pool{New: func() any { return new([]float32) }}

func getBuf(n int) *[]float32 {
	p := packPool.Get().(*[]float32)
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

// transposeInto writes the rows×cols matrix src (stride ld) transposed into
// dst (cols×rows, dense).
func transposeInto(dst, src []float32, rows, cols, ld int) {
	const blk = 32
	for r0 := 0; r0 < rows; r0 += blk {
		r1 := min(r0+blk, rows)
		for c0 := 0; c0 < cols; c0 += blk {
			c1 := min(c0+blk, cols)
			for r := r0; r < r1; r++ {
				row := src[r*ld : r*ld+c1]
				for c := c0; c < c1; c++ {
					dst[c*rows+r] = row[c]
				}
			}
		}
	}
}

func scaleRows(c []float32, m, n, ldc int, beta float32) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

func (goGemm) sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	scaleRows(c, m, n, ldc, beta)
	if k == 0 || alpha == 0 {
		return
	}
	// ar: op(A) rows along k with stride sa; bc: op(B) columns along k with stride sb.
	ar, sa := a, lda
	if transA {
		buf := getBuf(m * k)
		defer packPool.Put(buf)
		transposeInto(*buf, a, k, m, lda)
		ar, sa = *buf, k
	}
	bc, sb := b, ldb
	if !transB {
		buf := getBuf(n * k)
		defer packPool.Put(buf)
		transposeInto(*buf, b, k, n, ldb)
		bc, sb = *buf, k
	}
	for p0 := 0; p0 < k; p0 += kBlock {
		p1 := min(p0+kBlock, k)
		tiles(m, n, p0, p1, alpha, ar, sa, bc, sb, c, ldc)
	}
}

// tiles adds alpha * A[:, p0:p1] · B[:, p0:p1]ᵀ into C (A rows and B
// columns both contiguous along k).
func tiles(m, n, p0, p1 int, alpha float32, a []float32, sa int, b []float32, sb int, c []float32, ldc int) {
	i := 0
	for ; i+4 <= m; i += 4 {
		a0 := a[i*sa+p0 : i*sa+p1]
		a1 := a[(i+1)*sa+p0 : (i+1)*sa+p1]
		a2 := a[(i+2)*sa+p0 : (i+2)*sa+p1]
		a3 := a[(i+3)*sa+p0 : (i+3)*sa+p1]
		j := 0
		for ; j+4 <= n; j += 4 {
			b0 := b[j*sb+p0 : j*sb+p1]
			b1 := b[(j+1)*sb+p0 : (j+1)*sb+p1]
			b2 := b[(j+2)*sb+p0 : (j+2)*sb+p1]
			b3 := b[(j+3)*sb+p0 : (j+3)*sb+p1]
			var c00, c01, c02, c03, c10, c11, c12, c13 float32
			var c20, c21, c22, c23, c30, c31, c32, c33 float32
			a1, a2, a3 = a1[:len(a0)], a2[:len(a0)], a3[:len(a0)]
			b0, b1, b2, b3 = b0[:len(a0)], b1[:len(a0)], b2[:len(a0)], b3[:len(a0)]
			for p, x0 := range a0 {
				x1, x2, x3 := a1[p], a2[p], a3[p]
				y0, y1, y2, y3 := b0[p], b1[p], b2[p], b3[p]
				c00 += x0 * y0
				c01 += x0 * y1
				c02 += x0 * y2
				c03 += x0 * y3
				c10 += x1 * y0
				c11 += x1 * y1
				c12 += x1 * y2
				c13 += x1 * y3
				c20 += x2 * y0
				c21 += x2 * y1
				c22 += x2 * y2
				c23 += x2 * y3
				c30 += x3 * y0
				c31 += x3 * y1
				c32 += x3 * y2
				c33 += x3 * y3
			}
			r0 := c[i*ldc+j : i*ldc+j+4]
			r1 := c[(i+1)*ldc+j : (i+1)*ldc+j+4]
			r2 := c[(i+2)*ldc+j : (i+2)*ldc+j+4]
			r3 := c[(i+3)*ldc+j : (i+3)*ldc+j+4]
			r0[0] += alpha * c00
			r0[1] += alpha * c01
			r0[2] += alpha * c02
			r0[3] += alpha * c03
			r1[0] += alpha * c10
			r1[1] += alpha * c11
			r1[2] += alpha * c12
			r1[3] += alpha * c13
			r2[0] += alpha * c20
			r2[1] += alpha * c21
			r2[2] += alpha * c22
			r2[3] += alpha * c23
			r3[0] += alpha * c30
			r3[1] += alpha * c31
			r3[2] += alpha * c32
			r3[3] += alpha * c33
		}
		for ; j < n; j++ {
			bj := b[j*sb+p0 : j*sb+p1]
			c[i*ldc+j] += alpha * dot(a0, bj)
			c[(i+1)*ldc+j] += alpha * dot(a1, bj)
			c[(i+2)*ldc+j] += alpha * dot(a2, bj)
			c[(i+3)*ldc+j] += alpha * dot(a3, bj)
		}
	}
	for ; i < m; i++ {
		ai := a[i*sa+p0 : i*sa+p1]
		for j := 0; j < n; j++ {
			c[i*ldc+j] += alpha * dot(ai, b[j*sb+p0:j*sb+p1])
		}
	}
}

func dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	p := 0
	for ; p+4 <= len(x); p += 4 {
		s0 += x[p] * y[p]
		s1 += x[p+1] * y[p+1]
		s2 += x[p+2] * y[p+2]
		s3 += x[p+3] * y[p+3]
	}
	for ; p < len(x); p++ {
		s0 += x[p] * y[p]
	}
	return (s0 + s1) + (s2 + s3)
}
