package dedup

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/dedup/minhash"
)

func TestShingleSetJaccard(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 500; trial++ {
		var a, b []uint64
		for k := rng.IntN(300); k > 0; k-- {
			x := rng.Uint64N(400) << 32
			a = append(a, x)
			if rng.IntN(4) > 0 {
				b = append(b, x)
			}
		}
		for k := rng.IntN(50); k > 0; k-- {
			b = append(b, rng.Uint64N(400)<<32|rng.Uint64N(1<<32))
		}
		sa, sb := shingleSet(nil, a), shingleSet([]uint32{7}, b)[1:]
		if !slices.IsSorted(sa) || len(slices.Compact(slices.Clone(sa))) != len(sa) {
			t.Fatalf("set %v is not sorted without repeats", sa)
		}
		ma, mb := map[uint32]bool{}, map[uint32]bool{}
		for _, x := range a {
			ma[uint32(x>>32)] = true
		}
		for _, x := range b {
			mb[uint32(x>>32)] = true
		}
		if len(ma) != len(sa) || len(mb) != len(sb) {
			t.Fatalf("set sizes %d %d, want %d %d", len(sa), len(sb), len(ma), len(mb))
		}
		inter := 0
		for x := range ma {
			if mb[x] {
				inter++
			}
		}
		union := len(ma) + len(mb) - inter
		for _, th := range []float64{0, 0.3, 0.5, 0.8, 1} {
			want := union == 0 || float64(inter)/float64(union) >= th
			if got := jaccardAtLeast(sa, sb, th); got != want {
				t.Fatalf("J=%d/%d >= %v: got %v", inter, union, th, got)
			}
		}
	}
}

func TestShingleStore(t *testing.T) {
	s := newShingleStore(t.TempDir())
	var want [][]uint32
	rng := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 2; round++ { // the second round after close
		want = want[:0]
		for i := 0; i < 3000; i++ {
			set := make([]uint32, rng.IntN(200))
			for k := range set {
				set[k] = rng.Uint32()
			}
			if err := s.add(set); err != nil {
				t.Fatal(err)
			}
			want = append(want, set)
			if j := rng.IntN(len(want)); i%7 == 0 { // reads between writes, flushed or not
				got, err := s.get(uint32(j), nil)
				if err != nil || !slices.Equal(got, want[j]) || s.size(uint32(j)) != len(want[j]) {
					t.Fatalf("round %d doc %d: got %d values (%v), want %d", round, j, len(got), err, len(want[j]))
				}
			}
		}
		for j := range want {
			if got, err := s.get(uint32(j), nil); err != nil || !slices.Equal(got, want[j]) {
				t.Fatalf("round %d doc %d: %v", round, j, err)
			}
		}
		if _, err := s.get(uint32(len(want)), nil); err == nil {
			t.Error("get past the end succeeded")
		}
		if err := s.close(); err != nil {
			t.Fatal(err)
		}
	}
}

// exactAndEstimate returns the exact shingle Jaccard of two texts, whether
// their b-bit signatures pass the threshold 0.8 and whether they share an
// LSH band (default parameters).
func exactAndEstimate(t *testing.T, a, b string) (float64, bool, bool) {
	h, err := minhash.New(5, 112, 1)
	if err != nil {
		t.Fatal(err)
	}
	var s minhash.Scratch
	sa, sb := make([]byte, 112), make([]byte, 112)
	h.Signature(&s, a, sa)
	seta := shingleSet(nil, s.Shingles())
	h.Signature(&s, b, sb)
	setb := shingleSet(nil, s.Shingles())
	inter := len(seta) + len(setb) - len(slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(seta), setb...)))))
	j := float64(inter) / float64(len(seta)+len(setb)-inter)
	band := false
	for k := 0; k < 14; k++ {
		band = band || slices.Equal(sa[k*8:(k+1)*8], sb[k*8:(k+1)*8])
	}
	return j, minhash.Equal(sa, sb) >= minhash.MinEqual(112, 0.8), band
}

// TestMinHashVerifyShingles: with verify: shingles, a candidate pair is
// decided by its exact Jaccard where the signature estimate says the
// opposite, both ways.
func TestMinHashVerifyShingles(t *testing.T) {
	base := words(11, 500)
	var fooled, missed [2]string // signature passes below 0.8; fails above it
	for every := 3; every < 120 && (fooled[0] == "" || missed[0] == ""); every++ {
		for shift := 0; shift < 60 && (fooled[0] == "" || missed[0] == ""); shift++ {
			a := words(100+shift, 8) + base
			b := mutateFrom(a, every, shift%every)
			j, sigPass, band := exactAndEstimate(t, a, b)
			switch {
			case sigPass && j < 0.8 && fooled[0] == "":
				fooled = [2]string{a, b}
				t.Logf("fooled: exact J %.3f, signature passes", j)
			case !sigPass && band && j >= 0.8 && missed[0] == "":
				missed = [2]string{a, b}
				t.Logf("missed: exact J %.3f, signature fails", j)
			}
		}
	}
	if fooled[0] == "" || missed[0] == "" {
		t.Fatal("no pair found where the signature estimate and the exact Jaccard disagree")
	}
	for _, tc := range []struct {
		name   string
		pair   [2]string
		verify string
		drop   bool
	}{
		{"estimate passes, exact fails: signature", fooled, "signature", true},
		{"estimate passes, exact fails: shingles", fooled, "shingles", false},
		{"estimate fails, exact passes: signature", missed, "signature", false},
		{"estimate fails, exact passes: shingles", missed, "shingles", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer alloc.AssertSize(t, 0)
			m := newMinHash(t, testEnv(t, alloc), map[string]any{"verify": tc.verify})
			out := streamDocs(t, m, alloc, textDocs(tc.pair[0], tc.pair[1]), 1, 1)
			finish(t, m)
			if out[0].drop != "" || (out[1].drop != "") != tc.drop {
				t.Errorf("outcomes %+v, want the second dropped: %v", out, tc.drop)
			}
		})
	}
}

// mutateFrom replaces every k-th word starting at word from.
func mutateFrom(text string, every, from int) string {
	f := strings.Fields(text)
	for i := from; i < len(f); i += every {
		f[i] = "CHANGED" + f[i]
	}
	return strings.Join(f, " ")
}
