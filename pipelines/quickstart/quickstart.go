package quickstart

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
)

// Pipeline and Train are the quickstart's pipeline and training config.
var (
	//go:embed pipeline.yaml
	Pipeline []byte
	//go:embed train.yaml
	Train []byte
)

// Seed makes the generated corpus the same bytes on every machine.
const Seed = 20261129

// Setup writes the corpus, pipeline.yaml and train.yaml into dir and returns
// the pipeline file's path. Existing output folders are left alone; the
// corpus and configs are rewritten (they are always the same bytes).
func Setup(dir string) (string, error) {
	if err := Write(filepath.Join(dir, "corpus"), Seed); err != nil {
		return "", fmt.Errorf("quickstart corpus: %w", err)
	}
	pipeline := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(pipeline, Pipeline, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "train.yaml"), Train, 0o644); err != nil {
		return "", err
	}
	return pipeline, nil
}
