// Package warc reads web crawls: WARC/1.0 and WARC/1.1 files (plain or
// gzipped per record, as Common Crawl ships them), the HTTP responses inside
// them, and WET files of already-extracted text. It registers the `warc`
// source, which turns each HTML response into a document of its main text
// (see Extract) with `url` and `fetch_time` columns.
package warc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Record is one WARC record. Body is valid until the next call to Next.
type Record struct {
	Version string            // "WARC/1.0" or "WARC/1.1"
	Headers map[string]string // canonical lower-case names
	Body    []byte
	Offset  int64 // offset of the record in the decompressed stream
	Index   int   // 0-based record number in the file
}

// Type returns the WARC-Type header (response, request, conversion...).
func (r *Record) Type() string { return r.Headers["warc-type"] }

// ID returns the WARC-Record-ID without its angle brackets.
func (r *Record) ID() string { return strings.Trim(r.Headers["warc-record-id"], "<>") }

// URL returns the WARC-Target-URI without angle brackets (WARC/1.0 files
// from some tools wrap it).
func (r *Record) URL() string { return strings.Trim(r.Headers["warc-target-uri"], "<>") }

// Reader reads records from a decompressed WARC stream. A record whose
// header cannot be parsed is reported by Next as a *RecordError; the reader
// then resynchronises on the next "WARC/1." line, so one broken record does
// not lose the rest of the file.
type Reader struct {
	br    *bufio.Reader
	off   int64
	index int
	body  []byte
	// MaxRecord bounds one record's body; longer ones are skipped with an error.
	MaxRecord int64
}

// NewReader reads from r (already decompressed).
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 1<<16), MaxRecord: 256 << 20}
}

// RecordError is a record that could not be read; the reader can go on.
type RecordError struct {
	Offset int64
	Index  int
	Reason string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("record %d at offset %d: %s", e.Index, e.Offset, e.Reason)
}

func (r *Reader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// A header line longer than the buffer: collect it.
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = r.br.ReadSlice('\n')
			buf = append(buf, line...)
			if len(buf) > 1<<20 {
				r.off += int64(len(buf))
				return nil, errors.New("header line longer than 1 MiB")
			}
		}
		line = buf
	}
	r.off += int64(len(line))
	return line, err
}

// Next returns the next record, io.EOF at the end, a *RecordError for a
// record that is broken (call Next again to go on), or another error when
// the stream itself fails (a truncated or corrupt gzip member).
func (r *Reader) Next() (*Record, error) {
	// Find the version line, skipping blank lines between records.
	var start int64
	for {
		start = r.off
		line, err := r.readLine()
		if err != nil && len(line) == 0 {
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, err
		}
		t := bytes.TrimRight(line, "\r\n")
		if len(t) == 0 {
			if err != nil {
				return nil, err
			}
			continue
		}
		if bytes.HasPrefix(t, []byte("WARC/1.")) {
			break
		}
		rerr := &RecordError{Offset: start, Index: r.index, Reason: fmt.Sprintf("expected a WARC version line, found %q", clip(t))}
		r.index++
		if err := r.resync(); err != nil {
			return nil, err
		}
		return nil, rerr
	}
	rec := &Record{Version: "", Headers: map[string]string{}, Offset: start, Index: r.index}
	r.index++
	// Headers until a blank line.
	lastKey := ""
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF {
				return nil, &RecordError{Offset: start, Index: rec.Index, Reason: "file ends inside the record header"}
			}
			return nil, err
		}
		t := bytes.TrimRight(line, "\r\n")
		if len(t) == 0 {
			break
		}
		if (t[0] == ' ' || t[0] == '\t') && lastKey != "" { // folded header
			rec.Headers[lastKey] += " " + string(bytes.TrimSpace(t))
			continue
		}
		k, v, ok := bytes.Cut(t, []byte(":"))
		if !ok {
			rerr := &RecordError{Offset: start, Index: rec.Index, Reason: fmt.Sprintf("bad header line %q", clip(t))}
			r.resync()
			return nil, rerr
		}
		lastKey = strings.ToLower(string(bytes.TrimSpace(k)))
		rec.Headers[lastKey] = string(bytes.TrimSpace(v))
	}
	n, err := strconv.ParseInt(rec.Headers["content-length"], 10, 64)
	if err != nil || n < 0 {
		r.resync()
		return nil, &RecordError{Offset: start, Index: rec.Index, Reason: fmt.Sprintf("bad Content-Length %q", rec.Headers["content-length"])}
	}
	if n > r.MaxRecord {
		if _, err := r.br.Discard(int(min(n, 1<<62))); err != nil {
			return nil, err
		}
		r.off += n
		return nil, &RecordError{Offset: start, Index: rec.Index, Reason: fmt.Sprintf("record of %d bytes is larger than the %d limit", n, r.MaxRecord)}
	}
	if int64(cap(r.body)) < n {
		r.body = make([]byte, n)
	}
	r.body = r.body[:n]
	m, err := io.ReadFull(r.br, r.body)
	r.off += int64(m)
	if err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return nil, &RecordError{Offset: start, Index: rec.Index, Reason: fmt.Sprintf("truncated: Content-Length %d but only %d bytes", n, m)}
		}
		return nil, err
	}
	rec.Body = r.body
	return rec, nil
}

