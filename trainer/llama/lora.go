package llama

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/curatehq/curate/trainer/blas"
)

// LoRATargets are the projections an adapter can attach to, in layout order.
var LoRATargets = []string{"q", "k", "v", "o", "gate", "up", "down"}

// LoRAConfig describes low-rank adapters: every targeted projection W of
// every layer becomes W + (Alpha/Rank)·B·A with A of Rank×in and B of
// out×Rank.
type LoRAConfig struct {
	Rank    int      `json:"rank"`
	Alpha   float64  `json:"alpha"`
	Targets []string `json:"targets"`
}

// Validate reports the first bad field.
func (c LoRAConfig) Validate() error {
	if c.Rank <= 0 {
		return fmt.Errorf("rank must be positive, got %d", c.Rank)
	}
	if !(c.Alpha > 0) || math.IsInf(c.Alpha, 0) {
		return fmt.Errorf("alpha must be positive, got %v", c.Alpha)
	}
	if len(c.Targets) == 0 {
		return fmt.Errorf("targets: empty (choose among %s)", strings.Join(LoRATargets, ", "))
	}
	seen := map[string]bool{}
	for _, t := range c.Targets {
		if !slices.Contains(LoRATargets, t) {
			return fmt.Errorf("targets: %q is not one of %s", t, strings.Join(LoRATargets, ", "))
		}
		if seen[t] {
			return fmt.Errorf("targets: %q listed twice", t)
		}
		seen[t] = true
	}
	return nil
}

// Scale is Alpha/Rank, the factor on B·A.
func (c LoRAConfig) Scale() float32 { return float32(c.Alpha / float64(c.Rank)) }

// NumParams is the number of adapter floats for model mc, computed
// without laying anything out (so a damaged file's header cannot make a
// reader allocate), or -1 when mc or c is invalid or the count is absurd.
func (c LoRAConfig) NumParams(mc Config) int {
	mc = mc.Normalized()
	if mc.Validate() != nil || c.Validate() != nil {
		return -1
	}
	hd := mc.Dim / mc.Heads
	var perLayer float64
	for _, t := range c.Targets {
		rows, cols := 0, mc.Dim
		switch t {
		case "q":
			rows = mc.Heads * hd
		case "k", "v":
			rows = mc.KVHeads * hd
		case "o":
			rows, cols = mc.Dim, mc.Heads*hd
		case "gate", "up":
			rows = mc.Hidden
		case "down":
			rows, cols = mc.Dim, mc.Hidden
		}
		perLayer += float64(c.Rank) * float64(rows+cols)
	}
	if n := perLayer * float64(mc.Layers); n < 1<<40 {
		return int(n)
	}
	return -1
}

// loraSlot is one adapted projection: rows [row, row+rows) of a layer
// tensor of cols columns, with its A and B tensors in the adapter.
type loraSlot struct {
	off, rows, cols int // the rows' offset in the model's flat vector
	a, b            int // indices into Adapter.Tensors
	tensor          int // index of the adapted tensor in the model's layout
}

// Adapter holds the LoRA parameters for one model architecture. It never
// writes the base weights it is given: Merge writes base+ΔW into a separate
// vector, and Backward turns the gradient of that merged weight into the
// adapter's gradients (∂L/∂B = s·∂L/∂W·Aᵀ, ∂L/∂A = s·Bᵀ·∂L/∂W), which is
// exact because W is linear in A and B.
type Adapter struct {
	Cfg     LoRAConfig
	Model   Config
	Tensors []Tensor
	Params  []float32
	Grads   []float32
	slots   []loraSlot
	k       *blas.Kernel
}

