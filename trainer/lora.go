package trainer

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/curatehq/curate/trainer/blas"
	"github.com/curatehq/curate/trainer/llama"
)

// AdapterFile is a LoRA run's adapter inside its out folder.
const AdapterFile = "adapter.bin"

// TokenizerFile is the copy of the store's tokenizer a run keeps beside its
// checkpoint, so generation needs only the run folder.
const TokenizerFile = "tokenizer.json"

const adapterMagic = "CURATELA"

// AdapterState is a LoRA run's state: the adapter parameters and their
// AdamW moments, and what a resume needs. The base's weights are not in
// it: Base names them and pins their hash.
//
// On disk: the checkpoint layout (see Checkpoint) with magic CURATELA and
// Params, M, V of the adapter.
type AdapterState struct {
	Header AdapterHeader
	Params []float32
	M, V   []float32
}

// AdapterHeader is the JSON part of an adapter file.
type AdapterHeader struct {
	Base BaseIdentity     `json:"base"`
	LoRA llama.LoRAConfig `json:"lora"`
	// Model is the base's architecture with the context and rope_scale the
	// adapter was trained at.
	Model     llama.Config `json:"model"`
	Seed      uint64       `json:"seed"`
	Step      int          `json:"step"`
	Tokens    int64        `json:"tokens"`
	Loader    LoaderState  `json:"loader"`
	Run       RunIdentity  `json:"run"`
	Tokenizer string       `json:"tokenizer,omitempty"`
	ValLoss   *float64     `json:"val_loss,omitempty"`
}

// BaseIdentity is the frozen checkpoint an adapter belongs to.
type BaseIdentity struct {
	Path   string `json:"path"`   // the checkpoint file, as found at training time
	SHA256 string `json:"sha256"` // of the parameters, little-endian float32
	Params int    `json:"params"`
}

// paramsHash is the sha256 of params as little-endian float32, hex.
func paramsHash(params []float32) string {
	h := sha256.New()
	buf := make([]byte, 0, 1<<16)
	for i := 0; i < len(params); {
		buf = buf[:0]
		for ; i < len(params) && len(buf) < cap(buf); i++ {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(params[i]))
		}
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SaveAdapter writes a atomically.
func SaveAdapter(path string, a *AdapterState) error {
	if err := saveState(path, adapterMagic, a.Header, a.Params, a.M, a.V); err != nil {
		return fmt.Errorf("adapter: %w", err)
	}
	return nil
}

// LoadAdapter reads and verifies an adapter file, or the adapter.bin of a
// run folder.
func LoadAdapter(path string) (*AdapterState, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, AdapterFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	a, err := parseAdapter(b)
	if err != nil {
		return nil, fmt.Errorf("adapter %s: %w", path, err)
	}
	return a, nil
}

func parseAdapter(b []byte) (*AdapterState, error) {
	hdr, floats, err := parseState(b, adapterMagic, "LoRA adapter")
	if err != nil {
		return nil, err
	}
	a := &AdapterState{}
	if err := json.Unmarshal(hdr, &a.Header); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	n := a.Header.LoRA.NumParams(a.Header.Model)
	if n < 0 {
		if err := a.Header.Model.Normalized().Validate(); err != nil {
			return nil, fmt.Errorf("header: %w", err)
		}
		if err := a.Header.LoRA.Validate(); err != nil {
			return nil, fmt.Errorf("header: %w", err)
		}
		return nil, errors.New("header: the adapter is impossibly large")
	}
	parts, err := decodeFloats(floats, n, 3)
	if err != nil {
		return nil, err
	}
	a.Params, a.M, a.V = parts[0], parts[1], parts[2]
	return a, nil
}

// ResolveCheckpoint turns a run folder into its checkpoint file; a file
// path is returned as is.
func ResolveCheckpoint(path string) string {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return filepath.Join(path, CheckpointFile)
	}
	return path
}

// Weights are a model ready to run: a checkpoint, or a base with an
// adapter merged in.
type Weights struct {
	Model     llama.Config
	Params    []float32
	Tokenizer string // the store's tokenizer name
	// Dirs are the folders to look for tokenizer.json in, nearest first.
	Dirs []string
	Step int
}

