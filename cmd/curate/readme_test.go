package main

import (
	"os"
	"strings"
	"testing"

	"github.com/curatehq/curate/pipelines"
)

// TestREADMEReference keeps the README's YAML reference equal to the specs.
// Run `UPDATE_README=1 go test ./cmd/curate -run README` after changing a spec.
func TestREADMEReference(t *testing.T) {
	const start, end = "<!-- reference:start -->\n", "<!-- reference:end -->"
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatal("README has no reference markers")
	}
	want := pipelines.MarkdownReference()
	if got := s[i+len(start) : j]; got != want {
		if os.Getenv("UPDATE_README") == "1" {
			os.WriteFile("../../README.md", []byte(s[:i+len(start)]+want+s[j:]), 0o644)
			return
		}
		t.Error("README reference is stale: run UPDATE_README=1 go test ./cmd/curate -run README")
	}
}
