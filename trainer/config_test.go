package trainer

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte("data: out/tokens\nout: runs/demo\n"), "/cfg")
	if err != nil {
		t.Fatal(err)
	}
	m, tr := cfg.Model, cfg.Train
	if cfg.Data != filepath.Join("/cfg", "out/tokens") || cfg.Out != "/cfg/runs/demo" || cfg.Device != "auto" {
		t.Errorf("paths/device: %+v", cfg)
	}
	if m.Context != 256 || m.Layers != 4 || m.Heads != 4 || m.KVHeads != 4 || m.Dim != 256 || m.Hidden != 704 ||
		m.RopeBase != 10000 || m.RopeScale != 1 || !*m.TieEmbeddings {
		t.Errorf("model defaults: %+v", m)
	}
	if tr.BatchSize != 16 || tr.Steps != 2000 || tr.LR != 6e-4 || *tr.Warmup != 100 || tr.Seed != 1 ||
		tr.Order != "random" || tr.Accumulate != 1 || *tr.WeightDecay != 0.1 || *tr.GradClip != 1 ||
		tr.Beta1 != 0.9 || tr.Beta2 != 0.95 || tr.Eps != 1e-8 || *tr.CheckpointEvery != tr.EvalEvery {
		t.Errorf("train defaults: %+v", tr)
	}
}

func TestConfigContractExample(t *testing.T) {
	cfg, err := ParseConfig([]byte(`
data: out/tokens          # token store directory
val_data: out/tokens/val
out: runs/demo
device: auto
model: {context: 256, layers: 4, heads: 4, kv_heads: 4, dim: 256}
train: {batch_size: 16, steps: 2000, lr: 6.0e-4, warmup: 100, seed: 1, eval_every: 200, checkpoint_every: 200, order: random}
`), "/x")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ValData != "/x/out/tokens/val" || *cfg.Train.CheckpointEvery != 200 {
		t.Errorf("%+v", cfg)
	}
	// lora defaults, paths relative to the file
	cfg, err = ParseConfig([]byte("data: d\nout: o\nlora: {from: runs/base}\n"), "/x")
	if err != nil || cfg.LoRA.Rank != 8 || cfg.LoRA.Alpha != 16 || strings.Join(cfg.LoRA.Targets, ",") != "q,v" || cfg.LoRA.From != "/x/runs/base" {
		t.Fatalf("lora defaults: %v %+v", err, cfg.LoRA)
	}
	// checkpoint_every defaults to eval_every
	cfg, err = ParseConfig([]byte("data: d\nout: o\ntrain: {eval_every: 50}\n"), "/x")
	if err != nil || *cfg.Train.CheckpointEvery != 50 {
		t.Fatalf("checkpoint_every default: %v %v", err, cfg)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"out: o\n", "data: missing"},
		{"data: d\n", "out: missing"},
		{"data: d\nout: o\ndevice: tpu\n", `device: "tpu" is not one of`},
		{"data: d\nout: o\nmodel: {heads: 4, kv_heads: 3}\n", "kv_heads 3 must divide heads 4"},
		{"data: d\nout: o\nmodel: {dim: 100, heads: 3}\n", "dim 100 is not a multiple of heads 3"},
		{"data: d\nout: o\nmodel: {dim: 12, heads: 4}\n", "must be even"},
		{"data: d\nout: o\nmodel: {rope_scale: -1}\n", "rope_scale must be > 0"},
		{"data: d\nout: o\ntrain: {order: shuffled}\n", `order: "shuffled" is not one of random, sequential`},
		{"data: d\nout: o\ntrain: {steps: -5}\n", "steps must be positive"},
		{"data: d\nout: o\ntrain: {batch_size: 0}\n", ""}, // 0 means the default
		{"data: d\nout: o\ntrain: {lr: -1}\n", "lr must be positive"},
		{"data: d\nout: o\ntrain: {beta2: 1.5}\n", "beta1 and beta2"},
		{"data: d\nout: o\ntrian: {}\n", `line 3: unknown key "trian" (did you mean "train"?)`},
		{"data: d\nout: o\nmodel: {layer: 2}\n", `model: unknown key "layer" (did you mean "layers"?)`},
		{"data: d\nout: o\ntrain: {zzzzzzzz: 2}\n", `train: unknown key "zzzzzzzz" (known: batch_size, steps`},
		{"data: d\nout: o\nlora: {rank: 8}\n", "lora: from: missing"},
		{"data: d\nout: o\nlora: {from: b, targets: [q, wq]}\n", `lora: targets: "wq" is not one of q, k, v, o, gate, up, down`},
		{"data: d\nout: o\nlora: {from: b, rank: -1}\n", "lora: rank must be positive"},
		{"data: d\nout: o\nlora: {from: b, ranks: 4}\n", `lora: unknown key "ranks" (did you mean "rank"?)`},
		{"data: d\nout: o\nlora: {from: b}\ntrain: {init_from: c}\n", "init_from and lora.from both"},
		{"data: d\nout: o\nlora: {from: b}\n", ""},
		{"data: d\nout: o\ntrain: {init_from: runs/base}\nmodel: {context: 512, rope_scale: 2}\n", ""},
		{"data: [a, b]\nout: o\n", "cannot unmarshal"},
		{"data: d\nout: o\ndata: e\n", "already defined"},
	} {
		_, err := ParseConfig([]byte(tc.yaml), "/x")
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.yaml, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.yaml, err, tc.want)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("data: d\nout: o\nmodel: {context: 8, layers: 1, heads: 2, dim: 8}\n"))
	f.Add([]byte("data: d\nout: o\ntrain: {steps: 3, warmup: 9, order: sequential}\n"))
	f.Add([]byte("model: {kv_heads: 0, rope_base: 1}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b, "/x")
		if err != nil {
			return
		}
		// A config that parses builds a model configuration that validates.
		if err := cfg.ModelConfig(7).Normalized().Validate(); err != nil {
			t.Fatalf("accepted config gives an invalid model: %v", err)
		}
	})
}
