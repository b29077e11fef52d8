package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/curatehq/curate/pipelines/storage"
)

// llm.c's data file: a header of 256 little-endian int32 (magic, version,
// token count, zeros) followed by the tokens. GPT-2 files hold uint16
// tokens; llm.c's Llama-3 files hold uint32 tokens (the bytes of a
// non-negative int32 shard).
const (
	llmcHeaderInts   = 256
	llmcHeaderBytes  = 4 * llmcHeaderInts
	llmcMagicGPT2    = 20240520
	llmcVersionGPT2  = 1
	llmcMagicLlama3  = 20240801
	llmcVersionLlama = 7
)

// LLMCHeader returns the llm.c header for a file of n tokens of type dt.
func LLMCHeader(dt DType, n int64) ([]byte, error) {
	if n > math.MaxInt32 {
		return nil, fmt.Errorf("store: llm.c files hold at most %d tokens, not %d", math.MaxInt32, n)
	}
	h := make([]byte, llmcHeaderBytes)
	magic, version := int32(llmcMagicGPT2), int32(llmcVersionGPT2)
	if dt == Int32 {
		magic, version = llmcMagicLlama3, llmcVersionLlama
	}
	binary.LittleEndian.PutUint32(h[0:], uint32(magic))
	binary.LittleEndian.PutUint32(h[4:], uint32(version))
	binary.LittleEndian.PutUint32(h[8:], uint32(n))
	return h, nil
}

// ParseLLMCHeader reads an llm.c header and returns the token type and count.
func ParseLLMCHeader(h []byte) (DType, int64, error) {
	if len(h) < llmcHeaderBytes {
		return "", 0, fmt.Errorf("llm.c header is %d bytes, want %d", len(h), llmcHeaderBytes)
	}
	magic := int32(binary.LittleEndian.Uint32(h[0:]))
	version := int32(binary.LittleEndian.Uint32(h[4:]))
	n := int64(int32(binary.LittleEndian.Uint32(h[8:])))
	switch {
	case magic == llmcMagicGPT2 && version == llmcVersionGPT2:
		return Uint16, n, nil
	case magic == llmcMagicLlama3 && version == llmcVersionLlama:
		return Int32, n, nil
	}
	return "", 0, fmt.Errorf("llm.c header: magic %d version %d, want %d/%d (GPT-2) or %d/%d (Llama-3)",
		magic, version, llmcMagicGPT2, llmcVersionGPT2, llmcMagicLlama3, llmcVersionLlama)
}

// exportShard writes the llm.c copy of one .bin: the header, then its bytes.
func exportShard(ctx context.Context, bin, out string, dt DType, tokens int64) error {
	h, err := LLMCHeader(dt, tokens)
	if err != nil {
		return err
	}
	in, err := storage.Open(ctx, bin)
	if err != nil {
		return fmt.Errorf("store: llm.c export: %w", err)
	}
	defer in.Close()
	if want := tokens * int64(dt.Size()); in.Size() != want {
		return fmt.Errorf("store: llm.c export: %s is %d bytes, want %d", bin, in.Size(), want)
	}
	w, err := storage.Create(ctx, out)
	if err != nil {
		return fmt.Errorf("store: llm.c export: %w", err)
	}
	defer w.Abort()
	if _, err := w.Write(h); err != nil {
		return fmt.Errorf("store: llm.c export %s: %w", out, err)
	}
	if _, err := io.CopyBuffer(w, io.NewSectionReader(in, 0, in.Size()), make([]byte, BlockSize)); err != nil {
		return fmt.Errorf("store: llm.c export %s: %w", out, err)
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("store: llm.c export %s: %w", out, err)
	}
	return nil
}

// ExportLLMC writes every shard of the store in dir to out as an llm.c data
// file and returns their paths. Files are named out/NAME.bin, or with a
// prefix such as "train" out/train_00000.bin (the shard's number), which is
// what llm.c's -i/-j patterns expect. A uint16 store gives GPT-2 files
// (magic 20240520, version 1), an int32 store Llama-3 files (magic 20240801,
// version 7, uint32 tokens).
func ExportLLMC(ctx context.Context, dir, out, prefix string) ([]string, error) {
	dir, out = strings.TrimRight(dir, "/"), strings.TrimRight(out, "/")
	m, err := ReadManifest(ctx, dir)
	if err != nil {
		return nil, err
	}
	if out == dir {
		return nil, errors.New("store: llm.c export: the output folder must differ from the store (the file names would clash)")
	}
	var paths []string
	for _, s := range m.Shards {
		name := s.Bin()
		if prefix != "" {
			name = prefix + strings.TrimPrefix(name, "shard")
		}
		p := storage.Join(out, name)
		if err := exportShard(ctx, storage.Join(dir, s.Bin()), p, m.DType, s.Tokens); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// ReadManifest reads and checks dir/manifest.json.
func ReadManifest(ctx context.Context, dir string) (Manifest, error) {
	p := storage.Join(dir, ManifestFile)
	b, err := storage.ReadFile(ctx, p)
	if err != nil {
		if storage.IsNotExist(err) {
			return Manifest{}, fmt.Errorf("store: %s: no manifest.json: not a token store, or its writer did not finish", dir)
		}
		return Manifest{}, fmt.Errorf("store: %w", err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		return m, fmt.Errorf("store: %s: %w", p, err)
	}
	return m, nil
}
