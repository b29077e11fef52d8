package trainer

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/curatehq/curate/pipelines/storage"
)

// remoteDir is a storage backend for "fakes3://" paths that serves the
// folder remoteRoot, standing for an object store.
type remoteDir struct{}

const fakeScheme = "fakes3://"

var remoteRoot string // set by the test using the backend

func (r remoteDir) local(p string) string {
	return filepath.Join(remoteRoot, strings.TrimPrefix(p, fakeScheme))
}
func (r remoteDir) Open(ctx context.Context, p string) (storage.File, error) {
	return storage.Local{}.Open(ctx, r.local(p))
}
func (r remoteDir) List(ctx context.Context, pattern string) ([]storage.Info, error) {
	return storage.Local{}.List(ctx, r.local(pattern))
}
func (r remoteDir) Create(ctx context.Context, p string) (storage.Writer, error) {
	return storage.Local{}.Create(ctx, r.local(p))
}
func (r remoteDir) Remove(ctx context.Context, p string) error {
	return storage.Local{}.Remove(ctx, r.local(p))
}
func (r remoteDir) Stat(ctx context.Context, p string) (storage.Info, error) {
	return storage.Local{}.Stat(ctx, r.local(p))
}

func init() { storage.Register("fakes3", remoteDir{}) }

func TestRemoteStoreIsCached(t *testing.T) {
	text := shakespeare(t)[:30000]
	remoteRoot = t.TempDir()
	name := "bucket"
	writeByteStore(t, filepath.Join(remoteRoot, name, "tokens"), text[:27000])
	writeByteStore(t, filepath.Join(remoteRoot, name, "tokens", "val"), text[27000:])
	cache := t.TempDir()
	t.Setenv("CURATE_CACHE", cache)

	cfg := testConfig(t, "")
	cfg.Data = fakeScheme + name + "/tokens"
	d, closeData, err := OpenData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.Train.NumTokens() != 27000 || d.Val.NumTokens() != 3000 {
		t.Fatalf("cached stores hold %d and %d tokens", d.Train.NumTokens(), d.Val.NumTokens())
	}
	got := make([]int32, 100)
	d.Train.Window(got, 500)
	if !slices.Equal(got, text[500:600]) {
		t.Fatal("cached tokens differ")
	}
	closeData()

	// A second open copies nothing: the shard files keep their times.
	shard := filepath.Join(cache, "stores")
	var before []string
	filepath.Walk(shard, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".bin") {
			before = append(before, p+info.ModTime().String())
		}
		return nil
	})
	if len(before) != 2 {
		t.Fatalf("cache holds %d shards, want 2", len(before))
	}
	_, closeData, err = OpenData(cfg)
	if err != nil {
		t.Fatal(err)
	}
	closeData()
	var after []string
	filepath.Walk(shard, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".bin") {
			after = append(after, p+info.ModTime().String())
		}
		return nil
	})
	if !slices.Equal(before, after) {
		t.Fatalf("second open copied again:\n%v\n%v", before, after)
	}

	cfg.Data = fakeScheme + name + "/missing"
	if _, _, err := OpenData(cfg); err == nil || !strings.Contains(err.Error(), "manifest") {
		t.Fatalf("missing remote store: %v", err)
	}
}
