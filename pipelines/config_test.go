package pipelines_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/curatehq/curate/pipelines"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestBadConfigs checks every testdata/bad/*.yaml against its .want file:
// every problem at once, as FILE:LINE:COL: message.
func TestBadConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) == 0 {
		t.Fatal("no bad configs")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := pipelines.LoadFile(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !pipelines.IsConfigError(err) {
				t.Fatalf("not a config error: %v", err)
			}
			got := err.Error() + "\n"
			want := strings.TrimSuffix(f, ".yaml") + ".want"
			if *update {
				os.WriteFile(want, []byte(got), 0o644)
			}
			w, rerr := os.ReadFile(want)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if got != string(w) {
				t.Errorf("got:\n%s\nwant:\n%s", got, w)
			}
			for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
				if !strings.HasPrefix(line, f+":") {
					t.Errorf("line without FILE:LINE:COL: %q", line)
				}
			}
		})
	}
}

func TestLoadDefaultsAndTypes(t *testing.T) {
	p, err := pipelines.Load("p.yaml", []byte(`
sources:
  - testgen: {n: 7}
stages:
  - test.dropmod: {}
sinks:
  - testsink: {name: a}
train: {config: train.yaml}
`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Sources[0].Params.Int("n") != 7 || p.Sources[0].Params.String("prefix") != "doc" {
		t.Errorf("params: n=%d prefix=%q", p.Sources[0].Params.Int("n"), p.Sources[0].Params.String("prefix"))
	}
	if p.Stages[0].Params.Int("mod") != 2 || p.Stages[0].Params.IsSet("mod") {
		t.Error("default mod not applied")
	}
	if p.Stages[0].Params.Bool("annotate_only") {
		t.Error("annotate_only defaults to false")
	}
	if p.Train != "train.yaml" || p.Sources[0].Line != 3 {
		t.Errorf("train=%q line=%d", p.Train, p.Sources[0].Line)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "64KiB": 64 << 10, "2GiB": 2 << 30, "1.5GB": 1500000000, "10MB": 10e6, "3M": 3 << 20, "7B": 7} {
		got, err := pipelines.ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1", "12 parsecs"} {
		if _, err := pipelines.ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Add([]byte("sources: [{testgen: {n: 3}}]\nsinks: [{testsink: {name: f}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := pipelines.Load("f.yaml", data)
		if err == nil {
			if len(p.Sources) == 0 || len(p.Sinks) == 0 {
				t.Fatal("valid pipeline without sources or sinks")
			}
			return
		}
		if !pipelines.IsConfigError(err) {
			t.Fatalf("not a config error: %v", err)
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "f.yaml:") {
				t.Fatalf("line without position: %q", line)
			}
		}
	})
}
