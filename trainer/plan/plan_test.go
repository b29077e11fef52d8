package plan

import (
	"math"
	"testing"
)

func TestChinchillaPoints(t *testing.T) {
	// Chinchilla itself: 70B parameters, 1.4T tokens, about 5.9e23 FLOPs.
	p, err := Make(Input{FLOPs: 6 * 70e9 * 1.4e12})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(p.Params/70e9-1) > 0.01 || math.Abs(p.TrainTokens/1.4e12-1) > 0.01 || p.Limit != "compute" {
		t.Errorf("compute-limited plan: %s params, %s tokens, %s", Human(p.Params), Human(p.TrainTokens), p.Limit)
	}
	// Data-limited: 2B tokens support a 100M model at 20 tokens each,
	// whatever a larger compute budget would allow.
	p, _ = Make(Input{Tokens: 2e9, FLOPs: 1e22})
	if p.Params != 1e8 || p.Limit != "data" || p.Epochs != 1 {
		t.Errorf("data-limited plan: %+v", p)
	}
	// Compute-limited with plenty of data: fewer than one epoch.
	p, _ = Make(Input{Tokens: 1e12, FLOPs: 1.2e18})
	if math.Abs(p.Params-1e8)/1e8 > 1e-9 || p.Epochs >= 1 || p.Limit != "compute" {
		t.Errorf("compute-limited plan: %+v", p)
	}
	if _, err := Make(Input{}); err == nil {
		t.Error("a plan without budgets was accepted")
	}
}

func TestNearestConfig(t *testing.T) {
	for _, n := range []float64{2e7, 1.24e8, 1e9, 7e9} {
		c, params := Nearest(n, 50257, 1024)
		if err := c.Validate(); err != nil {
			t.Fatalf("%v: invalid config %+v: %v", n, c, err)
		}
		if r := float64(params) / n; r < 0.8 || r > 1.25 {
			t.Errorf("nearest to %s has %s parameters", Human(n), Human(float64(params)))
		}
		if c.NumParams() != params || count(c) != params || c.Dim%64 != 0 || c.Heads*64 != c.Dim {
			t.Errorf("config %+v", c)
		}
	}
}
