package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/curatehq/curate/pipelines"
)

func init() {
	pipelines.RegisterSource(pipelines.Spec{
		Name: "text",
		Doc:  "plain text files (also .gz, .zst): a document per file, per paragraph or per line",
		Fields: []pipelines.Field{
			{Name: "path", Type: pipelines.String, Required: true,
				Doc: "file, directory, glob (** for any depth) or s3:// URL; files are read in sorted order"},
			{Name: "domain", Type: pipelines.String, Default: "default", Doc: "the documents' domain column"},
			{Name: "split", Type: pipelines.String, Default: "file", Enum: []string{"file", "paragraph", "line"},
				Doc: "file: id PATH:0; paragraph (blank-line separated): id PATH:N, N the 0-based paragraph; line: id PATH:N, N the 0-based line"},
		},
	}, newTextSource)
}

// textSource reads plain text files in order. Blank (whitespace-only)
// lines and paragraphs are not documents, but they count in the line
// numbers of split: line. The source column is the file's path relative
// to the pattern's fixed prefix.
type textSource struct {
	fileBatches
	split  string
	domain string

	file   *inputFile
	st     *stream
	chunks *chunker
	data   []byte // the rest of the current chunk
	line   int64  // 0-based number of data's first line
	para   []byte // the paragraph being gathered
	paraN  int64  // 0-based index of the next paragraph
	id     []byte
}

func newTextSource(p pipelines.Params, env *pipelines.Env) (pipelines.Source, error) {
	return &textSource{fileBatches: fileBatches{env: env, kind: "text", pattern: env.Path(p.String("path")), params: p},
		split: p.String("split"), domain: p.String("domain")}, nil
}

// Next returns the next batch of documents, or io.EOF.
func (s *textSource) Next(ctx context.Context) (arrow.Record, error) { return s.batch(ctx, s.step) }

// step makes progress: opens a file, reads a chunk or takes a line. It
// returns false when every file is done.
func (s *textSource) step(ctx context.Context) (bool, error) {
	if s.st == nil {
		if s.next >= len(s.files) {
			return false, nil
		}
		s.file = s.files[s.next]
		s.next++
		st, err := openStream(ctx, s.file.path)
		if err != nil {
			return false, fmt.Errorf("text: %w", err)
		}
		if s.split == "file" {
			data, err := io.ReadAll(st)
			st.Close()
			if err != nil {
				return true, s.env.Rejects.Add(pipelines.Reject{Path: s.file.path,
					Reason: fmt.Sprintf("unreadable file, rejected: %v", err)})
			}
			data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
			if len(bytes.TrimSpace(data)) > 0 {
				s.add(0, data)
			}
			return true, nil
		}
		s.st = st
		s.chunks = newChunker(st, chunkBytes)
		s.data, s.line, s.para, s.paraN = nil, 0, s.para[:0], 0
		return true, nil
	}
	if len(s.data) == 0 {
		ch, ok := s.chunks.next()
		if ok {
			s.data, s.line = ch.data, ch.line
			if ch.line == 0 {
				s.data = bytes.TrimPrefix(s.data, []byte("\xef\xbb\xbf"))
			}
			return true, nil
		}
		// End of file: the last paragraph, then a broken stream's reject.
		s.endParagraph()
		err := s.st.Close()
		s.st = nil
		if c := s.chunks; c.err != nil {
			return true, s.env.Rejects.Add(pipelines.Reject{Path: s.file.path, Line: c.line + 1, Offset: c.offset,
				Reason: fmt.Sprintf("truncated or corrupt file, rest of file rejected: %v", c.err),
				Record: string(c.pending[:min(len(c.pending), 512)])})
		}
		if err != nil {
			return false, fmt.Errorf("text: close %s: %w", s.file.path, err)
		}
		return true, nil
	}
	end := bytes.IndexByte(s.data, '\n')
	line := s.data
	if end >= 0 {
		line, s.data = s.data[:end], s.data[end+1:]
	} else {
		s.data = nil
	}
	line = bytes.TrimSuffix(line, []byte{'\r'})
	blank := len(bytes.TrimSpace(line)) == 0
	switch s.split {
	case "line":
		if !blank {
			s.add(s.line, line)
		}
	case "paragraph":
		if blank {
			s.endParagraph()
		} else {
			if len(s.para) > 0 {
				s.para = append(s.para, '\n')
			}
			s.para = append(s.para, line...)
		}
	}
	s.line++
	return true, nil
}

func (s *textSource) endParagraph() {
	if len(s.para) > 0 {
		s.add(s.paraN, s.para)
		s.paraN++
		s.para = s.para[:0]
	}
}

func (s *textSource) add(n int64, text []byte) {
	s.id = append(append(append(s.id[:0], s.file.rel...), ':'), strconv.FormatInt(n, 10)...)
	s.b.Add(view(s.id), view(text), s.file.rel, s.domain)
}

// Close releases the open file and batch.
func (s *textSource) Close() error {
	if s.st != nil {
		s.st.Close()
		s.st = nil
	}
	if s.b != nil {
		s.b.Release()
		s.b = nil
	}
	return nil
}