// LoadWeights loads a run folder or file: a checkpoint, or a LoRA run
// (adapter.bin, with no checkpoint.bin) merged onto the base it names.
func LoadWeights(path string) (*Weights, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	dir := filepath.Dir(path)
	if st.IsDir() {
		dir = path
		if _, err := os.Stat(filepath.Join(path, CheckpointFile)); errors.Is(err, os.ErrNotExist) {
			if _, aerr := os.Stat(filepath.Join(path, AdapterFile)); aerr == nil {
				return loadAdapted(path)
			}
		}
		path = filepath.Join(path, CheckpointFile)
	} else if b, err := os.ReadFile(path); err == nil && len(b) >= len(adapterMagic) && string(b[:len(adapterMagic)]) == adapterMagic {
		return loadAdapted(path)
	}
	ck, err := LoadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	return &Weights{Model: ck.Header.Model.Normalized(), Params: ck.Params, Tokenizer: ck.Header.Tokenizer, Dirs: []string{dir}, Step: ck.Header.Step}, nil
}

// loadAdapted merges an adapter onto its base.
func loadAdapted(adapterPath string) (*Weights, error) {
	a, err := LoadAdapter(adapterPath)
	if err != nil {
		return nil, err
	}
	base, err := LoadCheckpoint(a.Header.Base.Path)
	if err != nil {
		return nil, fmt.Errorf("the adapter's base: %w", err)
	}
	return mergeOnto(a, base, adapterPath)
}

// MergeAdapter loads an adapter and a base checkpoint (files or run
// folders) and returns the merged weights, checking that the base is the
// one the adapter was trained on.
func MergeAdapter(basePath, adapterPath string) (*Weights, error) {
	a, err := LoadAdapter(adapterPath)
	if err != nil {
		return nil, err
	}
	base, err := LoadCheckpoint(ResolveCheckpoint(basePath))
	if err != nil {
		return nil, err
	}
	return mergeOnto(a, base, adapterPath)
}

func mergeOnto(a *AdapterState, base *Checkpoint, adapterPath string) (*Weights, error) {
	if h := paramsHash(base.Params); h != a.Header.Base.SHA256 {
		return nil, fmt.Errorf("adapter %s was trained on a base with parameter hash %.12s…, this base has %.12s… (%s)", adapterPath, a.Header.Base.SHA256, h, a.Header.Base.Path)
	}
	mc := a.Header.Model.Normalized()
	k, err := blas.New(blas.Auto, 0)
	if err != nil {
		return nil, err
	}
	ad, err := llama.NewAdapter(mc, a.Header.LoRA, k, 0)
	if err != nil {
		return nil, err
	}
	copy(ad.Params, a.Params)
	merged := make([]float32, len(base.Params))
	if err := ad.Merge(merged, base.Params); err != nil {
		return nil, err
	}
	adir := adapterPath
	if st, err := os.Stat(adapterPath); err != nil || !st.IsDir() {
		adir = filepath.Dir(adapterPath)
	}
	return &Weights{Model: mc, Params: merged, Tokenizer: a.Header.Tokenizer,
		Dirs: []string{adir, filepath.Dir(a.Header.Base.Path)}, Step: a.Header.Step}, nil
}

// SaveMerged writes w as a normal checkpoint (fresh optimizer moments, no
// run to resume) in outDir, with the tokenizer beside it.
func SaveMerged(w *Weights, outDir string) (string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("merge: %w", err)
	}
	n := len(w.Params)
	ck := &Checkpoint{Header: CheckpointHeader{Model: w.Model, Step: w.Step, Tokenizer: w.Tokenizer},
		Params: w.Params, M: make([]float32, n), V: make([]float32, n)}
	path := filepath.Join(outDir, CheckpointFile)
	if err := SaveCheckpoint(path, ck); err != nil {
		return "", err
	}
	if tok := w.TokenizerJSON(); tok != nil {
		if err := os.WriteFile(filepath.Join(outDir, TokenizerFile), tok, 0o644); err != nil {
			return "", fmt.Errorf("merge: %w", err)
		}
	}
	return path, nil
}

// TokenizerJSON is the first tokenizer.json found in w.Dirs, or nil.
func (w *Weights) TokenizerJSON() []byte {
	for _, d := range w.Dirs {
		if b, err := os.ReadFile(filepath.Join(d, TokenizerFile)); err == nil {
			return b
		}
	}
	return nil
}
