package ingest_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "github.com/curatehq/curate/ingest" // the jsonl, parquet and text sources and sinks
	"github.com/curatehq/curate/pipelines"
)

// A pure format conversion: JSON lines in, JSON lines out, with a
// generated id for the document that has none and the url field carried
// through. The malformed line goes to the rejects file.
func Example() {
	dir, err := os.MkdirTemp("", "ingest-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.MkdirAll(filepath.Join(dir, "in"), 0o755)
	os.WriteFile(filepath.Join(dir, "in", "a.jsonl"), []byte(
		`{"id":"a1","text":"Hello, world.","url":"https://example.com/"}`+"\n"+
			`{"text": not json}`+"\n"+
			`{"text":"Second document."}`+"\n"), 0o644)
	yaml := []byte(`
sources:
  - jsonl: {path: "in/*.jsonl", domain: web}
sinks:
  - jsonl: {path: out}
`)
	p, err := pipelines.Load(filepath.Join(dir, "pipeline.yaml"), yaml)
	if err != nil {
		log.Fatal(err)
	}
	rep, err := pipelines.Run(context.Background(), p, pipelines.Options{Workers: 1, TempDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	out, _ := os.ReadFile(filepath.Join(dir, "out", "part-00000.jsonl"))
	fmt.Printf("%s", out)
	fmt.Println("rejected:", rep.Rejected)
	// Output:
	// {"id":"a1","text":"Hello, world.","source":"a.jsonl","domain":"web","url":"https://example.com/"}
	// {"id":"a.jsonl:2","text":"Second document.","source":"a.jsonl","domain":"web"}
	// rejected: 1
}
