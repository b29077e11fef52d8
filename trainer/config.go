// Package trainer trains the llama model on a token store: the data
// loader (seeded random windows or the store front to back), AdamW with
// warmup and cosine decay, gradient accumulation and clipping, periodic
// evaluation, atomic checkpoints that resume bit for bit, and
// metrics.jsonl. It reads token stores through the store package and never
// imports pipelines.
package trainer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/curatehq/curate/trainer/llama"
)

// Config is a training config file (CONTRACT.md "Training config").
type Config struct {
	Data    string      `yaml:"data"`     // token store directory
	ValData string      `yaml:"val_data"` // optional; else DATA/val, else the last 10% of data
	Out     string      `yaml:"out"`      // checkpoint, metrics.jsonl, loss.png
	Device  string      `yaml:"device"`   // auto | cpu | cuda
	Model   ModelConfig `yaml:"model"`
	Train   TrainConfig `yaml:"train"`
	LoRA    *LoRAConfig `yaml:"lora"` // optional: LoRA fine-tuning of a frozen base

	// explicit is the model block as written, before defaults: a run
	// initialised from a checkpoint takes the architecture from it and
	// only the keys written here may change it (context, rope_scale).
	explicit ModelConfig
}

// LoRAConfig is the lora: block: low-rank adapters on a frozen base.
type LoRAConfig struct {
	Rank    int      `yaml:"rank"`    // default 8
	Alpha   float64  `yaml:"alpha"`   // default 2·rank
	Targets []string `yaml:"targets"` // default [q, v]; among q, k, v, o, gate, up, down
	From    string   `yaml:"from"`    // the base run folder or checkpoint file
}

// ModelConfig is the model: block. The vocabulary comes from the store.
type ModelConfig struct {
	Context       int     `yaml:"context"`
	Layers        int     `yaml:"layers"`
	Heads         int     `yaml:"heads"`
	KVHeads       int     `yaml:"kv_heads"` // default heads; 1 = multi-query
	Dim           int     `yaml:"dim"`
	Hidden        int     `yaml:"hidden"`     // default 8·dim/3 rounded up to 64
	RopeBase      float64 `yaml:"rope_base"`  // default 10000
	RopeScale     float64 `yaml:"rope_scale"` // position interpolation factor, default 1
	TieEmbeddings *bool   `yaml:"tie_embeddings"`
}

// TrainConfig is the train: block.
type TrainConfig struct {
	BatchSize       int      `yaml:"batch_size"`
	Steps           int      `yaml:"steps"`
	LR              float64  `yaml:"lr"`
	Warmup          *int     `yaml:"warmup"`
	Seed            uint64   `yaml:"seed"`
	EvalEvery       int      `yaml:"eval_every"`       // 0: evaluate at the end only
	CheckpointEvery *int     `yaml:"checkpoint_every"` // default eval_every; 0: at the end only
	Order           string   `yaml:"order"`            // random | sequential
	Accumulate      int      `yaml:"accumulate"`       // micro-batches per step
	EvalBatches     int      `yaml:"eval_batches"`     // batches per evaluation, default 40
	ValSeed         uint64   `yaml:"val_seed"`         // seeds the fixed evaluation windows, default 1234
	LogEvery        int      `yaml:"log_every"`        // metrics.jsonl lines, default every step
	WeightDecay     *float64 `yaml:"weight_decay"`     // default 0.1, matrices only
	GradClip        *float64 `yaml:"grad_clip"`        // default 1.0; 0 disables
	Beta1           float64  `yaml:"beta1"`            // default 0.9
	Beta2           float64  `yaml:"beta2"`            // default 0.95
	Eps             float64  `yaml:"eps"`              // default 1e-8
	Threads         int      `yaml:"threads"`          // default: every core
	// InitFrom starts a full fine-tune from a checkpoint (a run folder or
	// checkpoint file): its weights, a fresh optimizer and schedule. The
	// architecture comes from the checkpoint; model.context and
	// model.rope_scale may differ (position interpolation).
	InitFrom string `yaml:"init_from"`
}

// LoadConfig reads and checks a config file. Relative paths in it are
// relative to the file's folder.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train config: %w", err)
	}
	cfg, err := ParseConfig(b, filepath.Dir(path))
	if err != nil {
		// One problem per line, each naming the file.
		lines := strings.Split(err.Error(), "\n")
		for i, l := range lines {
			lines[i] = path + ": " + strings.TrimSpace(l)
		}
		return nil, errors.New(strings.Join(lines, "\n"))
	}
	return cfg, nil
}

