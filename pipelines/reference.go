package pipelines

import (
	"fmt"
	"strings"
	"time"
)

// MemoryEstimate is a stateful component's memory per document.
type MemoryEstimate struct {
	Component Component
	PerDoc    int64
}

// MemoryEstimates returns the estimates of a pipeline's stateful stages.
func MemoryEstimates(p *Pipeline) []MemoryEstimate {
	var out []MemoryEstimate
	for _, c := range append(append(append([]Component(nil), p.Sources...), p.Stages...), p.Sinks...) {
		if s := c.Spec(); s != nil && s.MemoryPerDoc != nil {
			out = append(out, MemoryEstimate{Component: c, PerDoc: s.MemoryPerDoc(c.Params)})
		}
	}
	return out
}

func formatDefault(f Field) string {
	switch v := f.Default.(type) {
	case nil:
		if f.Required {
			return "required"
		}
		return ""
	case string:
		if v == "" {
			return `""`
		}
		return v
	case []string:
		return "[" + strings.Join(v, ", ") + "]"
	case time.Duration:
		return v.String()
	case int64:
		if f.Type == Size {
			return formatSize(v)
		}
	case map[string]float64:
		if len(v) == 0 {
			return "{}"
		}
	}
	return fmt.Sprint(f.Default)
}

func formatSize(n int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.m && n%u.m == 0 {
			return fmt.Sprintf("%d%s", n/u.m, u.s)
		}
	}
	return fmt.Sprint(n)
}

func fieldNote(f Field) string {
	var notes []string
	if len(f.Enum) > 0 {
		notes = append(notes, "one of "+strings.Join(f.Enum, " | "))
	}
	if f.Min != nil && f.Max != nil {
		notes = append(notes, fmt.Sprintf("%v..%v", *f.Min, *f.Max))
	} else if f.Min != nil {
		notes = append(notes, fmt.Sprintf(">= %v", *f.Min))
	} else if f.Max != nil {
		notes = append(notes, fmt.Sprintf("<= %v", *f.Max))
	}
	return strings.Join(notes, "; ")
}

var kindTitles = []struct {
	kind  Kind
	title string
}{{KindSource, "Sources"}, {KindStage, "Stages"}, {KindSink, "Sinks"}}

// TextReference is what `curate stages` prints.
func TextReference() string {
	var b strings.Builder
	for _, k := range kindTitles {
		fmt.Fprintf(&b, "\n%s\n", strings.ToUpper(k.title))
		for _, s := range Specs(k.kind) {
			kind := ""
			if k.kind == KindStage && IsBarrier(s.Name) {
				kind = " [barrier]"
			}
			fmt.Fprintf(&b, "\n  %s%s\n      %s\n", s.Name, kind, s.Doc)
			for _, f := range s.allFields() {
				def := formatDefault(f)
				if def != "" {
					def = " = " + def
				}
				note := fieldNote(f)
				if note != "" {
					note = " (" + note + ")"
				}
				fmt.Fprintf(&b, "      %-18s %s%s: %s%s\n", f.Name, f.Type, def, f.Doc, note)
			}
		}
	}
	return b.String()
}

// MarkdownReference is the README's YAML reference, generated from specs.
func MarkdownReference() string {
	var b strings.Builder
	for _, k := range kindTitles {
		fmt.Fprintf(&b, "### %s\n\n", k.title)
		for _, s := range Specs(k.kind) {
			kind := ""
			if k.kind == KindStage && IsBarrier(s.Name) {
				kind = " (barrier: sees all input before emitting)"
			}
			fmt.Fprintf(&b, "#### `%s`%s\n\n%s\n\n", s.Name, kind, s.Doc)
			if len(s.allFields()) == 0 {
				b.WriteString("No parameters.\n\n")
				continue
			}
			b.WriteString("| field | type | default | description |\n|---|---|---|---|\n")
			for _, f := range s.allFields() {
				doc := f.Doc
				if n := fieldNote(f); n != "" {
					doc += " (" + n + ")"
				}
				fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.Name, f.Type, strings.ReplaceAll(formatDefault(f), "|", "\\|"), strings.ReplaceAll(doc, "|", "\\|"))
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}
