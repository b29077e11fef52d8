package curriculum

import (
	"bytes"
	"math"
	"testing"
)

// SortKey orders scores as the stage does: ascending or descending, NaN
// last either way, -0 equal to +0.
func TestSortKey(t *testing.T) {
	scores := []float64{math.Inf(-1), -2.5, -1e-300, 0, 1e-300, 3, math.Inf(1)}
	for _, desc := range []bool{false, true} {
		for i := 1; i < len(scores); i++ {
			a, b := SortKey(nil, scores[i-1], desc), SortKey(nil, scores[i], desc)
			if c := bytes.Compare(a, b); (c >= 0) != desc || c == 0 {
				t.Errorf("descending %v: %v vs %v compare %d", desc, scores[i-1], scores[i], c)
			}
		}
		nan := SortKey(nil, math.NaN(), desc)
		for _, s := range scores {
			if bytes.Compare(SortKey(nil, s, desc), nan) >= 0 {
				t.Errorf("descending %v: %v not before NaN", desc, s)
			}
		}
		if !bytes.Equal(SortKey(nil, math.Copysign(0, -1), desc), SortKey(nil, 0, desc)) {
			t.Errorf("-0 and +0 differ")
		}
	}
	if got := SortKey([]byte("x"), 1, false); len(got) != 10 || got[0] != 'x' {
		t.Errorf("SortKey does not append: %q", got)
	}
}
