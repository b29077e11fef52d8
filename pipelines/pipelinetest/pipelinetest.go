// Package pipelinetest holds what the tests of every component package share:
// where the public test data lives and how to build a batch of documents.
package pipelinetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
)

var (
	rootOnce sync.Once
	root     string
)

// ModuleRoot returns the folder holding the main module's go.mod.
func ModuleRoot(t testing.TB) string {
	rootOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err == nil {
			if p := strings.TrimSpace(string(out)); p != "" && p != os.DevNull {
				root = filepath.Dir(p)
			}
		}
	})
	if root == "" {
		t.Fatal("pipelinetest: cannot find the module root (go env GOMOD)")
	}
	return root
}

// SharedData returns the shared public data folder (../shared/data beside
// the repository, or $CURATE_SHARED_DATA), skipping the test when it is
// absent. Tests never copy it into the project.
func SharedData(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("CURATE_SHARED_DATA")
	if dir == "" {
		dir = filepath.Join(ModuleRoot(t), "..", "shared", "data")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Skipf("shared data not found at %s (set CURATE_SHARED_DATA)", dir)
	}
	return dir
}

// Doc is one document for Batch.
type Doc struct {
	ID, Text, Domain string
	Extra            map[string]any // string, float64, bool or nil
}

// Batch builds one record of documents (owned by the caller).
func Batch(alloc memory.Allocator, docs ...Doc) arrow.Record {
	env := pipelines.TestEnv(alloc, "")
	env.BatchRows = len(docs) + 1
	env.BatchBytes = 1 << 62
	b := pipelines.NewDocBuilder(env)
	for i, d := range docs {
		id := d.ID
		if id == "" {
			id = fmt.Sprintf("doc:%d", i)
		}
		dom := d.Domain
		if dom == "" {
			dom = "default"
		}
		row := b.Add(id, d.Text, "test", dom)
		for k, v := range d.Extra {
			b.SetExtra(row, k, v)
		}
	}
	return b.Build()
}

// Texts builds one record from texts alone.
func Texts(alloc memory.Allocator, texts ...string) arrow.Record {
	ds := make([]Doc, len(texts))
	for i, t := range texts {
		ds[i].Text = t
	}
	return Batch(alloc, ds...)
}
