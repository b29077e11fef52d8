package trainer_test

import (
	"fmt"

	"github.com/curatehq/curate/trainer"
)

// The contract's example config, with the defaults the trainer fills in.
func ExampleParseConfig() {
	cfg, err := trainer.ParseConfig([]byte(`
data: out/tokens
out: runs/demo
model: {context: 256, layers: 4, heads: 4, kv_heads: 2, dim: 256}
train: {batch_size: 16, steps: 2000, lr: 6.0e-4, eval_every: 200}
`), "/project")
	if err != nil {
		fmt.Println(err)
		return
	}
	m, t := cfg.Model, cfg.Train
	fmt.Println(cfg.Data, cfg.Out, cfg.Device)
	fmt.Println("hidden", m.Hidden, "rope", m.RopeBase, m.RopeScale, "tied", *m.TieEmbeddings)
	fmt.Println("warmup", *t.Warmup, "checkpoint_every", *t.CheckpointEvery, "order", t.Order,
		"weight_decay", *t.WeightDecay, "clip", *t.GradClip, "betas", t.Beta1, t.Beta2)
	fmt.Println("parameters for a 50257-token vocabulary:", cfg.ModelConfig(50257).NumParams())
	// Output:
	// /project/out/tokens /project/runs/demo auto
	// hidden 704 rope 10000 1 tied true
	// warmup 100 checkpoint_every 200 order random weight_decay 0.1 clip 1 betas 0.9 0.95
	// parameters for a 50257-token vocabulary: 15817216
}
