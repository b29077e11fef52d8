package trainer

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// Tokens is a token sequence the loader reads windows from; *store.Store
// is one.
type Tokens interface {
	NumTokens() int64
	Window(dst []int32, start int64) error
}

// Slice is an in-memory token sequence.
type Slice []int32

// NumTokens implements Tokens.
func (s Slice) NumTokens() int64 { return int64(len(s)) }

// Window implements Tokens.
func (s Slice) Window(dst []int32, start int64) error {
	if start < 0 || start+int64(len(dst)) > int64(len(s)) {
		return fmt.Errorf("window [%d, %d) is outside %d tokens", start, start+int64(len(dst)), len(s))
	}
	copy(dst, s[start:])
	return nil
}

// span is the tokens [off, off+n) of src.
type span struct {
	src    Tokens
	off, n int64
}

func (s span) NumTokens() int64 { return s.n }

func (s span) Window(dst []int32, start int64) error {
	if start < 0 || start+int64(len(dst)) > s.n {
		return fmt.Errorf("window [%d, %d) is outside %d tokens", start, start+int64(len(dst)), s.n)
	}
	return s.src.Window(dst, s.off+start)
}

// Loader cuts training batches of windows of context+1 tokens out of a
// token sequence: at seeded random offsets, or front to back (sequential,
// wrapping around at the end). Its whole state is LoaderState.
type Loader struct {
	src        Tokens
	sequential bool
	context    int
	rng        *rand.PCG
	pos        int64
	window     []int32
}

// LoaderState is where a loader is: what a checkpoint saves.
type LoaderState struct {
	RNG      []byte `json:"rng"`      // PCG state
	Position int64  `json:"position"` // next sequential offset
}

// NewLoader reads windows of context+1 tokens from src.
func NewLoader(src Tokens, context int, sequential bool, seed uint64) (*Loader, error) {
	if src.NumTokens() < int64(context)+2 {
		return nil, fmt.Errorf("data: %d tokens is less than one window of context+1 = %d tokens", src.NumTokens(), context+1)
	}
	return &Loader{src: src, sequential: sequential, context: context,
		rng: rand.NewPCG(seed, 0x6c6f61646572), window: make([]int32, context+1)}, nil
}

// Next fills tokens and targets (b·context each) with b windows.
func (l *Loader) Next(tokens, targets []int32, b int) error {
	t := l.context
	n := l.src.NumTokens()
	for i := 0; i < b; i++ {
		var start int64
		if l.sequential {
			if l.pos+int64(t)+1 > n {
				l.pos = 0
			}
			start = l.pos
			l.pos += int64(t)
		} else {
			// Uniform in [0, n-t-1), as the reference trainer draws.
			start = int64(uint64n(l.rng, uint64(n-int64(t)-1)))
		}
		if err := l.src.Window(l.window, start); err != nil {
			return fmt.Errorf("data: %w", err)
		}
		copy(tokens[i*t:(i+1)*t], l.window[:t])
		copy(targets[i*t:(i+1)*t], l.window[1:])
	}
	return nil
}

// uint64n is an unbiased draw in [0, n) from the PCG (the rejection method
// of math/rand/v2, kept here so the stream never changes under us).
func uint64n(r *rand.PCG, n uint64) uint64 {
	thresh := -n % n
	for {
		v := r.Uint64()
		hi, lo := bits.Mul64(v, n)
		if lo >= thresh {
			return hi
		}
	}
}

// State returns the loader's position.
func (l *Loader) State() (LoaderState, error) {
	b, err := l.rng.MarshalBinary()
	if err != nil {
		return LoaderState{}, err
	}
	return LoaderState{RNG: b, Position: l.pos}, nil
}

// Restore moves the loader to a saved position.
func (l *Loader) Restore(s LoaderState) error {
	if err := l.rng.UnmarshalBinary(s.RNG); err != nil {
		return fmt.Errorf("data: loader state: %w", err)
	}
	l.pos = s.Position
	return nil
}

// evalSet is the fixed validation batches: the same windows at every
// evaluation and in every run with the same val_seed.
type evalSet struct {
	tokens, targets [][]int32
}

func newEvalSet(src Tokens, context, batch, batches int, seed uint64) (*evalSet, error) {
	l, err := NewLoader(src, context, false, seed)
	if err != nil {
		return nil, fmt.Errorf("validation %w", err)
	}
	e := &evalSet{}
	for i := 0; i < batches; i++ {
		x, y := make([]int32, batch*context), make([]int32, batch*context)
		if err := l.Next(x, y, batch); err != nil {
			return nil, err
		}
		e.tokens, e.targets = append(e.tokens, x), append(e.targets, y)
	}
	return e, nil
}