// ParseConfig decodes a config (unknown keys are errors), fills the
// defaults and validates it. dir anchors relative paths.
func ParseConfig(b []byte, dir string) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, withSuggestions(err)
	}
	paths := []*string{&c.Data, &c.ValData, &c.Out, &c.Train.InitFrom}
	if c.LoRA != nil {
		paths = append(paths, &c.LoRA.From)
	}
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) && !strings.Contains(*p, "://") {
			*p = filepath.Join(dir, *p)
		}
	}
	c.explicit = c.Model
	c.defaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) defaults() {
	m, t := &c.Model, &c.Train
	if c.Device == "" {
		c.Device = "auto"
	}
	setInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setInt(&m.Context, 256)
	setInt(&m.Layers, 4)
	setInt(&m.Heads, 4)
	setInt(&m.KVHeads, m.Heads)
	setInt(&m.Dim, 256)
	setInt(&m.Hidden, llama.DefaultHidden(m.Dim))
	if m.RopeBase == 0 {
		m.RopeBase = 10000
	}
	if m.RopeScale == 0 {
		m.RopeScale = 1
	}
	if m.TieEmbeddings == nil {
		tie := true
		m.TieEmbeddings = &tie
	}
	setInt(&t.BatchSize, 16)
	setInt(&t.Steps, 2000)
	if t.LR == 0 {
		t.LR = 6e-4
	}
	if t.Warmup == nil {
		w := min(100, t.Steps)
		t.Warmup = &w
	}
	if t.Seed == 0 {
		t.Seed = 1
	}
	if t.CheckpointEvery == nil {
		ce := t.EvalEvery
		t.CheckpointEvery = &ce
	}
	if t.Order == "" {
		t.Order = "random"
	}
	setInt(&t.Accumulate, 1)
	setInt(&t.EvalBatches, 40)
	if t.ValSeed == 0 {
		t.ValSeed = 1234
	}
	setInt(&t.LogEvery, 1)
	if t.WeightDecay == nil {
		wd := 0.1
		t.WeightDecay = &wd
	}
	if t.GradClip == nil {
		gc := 1.0
		t.GradClip = &gc
	}
	if t.Beta1 == 0 {
		t.Beta1 = 0.9
	}
	if t.Beta2 == 0 {
		t.Beta2 = 0.95
	}
	if t.Eps == 0 {
		t.Eps = 1e-8
	}
	if l := c.LoRA; l != nil {
		setInt(&l.Rank, 8)
		if l.Alpha == 0 {
			l.Alpha = 2 * float64(l.Rank)
		}
		if l.Targets == nil {
			l.Targets = []string{"q", "v"}
		}
	}
}

// Adapter is the lora block as the model package takes it.
func (l *LoRAConfig) Adapter() llama.LoRAConfig {
	return llama.LoRAConfig{Rank: l.Rank, Alpha: l.Alpha, Targets: l.Targets}
}

// initPath is the checkpoint a run starts from: lora.from or
// train.init_from; "" for a run from scratch.
func (c *Config) initPath() string {
	if c.LoRA != nil {
		return c.LoRA.From
	}
	return c.Train.InitFrom
}

// modelFrom is the architecture of a run initialised from a checkpoint of
// model base: base's, with the context and rope_scale the config writes.
// Any other model key written in the config must agree with base.
func (c *Config) modelFrom(base llama.Config, vocab int) (llama.Config, error) {
	base = base.Normalized()
	if base.Vocab != vocab {
		return llama.Config{}, fmt.Errorf("the checkpoint's vocabulary is %d, the store's %d", base.Vocab, vocab)
	}
	e := c.explicit
	var diff []string
	check := func(name string, set bool, want, have any) {
		if set && want != have {
			diff = append(diff, fmt.Sprintf("%s %v (the checkpoint has %v)", name, want, have))
		}
	}
	check("layers", e.Layers != 0, e.Layers, base.Layers)
	check("heads", e.Heads != 0, e.Heads, base.Heads)
	check("kv_heads", e.KVHeads != 0, e.KVHeads, base.KVHeads)
	check("dim", e.Dim != 0, e.Dim, base.Dim)
	check("hidden", e.Hidden != 0, e.Hidden, base.Hidden)
	check("rope_base", e.RopeBase != 0, e.RopeBase, base.RopeBase)
	if e.TieEmbeddings != nil {
		check("tie_embeddings", true, *e.TieEmbeddings, base.TieEmbeddings)
	}
	if len(diff) > 0 {
		return llama.Config{}, fmt.Errorf("model: %s; a run from a checkpoint keeps its architecture (only context and rope_scale may change)", strings.Join(diff, ", "))
	}
	if e.Context != 0 {
		base.Context = e.Context
	}
	if e.RopeScale != 0 {
		base.RopeScale = e.RopeScale
	}
	return base, base.Validate()
}

