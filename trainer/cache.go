package trainer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/curatehq/curate/pipelines/storage"
	"github.com/curatehq/curate/tokenize/store"
)

// isRemote reports whether path names a non-local store (s3://...).
func isRemote(path string) bool { return strings.Contains(path, "://") }

// cacheRoot is where remote stores are copied: CURATE_CACHE, else the
// user's cache folder.
func cacheRoot() (string, error) {
	if d := os.Getenv("CURATE_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder for remote data (set CURATE_CACHE): %w", err)
	}
	return filepath.Join(d, "curate"), nil
}

// cacheStore copies the token store at src (any storage path) into a local
// folder under root named by src, and returns that folder. Files already
// there with the manifest's size are kept, so a second run copies nothing;
// the manifest is written last, as the store writer does, so an interrupted
// copy is never taken for a complete store.
func cacheStore(ctx context.Context, src, root string) (string, error) {
	sum := sha256.Sum256([]byte(src))
	dst := filepath.Join(root, "stores", hex.EncodeToString(sum[:8]))
	m, err := store.ReadManifest(ctx, src)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", fmt.Errorf("cache: %w", err)
	}
	type want struct {
		name string
		size int64 // -1: unknown
	}
	files := []want{}
	for _, sh := range m.Shards {
		files = append(files, want{sh.Bin(), sh.Bytes}, want{sh.Idx(), sh.IdxBytes})
	}
	if m.TokenizerFile != "" {
		files = append(files, want{m.TokenizerFile, -1})
	}
	for _, f := range files {
		local := filepath.Join(dst, filepath.FromSlash(f.name))
		if st, err := os.Stat(local); err == nil && f.size >= 0 && st.Size() == f.size {
			continue
		}
		if err := copyFile(ctx, storage.Join(src, f.name), local); err != nil {
			return "", err
		}
	}
	if err := copyFile(ctx, storage.Join(src, store.ManifestFile), filepath.Join(dst, store.ManifestFile)); err != nil {
		return "", err
	}
	return dst, nil
}

// copyFile copies one storage file to a local path atomically.
func copyFile(ctx context.Context, src, dst string) (err error) {
	in, err := storage.Open(ctx, src)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".copy-*")
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, in); err != nil {
		return fmt.Errorf("cache: copying %s: %w", src, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// localStores resolves cfg's data and val_data to local folders, copying
// remote stores into the cache. A remote data's val/ store is used (and
// copied) when it exists, as for local data.
func localStores(ctx context.Context, cfg *Config) (data, val string, err error) {
	data, val = cfg.Data, cfg.ValData
	if !isRemote(data) && !isRemote(val) {
		return data, val, nil
	}
	root, err := cacheRoot()
	if err != nil {
		return "", "", err
	}
	if isRemote(data) {
		if val == "" {
			def := storage.Join(data, "val")
			if _, err := storage.Stat(ctx, storage.Join(def, store.ManifestFile)); err == nil {
				val = def
			} else if !errors.Is(err, storage.ErrNotExist) {
				return "", "", fmt.Errorf("val_data: %w", err)
			}
		}
		if data, err = cacheStore(ctx, data, root); err != nil {
			return "", "", fmt.Errorf("data: %w", err)
		}
	}
	if isRemote(val) {
		if val, err = cacheStore(ctx, val, root); err != nil {
			return "", "", fmt.Errorf("val_data: %w", err)
		}
	}
	return data, val, nil
}
