package trainer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/curatehq/curate/tokenize/store"
)

// OpenData opens cfg's training store and its validation tokens: val_data
// when set, else the store's val/ folder when it holds a store, else the
// last 10% of the training tokens (which training then never sees). Remote
// (s3://) stores are copied to a local cache first (CURATE_CACHE, else the
// user cache folder). The returned func closes the stores.
func OpenData(cfg *Config) (Data, func(), error) {
	dataDir, valDir, err := localStores(context.Background(), cfg)
	if err != nil {
		return Data{}, nil, err
	}
	tr, err := store.Open(dataDir)
	if err != nil {
		return Data{}, nil, fmt.Errorf("data: %w", err)
	}
	m := tr.Manifest()
	d := Data{Train: tr, Val: nil, Vocab: m.VocabSize, Tokenizer: m.Tokenizer, TokenizerJSON: tr.Tokenizer()}
	closers := []func() error{tr.Close}
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	if valDir == "" && !isRemote(cfg.Data) {
		def := filepath.Join(dataDir, "val")
		if _, err := os.Stat(filepath.Join(def, "manifest.json")); err == nil {
			valDir = def
		} else if !errors.Is(err, os.ErrNotExist) {
			closeAll()
			return Data{}, nil, fmt.Errorf("val_data: %w", err)
		}
	}
	if valDir != "" {
		va, err := store.Open(valDir)
		if err != nil {
			closeAll()
			return Data{}, nil, fmt.Errorf("val_data: %w", err)
		}
		closers = append(closers, va.Close)
		if vm := va.Manifest(); vm.VocabSize != m.VocabSize {
			closeAll()
			return Data{}, nil, fmt.Errorf("val_data: %s has vocabulary %d, the training store %d", valDir, vm.VocabSize, m.VocabSize)
		}
		d.Val = va
	} else {
		d.Train, d.Val = holdOut(tr)
	}
	if d.Vocab <= 0 {
		closeAll()
		return Data{}, nil, fmt.Errorf("data: %s: manifest has no vocab_size", cfg.Data)
	}
	return d, closeAll, nil
}

// holdOut splits src into its first 90% for training and the rest for
// validation.
func holdOut(src Tokens) (train, val Tokens) {
	n := src.NumTokens()
	cut := n * 9 / 10
	return span{src: src, off: 0, n: cut}, span{src: src, off: cut, n: n - cut}
}
