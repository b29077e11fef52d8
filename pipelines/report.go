package pipelines

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Report is a run's summary; --report writes it as JSON.
type Report struct {
	Pipeline     string        `json:"pipeline"`
	DocumentsIn  int64         `json:"documents_in"`
	DocumentsOut int64         `json:"documents_out"`
	Rejected     int64         `json:"rejected"`
	RejectsFile  string        `json:"rejects_file,omitempty"`
	InvalidUTF8  int64         `json:"invalid_utf8_replaced"`
	BytesIn      int64         `json:"bytes_in"`
	Seconds      float64       `json:"seconds"`
	Workers      int           `json:"workers"`
	MemoryLimit  int64         `json:"memory_limit,omitempty"`
	MemoryPeak   int64         `json:"memory_reserved_peak"`
	Sources      []string      `json:"sources"`
	Stages       []StageReport `json:"stages"`
	Sinks        []SinkReport  `json:"sinks"`
	Error        string        `json:"error,omitempty"`
}

// StageReport is one stage's line of the report.
type StageReport struct {
	Name         string           `json:"name"`
	DocumentsIn  int64            `json:"documents_in"`
	DocumentsOut int64            `json:"documents_out"`
	Dropped      map[string]int64 `json:"dropped"`
	Seconds      float64          `json:"seconds"`
	AnnotateOnly bool             `json:"annotate_only,omitempty"`
	Stats        map[string]int64 `json:"stats,omitempty"`
	Details      map[string]any   `json:"details,omitempty"`
}

// SinkReport is one sink's line of the report.
type SinkReport struct {
	Name      string         `json:"name"`
	Path      string         `json:"path,omitempty"`
	Documents int64          `json:"documents"`
	Seconds   float64        `json:"seconds"`
	Details   map[string]any `json:"details,omitempty"`
}

// JSON returns the report as indented JSON.
func (r *Report) JSON() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}

// WriteTable prints the per-stage summary table.
func (r *Report) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "stage\tin\tout\tdropped\tseconds\t  top reasons\n")
	for _, s := range r.Stages {
		var dropped int64
		var reasons []string
		for k, v := range s.Dropped {
			dropped += v
			reasons = append(reasons, fmt.Sprintf("%s=%d", k, v))
		}
		sort.Slice(reasons, func(i, j int) bool { return reasons[i] < reasons[j] })
		if len(reasons) > 4 {
			reasons = append(reasons[:4], "...")
		}
		name := s.Name
		if s.AnnotateOnly {
			name += " (annotate)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.2f\t  %s\n", name, s.DocumentsIn, s.DocumentsOut, dropped, s.Seconds, strings.Join(reasons, " "))
	}
	for _, s := range r.Sinks {
		fmt.Fprintf(tw, "sink %s\t%d\t\t\t%.2f\t  %s\n", s.Name, s.Documents, s.Seconds, s.Path)
	}
	tw.Flush()
	fmt.Fprintf(w, "documents: %d in, %d out; rejected %d", r.DocumentsIn, r.DocumentsOut, r.Rejected)
	if r.RejectsFile != "" {
		fmt.Fprintf(w, " (see %s)", r.RejectsFile)
	}
	fmt.Fprintf(w, "; invalid UTF-8 replaced in %d; %.1f MB in %.2fs", r.InvalidUTF8, float64(r.BytesIn)/1e6, r.Seconds)
	if r.Seconds > 0 {
		fmt.Fprintf(w, " (%.1f MB/s)", float64(r.BytesIn)/1e6/r.Seconds)
	}
	fmt.Fprintln(w)
}