// NewAdapter lays out adapters for model config mc. A starts uniform in
// ±1/sqrt(in) (seeded), B at zero, so the adapted model starts equal to
// the base.
func NewAdapter(mc Config, cfg LoRAConfig, k *blas.Kernel, seed uint64) (*Adapter, error) {
	mc = mc.Normalized()
	if err := mc.Validate(); err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	ts, _ := layout(mc)
	hd := mc.Dim / mc.Heads
	ad := &Adapter{Cfg: cfg, Model: mc, k: k}
	total := 0
	add := func(name string, rows, cols int) int {
		ad.Tensors = append(ad.Tensors, Tensor{Name: name, Off: total, Rows: rows, Cols: cols, Matrix: true})
		total += rows * cols
		return len(ad.Tensors) - 1
	}
	for l := 0; l < mc.Layers; l++ {
		for _, target := range LoRATargets {
			if !slices.Contains(cfg.Targets, target) {
				continue
			}
			var which, row, rows int
			switch target {
			case "q":
				which, row, rows = tQKV, 0, mc.Heads*hd
			case "k":
				which, row, rows = tQKV, mc.Heads*hd, mc.KVHeads*hd
			case "v":
				which, row, rows = tQKV, (mc.Heads+mc.KVHeads)*hd, mc.KVHeads*hd
			case "o":
				which, row, rows = tWo, 0, mc.Dim
			case "gate":
				which, row, rows = tW13, 0, mc.Hidden
			case "up":
				which, row, rows = tW13, mc.Hidden, mc.Hidden
			case "down":
				which, row, rows = tW2, 0, mc.Dim
			}
			t := ts[1+l*nLayerTensors+which]
			p := fmt.Sprintf("layers.%d.%s.", l, target)
			s := loraSlot{off: t.Off + row*t.Cols, rows: rows, cols: t.Cols, tensor: 1 + l*nLayerTensors + which}
			s.a = add(p+"lora_a", cfg.Rank, t.Cols)
			s.b = add(p+"lora_b", rows, cfg.Rank)
			ad.slots = append(ad.slots, s)
		}
	}
	ad.Params, ad.Grads = make([]float32, total), make([]float32, total)
	rng := rand.New(rand.NewPCG(seed, seed^0x4c6f5241))
	for _, s := range ad.slots {
		a := ad.Tensors[s.a]
		bound := 1 / math.Sqrt(float64(a.Cols))
		for i := range ad.Params[a.Off : a.Off+a.Len()] {
			ad.Params[a.Off+i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	return ad, nil
}

func (ad *Adapter) tensor(buf []float32, i int) []float32 {
	t := ad.Tensors[i]
	return buf[t.Off : t.Off+t.Len()]
}

// Merge sets dst = base with s·B·A added to every adapted projection. dst
// and base are model parameter vectors of ad.Model's layout; base is only
// read.
func (ad *Adapter) Merge(dst, base []float32) error {
	if _, n := layout(ad.Model); len(dst) != n || len(base) != n {
		return fmt.Errorf("lora: %d and %d parameters, the adapter's model has %d", len(dst), len(base), n)
	}
	copy(dst, base)
	s := ad.Cfg.Scale()
	r := ad.Cfg.Rank
	for _, sl := range ad.slots {
		a, b := ad.tensor(ad.Params, sl.a), ad.tensor(ad.Params, sl.b)
		ad.k.Sgemm(false, false, sl.rows, sl.cols, r, s, b, r, a, sl.cols, 1, dst[sl.off:], sl.cols)
	}
	return nil
}

// Backward sets the adapter's gradients from modelGrads, the gradient of the
// loss with respect to the merged parameters.
func (ad *Adapter) Backward(modelGrads []float32) {
	s := ad.Cfg.Scale()
	r := ad.Cfg.Rank
	for _, sl := range ad.slots {
		a, b := ad.tensor(ad.Params, sl.a), ad.tensor(ad.Params, sl.b)
		da, db := ad.tensor(ad.Grads, sl.a), ad.tensor(ad.Grads, sl.b)
		dw := modelGrads[sl.off:]
		ad.k.Sgemm(false, true, sl.rows, r, sl.cols, s, dw, sl.cols, a, sl.cols, 0, db, r)
		ad.k.Sgemm(true, false, r, sl.cols, sl.rows, s, b, r, dw, sl.cols, 0, da, sl.cols)
	}
}

// Frozen is the Model.Frozen for training this adapter: every tensor but
// the adapted ones, whose weight gradients Backward reads.
func (ad *Adapter) Frozen() []bool {
	ts, _ := layout(ad.Model)
	f := make([]bool, len(ts))
	for i := range f {
		f[i] = true
	}
	for _, s := range ad.slots {
		f[s.tensor] = false
	}
	return f
}

// NumParams is the number of trainable adapter floats.
func (ad *Adapter) NumParams() int { return len(ad.Params) }
