package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/tools/txtar"

	"github.com/curatehq/curate/pipelines"
	_ "github.com/curatehq/curate/pipelines/all"
)

var update = flag.Bool("update", false, "rewrite the want/ files of the txtar cases")

// TestTxtar runs every testdata/*.txtar case. A case holds pipeline.yaml,
// input files, want/PATH files (the outputs, byte for byte) and an optional
// "report" file of "key value" lines checked against the run report's
// top-level numbers. Each case runs with 1 and 4 workers.
func TestTxtar(t *testing.T) {
	cases, _ := filepath.Glob("testdata/*.txtar")
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(c), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(c)
			if err != nil {
				t.Fatal(err)
			}
			for _, workers := range []int{1, 4} {
				dir := t.TempDir()
				var wants []txtar.File
				var reportWant string
				for _, f := range ar.Files {
					switch {
					case strings.HasPrefix(f.Name, "want/"):
						wants = append(wants, f)
					case f.Name == "report":
						reportWant = string(f.Data)
					default:
						p := filepath.Join(dir, f.Name)
						os.MkdirAll(filepath.Dir(p), 0o755)
						data := f.Data
						if strings.HasSuffix(f.Name, ".hex") { // binary input written as hex
							p = strings.TrimSuffix(p, ".hex")
							data = unhex(t, data)
						}
						if err := os.WriteFile(p, data, 0o644); err != nil {
							t.Fatal(err)
						}
					}
				}
				p, err := pipelines.LoadFile(filepath.Join(dir, "pipeline.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
				rep, err := pipelines.Run(context.Background(), p, pipelines.Options{Workers: workers, Alloc: mem, TempDir: t.TempDir(), BatchRows: 3})
				if err != nil {
					t.Fatalf("workers=%d: %v", workers, err)
				}
				mem.AssertSize(t, 0)
				checkReport(t, rep, reportWant)
				if *update && workers == 1 {
					rewrite(t, c, ar, dir)
					continue
				}
				for _, w := range wants {
					got, err := readOutput(dir, w.Name)
					if err != nil {
						t.Errorf("workers=%d: %v", workers, err)
						continue
					}
					if !bytes.Equal(got, w.Data) {
						t.Errorf("workers=%d: %s differs\n got: %s\nwant: %s", workers, w.Name, got, w.Data)
					}
				}
			}
		})
	}
}

// readOutput reads an output file with the run folder written as $WORK, so
// paths in rejects files compare equal across runs.
func readOutput(dir, want string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(want, "want/")))
	return bytes.ReplaceAll(b, []byte(dir), []byte("$WORK")), err
}

func unhex(t *testing.T, data []byte) []byte {
	var out []byte
	for _, f := range strings.Fields(string(data)) {
		var b byte
		if _, err := fmt.Sscanf(f, "%02x", &b); err != nil {
			t.Fatalf("bad hex %q", f)
		}
		out = append(out, b)
	}
	return out
}

func checkReport(t *testing.T, rep *pipelines.Report, want string) {
	t.Helper()
	var m map[string]any
	json.Unmarshal(rep.JSON(), &m)
	for _, line := range strings.Split(strings.TrimSpace(want), "\n") {
		if line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		got := lookup(m, k)
		if fmt.Sprint(got) != strings.TrimSpace(v) {
			t.Errorf("report %s = %v, want %s", k, got, v)
		}
	}
}

// lookup finds a dotted key: "stages.0.dropped.duplicate".
func lookup(m any, key string) any {
	for _, part := range strings.Split(key, ".") {
		switch x := m.(type) {
		case map[string]any:
			m = x[part]
		case []any:
			var i int
			fmt.Sscanf(part, "%d", &i)
			if i >= len(x) {
				return nil
			}
			m = x[i]
		default:
			return nil
		}
	}
	return m
}

// rewrite replaces a case's want/ files with what the run produced.
func rewrite(t *testing.T, path string, ar *txtar.Archive, dir string) {
	var keep []txtar.File
	for _, f := range ar.Files {
		if !strings.HasPrefix(f.Name, "want/") {
			keep = append(keep, f)
		}
	}
	var wants []txtar.File
	for _, f := range ar.Files {
		if strings.HasPrefix(f.Name, "want/") {
			data, err := readOutput(dir, f.Name)
			if err != nil {
				t.Fatal(err)
			}
			wants = append(wants, txtar.File{Name: f.Name, Data: data})
		}
	}
	sort.Slice(wants, func(i, j int) bool { return wants[i].Name < wants[j].Name })
	ar.Files = append(keep, wants...)
	os.WriteFile(path, txtar.Format(ar), 0o644)
}
