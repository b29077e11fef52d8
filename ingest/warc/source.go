package warc

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/klauspost/compress/zstd"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
)

func init() {
	pipelines.RegisterSource(pipelines.Spec{
		Name: "warc",
		Doc:  "web crawls: WARC/1.0 and 1.1 files (.warc, .warc.gz gzipped per record, .zst); HTML responses become their main text, WET conversion records their text",
		Fields: []pipelines.Field{
			{Name: "path", Type: pipelines.String, Required: true, Doc: "file, directory, glob or s3:// URL; files are read in sorted order"},
			{Name: "domain", Type: pipelines.String, Default: "default", Doc: "the documents' domain column"},
			{Name: "min_chars", Type: pipelines.Int, Default: 1, Min: pipelines.Bound(0), Doc: "pages whose extracted text is shorter are skipped (not rejected)"},
			{Name: "status", Type: pipelines.Strings, Default: []string{"200"}, Doc: "HTTP status codes whose responses are kept"},
		},
	}, newSource)
}

type source struct {
	env      *pipelines.Env
	pattern  string
	domain   string
	minChars int
	status   map[string]bool
	files    []storage.Info
	fi       int
	file     storage.File
	rel      string
	rd       *Reader
	closer   io.Closer
	b        *pipelines.DocBuilder
	done     int64
	total    int64
}

func newSource(p pipelines.Params, env *pipelines.Env) (pipelines.Source, error) {
	pattern := env.Path(p.String("path"))
	files, err := storage.List(context.Background(), pattern)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", pattern, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no files match %s", pattern)
	}
	settings := &source{env: env, pattern: pattern, domain: p.String("domain"), minChars: p.Int("min_chars"),
		status: map[string]bool{}}
	for _, st := range p.Strings("status") {
		settings.status[st] = true
	}
	return settings.over(files), nil
}

// over returns a source with s's settings and Env, ready to read files.
func (s *source) over(files []storage.Info) *source {
	n := &source{env: s.env, pattern: s.pattern, domain: s.domain, minChars: s.minChars, status: s.status,
		files: files, b: pipelines.NewDocBuilder(s.env)}
	for _, f := range files {
		n.total += f.Size
	}
	return n
}

// Progress implements pipelines.Progresser.
func (s *source) Progress() (done, total int64) { return s.done, s.total }

func (s *source) open(ctx context.Context) error {
	info := s.files[s.fi]
	f, err := storage.Open(ctx, info.Path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", info.Path, err)
	}
	s.file = f
	s.rel = storage.RelativeTo(s.pattern, info.Path)
	var r io.Reader = f
	s.closer = nil
	switch {
	case strings.HasSuffix(info.Path, ".gz"):
		zr, err := gzip.NewReader(f)
		if err != nil {
			s.reject(0, 0, "not a gzip file: "+err.Error())
			s.closeFile()
			return nil
		}
		r, s.closer = zr, zr
	case strings.HasSuffix(info.Path, ".zst"):
		zr, err := zstd.NewReader(f)
		if err != nil {
			s.reject(0, 0, "not a zstd file: "+err.Error())
			s.closeFile()
			return nil
		}
		r, s.closer = zr, zr.IOReadCloser()
	}
	s.rd = NewReader(r)
	return nil
}

func (s *source) closeFile() {
	if s.closer != nil {
		s.closer.Close()
		s.closer = nil
	}
	if s.file != nil {
		s.done += s.file.Size()
		s.file.Close()
		s.file = nil
	}
	s.rd = nil
	s.fi++
}

func (s *source) reject(index int, off int64, reason string) error {
	line := int64(index) + 1
	if index < 0 {
		line = 0
	}
	return s.env.Rejects.Add(pipelines.Reject{Path: s.files[s.fi].Path, Line: line, Offset: off, Reason: reason})
}

// pending is a record kept for extraction.
type pending struct {
	index   int
	id, url string
	date    string
	kind    string // "html" or "text"
	body    []byte
	ctype   string
	cenc    string
	page    Page
}

// batchRecords bounds how many records are extracted in parallel at once.
const batchRecords = 64