func (c *Config) validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if c.Data == "" {
		bad("data: missing (the token store directory)")
	}
	if c.Out == "" {
		bad("out: missing (where checkpoints and metrics go)")
	}
	switch c.Device {
	case "auto", "cpu", "cuda":
	default:
		bad("device: %q is not one of auto, cpu, cuda", c.Device)
	}
	if l := c.LoRA; l != nil {
		if err := l.Adapter().Validate(); err != nil {
			bad("lora: %v", err)
		}
		if l.From == "" {
			bad("lora: from: missing (the base run folder or checkpoint file)")
		}
		if c.Train.InitFrom != "" {
			bad("train: init_from and lora.from both name a base; keep one")
		}
	}
	if err := c.ModelConfig(1).Validate(); err != nil {
		bad("model: %v", err)
	}
	t := c.Train
	positive := func(name string, v int) {
		if v <= 0 {
			bad("train: %s must be positive, got %d", name, v)
		}
	}
	positive("batch_size", t.BatchSize)
	positive("steps", t.Steps)
	positive("accumulate", t.Accumulate)
	positive("eval_batches", t.EvalBatches)
	positive("log_every", t.LogEvery)
	if !(t.LR > 0) || math.IsInf(t.LR, 0) {
		bad("train: lr must be positive, got %v", t.LR)
	}
	if *t.Warmup < 0 || t.EvalEvery < 0 || *t.CheckpointEvery < 0 || t.Threads < 0 {
		bad("train: warmup, eval_every, checkpoint_every and threads must not be negative")
	}
	if t.Order != "random" && t.Order != "sequential" {
		bad("train: order: %q is not one of random, sequential", t.Order)
	}
	if *t.WeightDecay < 0 || *t.GradClip < 0 || t.Eps <= 0 {
		bad("train: weight_decay and grad_clip must not be negative, eps must be positive")
	}
	if t.Beta1 < 0 || t.Beta1 >= 1 || t.Beta2 < 0 || t.Beta2 >= 1 {
		bad("train: beta1 and beta2 must be in [0, 1)")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// ModelConfig is the architecture for a store of vocab ids.
func (c *Config) ModelConfig(vocab int) llama.Config {
	m := c.Model
	return llama.Config{
		Vocab: vocab, Context: m.Context, Layers: m.Layers, Heads: m.Heads, KVHeads: m.KVHeads,
		Dim: m.Dim, Hidden: m.Hidden, RopeBase: m.RopeBase, RopeScale: m.RopeScale, TieEmbeddings: *m.TieEmbeddings,
	}
}

// unknownField matches yaml's strict-decoding complaint.
var unknownField = regexp.MustCompile(`field (\S+) not found in type trainer\.(\w+)`)

// knownFields are the keys of each config block, for "did you mean".
var knownFields = map[string]any{"Config": Config{}, "ModelConfig": ModelConfig{}, "TrainConfig": TrainConfig{}, "LoRAConfig": LoRAConfig{}}

// withSuggestions rewrites yaml's unknown-field errors to name the block
// and the closest known key.
func withSuggestions(err error) error {
	msg := unknownField.ReplaceAllStringFunc(err.Error(), func(m string) string {
		sub := unknownField.FindStringSubmatch(m)
		field, typ := sub[1], sub[2]
		block := map[string]string{"Config": "", "ModelConfig": "model: ", "TrainConfig": "train: ", "LoRAConfig": "lora: "}[typ]
		out := fmt.Sprintf("%sunknown key %q", block, field)
		var keys []string
		t := reflect.TypeOf(knownFields[typ])
		for i := 0; i < t.NumField(); i++ {
			if k := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; k != "" {
				keys = append(keys, k)
			}
		}
		best, bestD := "", 3
		for _, k := range keys {
			if d := editDistance(field, k); d < bestD {
				best, bestD = k, d
			}
		}
		if best != "" {
			out += fmt.Sprintf(" (did you mean %q?)", best)
		} else {
			out += " (known: " + strings.Join(keys, ", ") + ")"
		}
		return out
	})
	return errors.New(strings.Replace(msg, "yaml: unmarshal errors:\n", "", 1))
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
