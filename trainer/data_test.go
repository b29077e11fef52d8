package trainer

import (
	"slices"
	"testing"
)

func seq(n int) Slice {
	s := make(Slice, n)
	for i := range s {
		s[i] = int32(i)
	}
	return s
}

func TestLoaderSequential(t *testing.T) {
	l, err := NewLoader(seq(20), 4, true, 1)
	if err != nil {
		t.Fatal(err)
	}
	x, y := make([]int32, 8), make([]int32, 8)
	var starts []int32
	for range 3 {
		if err := l.Next(x, y, 2); err != nil {
			t.Fatal(err)
		}
		starts = append(starts, x[0], x[4])
		for i := range x {
			if y[i] != x[i]+1 {
				t.Fatalf("targets are not the next tokens: %v %v", x, y)
			}
		}
	}
	// windows of 5 tokens at 0, 4, 8, 12; 16+5 > 20 wraps to 0.
	if want := []int32{0, 4, 8, 12, 0, 4}; !slices.Equal(starts, want) {
		t.Fatalf("starts %v, want %v", starts, want)
	}
}

func TestLoaderRandomAndRestore(t *testing.T) {
	src := seq(1000)
	a, _ := NewLoader(src, 8, false, 7)
	b, _ := NewLoader(src, 8, false, 7)
	x1, y1, x2, y2 := make([]int32, 16), make([]int32, 16), make([]int32, 16), make([]int32, 16)
	a.Next(x1, y1, 2)
	st, err := a.State()
	if err != nil {
		t.Fatal(err)
	}
	a.Next(x1, y1, 2)
	b.Next(x2, y2, 2)
	if err := b.Restore(st); err != nil {
		t.Fatal(err)
	}
	b.Next(x2, y2, 2)
	if !slices.Equal(x1, x2) || !slices.Equal(y1, y2) {
		t.Fatalf("restored loader diverged: %v vs %v", x1, x2)
	}
	for i := 0; i < 200; i++ {
		a.Next(x1, y1, 2)
		if x1[0] < 0 || x1[15] > 998 {
			t.Fatalf("window out of range: %v", x1)
		}
	}
	if err := b.Restore(LoaderState{RNG: []byte("junk")}); err == nil {
		t.Fatal("bad loader state accepted")
	}
}

func TestLoaderTooSmall(t *testing.T) {
	if _, err := NewLoader(seq(5), 4, false, 1); err == nil {
		t.Fatal("want an error for a store smaller than a window")
	}
}

func TestHoldOut(t *testing.T) {
	tr, va := holdOut(seq(100))
	if tr.NumTokens() != 90 || va.NumTokens() != 10 {
		t.Fatalf("%d/%d", tr.NumTokens(), va.NumTokens())
	}
	w := make([]int32, 3)
	if err := va.Window(w, 7); err != nil || w[0] != 97 {
		t.Fatalf("%v %v", w, err)
	}
	if err := va.Window(w, 8); err == nil {
		t.Fatal("window past the end of the held-out part")
	}
}