// Next reads records until a batch of documents is full, extracting the
// HTML of a batch of records in parallel.
func (s *source) Next(ctx context.Context) (arrow.Record, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if s.rd == nil {
			if s.fi >= len(s.files) {
				if s.b.Len() > 0 {
					return s.b.Build(), nil
				}
				return nil, io.EOF
			}
			if err := s.open(ctx); err != nil {
				return nil, err
			}
			continue
		}
		var todo []*pending
		for len(todo) < batchRecords {
			rec, err := s.rd.Next()
			if err == io.EOF {
				s.closeFile()
				break
			}
			var re *RecordError
			if errors.As(err, &re) {
				if err := s.reject(re.Index, re.Offset, re.Reason); err != nil {
					return nil, err
				}
				continue
			}
			if err != nil {
				// The stream itself broke (a truncated gzip member): the rest
				// of the file is unreadable.
				if err := s.reject(-1, 0, "rest of file unreadable: "+err.Error()); err != nil {
					return nil, err
				}
				s.closeFile()
				break
			}
			if p := s.keep(rec); p != nil {
				todo = append(todo, p)
			}
		}
		s.extract(todo)
		for _, p := range todo {
			if len(p.page.Text) < s.minChars {
				continue
			}
			id := p.id
			if id == "" {
				id = fmt.Sprintf("%s:%d", s.rel, p.index)
			}
			row := s.b.Add(id, p.page.Text, s.rel, s.domain)
			s.b.SetExtra(row, "url", p.url)
			s.b.SetExtra(row, "fetch_time", p.date)
			if p.page.Title != "" {
				s.b.SetExtra(row, "title", p.page.Title)
			}
		}
		if s.b.Full() || (s.rd == nil && s.fi >= len(s.files) && s.b.Len() > 0) {
			return s.b.Build(), nil
		}
	}
}

// keep selects HTML responses and WET conversions, copying their bodies.
func (s *source) keep(rec *Record) *pending {
	p := &pending{index: rec.Index, id: rec.ID(), url: rec.URL(), date: rec.Headers["warc-date"]}
	switch rec.Type() {
	case "response":
		resp, err := ParseHTTP(rec.Body)
		if err != nil {
			s.reject(rec.Index, rec.Offset, "bad HTTP response: "+err.Error())
			return nil
		}
		if !s.status[fmt.Sprint(resp.Status)] {
			return nil
		}
		ct := strings.ToLower(resp.Headers["content-type"])
		if ct != "" && !strings.Contains(ct, "html") {
			return nil
		}
		p.kind, p.ctype, p.cenc = "html", resp.Headers["content-type"], resp.Headers["content-encoding"]
		p.body = append([]byte(nil), resp.Body...)
	case "conversion":
		p.kind = "text"
		p.body = append([]byte(nil), rec.Body...)
	default:
		return nil
	}
	return p
}

func (s *source) extract(todo []*pending) {
	workers := max(1, s.env.Workers)
	var wg sync.WaitGroup
	next := make(chan *pending)
	for w := 0; w < min(workers, len(todo)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				if p.kind == "text" {
					t := strings.TrimSpace(string(p.body))
					p.page = Page{Text: t}
					continue
				}
				body := DecodeBody(p.body, p.cenc)
				utf, cs := ToUTF8(body, p.ctype)
				p.page = Extract(utf)
				p.page.Charset = cs
			}
		}()
	}
	for _, p := range todo {
		next <- p
	}
	close(next)
	wg.Wait()
}

// Close implements pipelines.Source.
func (s *source) Close() error {
	if s.closer != nil {
		s.closer.Close()
	}
	if s.file != nil {
		s.file.Close()
	}
	s.b.Release()
	return nil
}

var _ pipelines.FileSplitter = (*source)(nil)

// Files implements pipelines.FileSplitter: the files listed when the
// source was built, in reading order.
func (s *source) Files(ctx context.Context) ([]string, error) {
	paths := make([]string, len(s.files))
	for i, f := range s.files {
		paths[i] = f.Path
	}
	return paths, nil
}

// OpenFile implements pipelines.FileSplitter: a source with the same
// settings and Env over path alone (one of Files' paths).
func (s *source) OpenFile(ctx context.Context, path string) (pipelines.Source, error) {
	for _, f := range s.files {
		if f.Path == path {
			return s.over([]storage.Info{f}), nil
		}
	}
	return nil, fmt.Errorf("warc: %s is not one of the files of %s", path, s.pattern)
}