// resync skips to just before the next line starting with "WARC/1.".
func (r *Reader) resync() error {
	for {
		b, err := r.br.Peek(7)
		if err != nil {
			if err == io.EOF || len(b) < 7 {
				// Consume what is left: there is no further record.
				n, _ := r.br.Discard(len(b))
				r.off += int64(n)
				return nil
			}
			return err
		}
		if string(b) == "WARC/1." {
			return nil
		}
		if _, err := r.readLine(); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}

// clip copies the start of b (which may point into the read buffer).
func clip(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}

// HTTPResponse is a parsed HTTP response from a WARC response record.
type HTTPResponse struct {
	Status  int
	Headers map[string]string // lower-case names
	Body    []byte
}

// ParseHTTP parses a raw HTTP/1.x response: status line, headers, body. A
// chunked body is de-chunked; a gzip or deflate Content-Encoding is left to
// the caller (DecodeBody).
func ParseHTTP(raw []byte) (*HTTPResponse, error) {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	sep := 4
	if end < 0 {
		end = bytes.Index(raw, []byte("\n\n"))
		sep = 2
	}
	if end < 0 {
		return nil, errors.New("HTTP response without a blank line after its headers")
	}
	head := strings.Split(strings.ReplaceAll(string(raw[:end]), "\r\n", "\n"), "\n")
	status := strings.Fields(head[0])
	if len(status) < 2 || !strings.HasPrefix(status[0], "HTTP/") {
		return nil, fmt.Errorf("bad HTTP status line %q", clip([]byte(head[0])))
	}
	code, err := strconv.Atoi(status[1])
	if err != nil {
		return nil, fmt.Errorf("bad HTTP status %q", status[1])
	}
	resp := &HTTPResponse{Status: code, Headers: map[string]string{}, Body: raw[end+sep:]}
	for _, h := range head[1:] {
		k, v, ok := strings.Cut(h, ":")
		if ok {
			resp.Headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	if strings.Contains(strings.ToLower(resp.Headers["transfer-encoding"]), "chunked") {
		if body, err := dechunk(resp.Body); err == nil {
			resp.Body = body
		}
	}
	return resp, nil
}

func dechunk(b []byte) ([]byte, error) {
	var out []byte
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil, errors.New("bad chunk")
		}
		sizeStr, _, _ := strings.Cut(strings.TrimSpace(string(b[:i])), ";")
		n, err := strconv.ParseInt(sizeStr, 16, 64)
		if err != nil || n < 0 {
			return nil, errors.New("bad chunk size")
		}
		b = b[i+1:]
		if n == 0 {
			return out, nil
		}
		if int64(len(b)) < n {
			return append(out, b...), nil // truncated: keep what is there
		}
		out = append(out, b[:n]...)
		b = bytes.TrimLeft(b[n:], "\r\n")
	}
}
