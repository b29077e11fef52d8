package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/curatehq/curate/pipelines/storage"
)

// compression names a stream codec, chosen by a file's extension when
// reading and by the sinks' compression parameter when writing.
type compression string

const (
	compressNone compression = "none"
	compressGzip compression = "gzip"
	compressZstd compression = "zstd"
)

// compressionOf returns the codec implied by a file name.
func compressionOf(path string) compression {
	switch {
	case strings.HasSuffix(path, ".gz"):
		return compressGzip
	case strings.HasSuffix(path, ".zst"), strings.HasSuffix(path, ".zstd"):
		return compressZstd
	}
	return compressNone
}

// extension returns the file name suffix a codec adds.
func (c compression) extension() string {
	switch c {
	case compressGzip:
		return ".gz"
	case compressZstd:
		return ".zst"
	}
	return ""
}

// stream is a file opened for sequential reading, decompressed by its
// extension. The caller owns it and must Close it.
type stream struct {
	io.Reader
	file  storage.File
	close func()
}

// openStream opens path through storage and decompresses it by extension.
// A corrupt compressed header is not an error here: it surfaces on the first
// Read, where the caller turns it into a rejected rest-of-file.
func openStream(ctx context.Context, path string) (*stream, error) {
	f, err := storage.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if storage.Scheme(path) != "" {
		f = newReadAhead(f)
	}
	s := &stream{Reader: f, file: f}
	switch compressionOf(path) {
	case compressGzip:
		zr, err := gzip.NewReader(f)
		if err != nil {
			s.Reader = errReader{fmt.Errorf("gzip: %w", err)}
			break
		}
		s.Reader, s.close = zr, func() { zr.Close() }
	case compressZstd:
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			s.Reader = errReader{fmt.Errorf("zstd: %w", err)}
			break
		}
		s.Reader, s.close = zstdErrs{zr}, zr.Close
	}
	return s, nil
}

// Close closes the decompressor and the file.
func (s *stream) Close() error {
	if s.close != nil {
		s.close()
	}
	return s.file.Close()
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// zstdErrs names the codec in zstd's errors, which otherwise read as bare
// "unexpected EOF".
type zstdErrs struct{ r io.Reader }

func (z zstdErrs) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("zstd: %w", err)
	}
	return n, err
}

// chunk is a run of whole lines cut from a stream.
type chunk struct {
	data   []byte // whole lines; only a stream's last line may lack its '\n'
	line   int64  // 0-based line number of data's first line in the file
	offset int64  // byte offset of data[0] in the decompressed stream
}

// chunker cuts a stream into chunks of whole lines of about size bytes. A
// line longer than size makes a chunk of its own as long as the line, so
// lines of any length work while memory stays bounded by the longest line.
// The cuts depend only on the bytes, never on how reads return, so batches
// (and everything downstream) are the same from run to run.
type chunker struct {
	r       io.Reader
	size    int
	buffers *bufferPool // where chunk buffers come from; may be nil
	pending []byte      // the start of a line not yet complete
	line    int64
	offset  int64
	eof     bool
	err     error // the read error that broke the stream (not io.EOF)
}

func newChunker(r io.Reader, size int) *chunker { return &chunker{r: r, size: size} }

// next returns the next chunk, or ok=false at the end of the stream. After
// the end, c.err holds the error that broke the stream, if any, and
// c.pending the partial line the error cut off.
func (c *chunker) next() (ch chunk, ok bool) {
	if c.eof {
		return chunk{}, false
	}
	buf := c.buffers.get(max(c.size, 2*len(c.pending)))
	buf = append(buf, c.pending...)
	c.pending = nil
	scanned := 0 // bytes of buf already known to hold no '\n'
	for {
		n, err := fill(c.r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			c.eof = true
			if err != io.EOF {
				c.err = err
			}
			if c.err == nil {
				// The last line needs no '\n'.
				if len(buf) == 0 {
					return chunk{}, false
				}
				return c.emit(buf), true
			}
			// A broken stream: whole lines before the break are good, the
			// partial line after the last '\n' is part of the rejected rest.
			cut := bytes.LastIndexByte(buf, '\n') + 1
			c.pending = bytes.Clone(buf[cut:])
			if cut == 0 {
				return chunk{}, false
			}
			return c.emit(buf[:cut]), true
		}
		if i := bytes.LastIndexByte(buf[scanned:], '\n'); i >= 0 {
			cut := scanned + i + 1
			c.pending = append([]byte(nil), buf[cut:]...)
			return c.emit(buf[:cut]), true
		}
		// No line end yet: grow and read on.
		scanned = len(buf)
		bigger := make([]byte, len(buf), 2*cap(buf))
		copy(bigger, buf)
		buf = bigger
	}
}

// fill reads until p is full or the reader fails; unlike io.ReadFull it
// passes the reader's own error through (a truncated gzip stream says
// io.ErrUnexpectedEOF, which must not read as a clean end).
func fill(r io.Reader, p []byte) (int, error) {
	n, empty := 0, 0
	for n < len(p) {
		m, err := r.Read(p[n:])
		n += m
		if err != nil {
			return n, err
		}
		if m > 0 {
			empty = 0
		} else if empty++; empty > 100 { // a reader that never progresses
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}

// bufferPool recycles chunk buffers between the producer and the workers,
// so that a long run does not allocate (and the GC does not chase) a fresh
// buffer per chunk. Buffers much larger than a chunk (a long line) are
// dropped rather than kept. A nil pool allocates.
type bufferPool struct {
	size int
	free chan []byte
}

func newBufferPool(size, n int) *bufferPool {
	return &bufferPool{size: size, free: make(chan []byte, n)}
}

// get returns an empty buffer of at least n bytes capacity.
func (p *bufferPool) get(n int) []byte {
	if p != nil && n <= p.size {
		select {
		case b := <-p.free:
			return b[:0]
		default:
		}
		n = p.size
	}
	return make([]byte, 0, n)
}

// put gives a buffer back; its bytes must no longer be referenced.
func (p *bufferPool) put(b []byte) {
	if p == nil || cap(b) != p.size {
		return
	}
	select {
	case p.free <- b:
	default:
	}
}

func (c *chunker) emit(data []byte) chunk {
	ch := chunk{data: data, line: c.line, offset: c.offset}
	c.line += int64(bytes.Count(data, []byte{'\n'}))
	c.offset += int64(len(data))
	return ch
}

// forEachLine calls fn for each line of data (without its "\n" or "\r\n")
// with its 0-based index relative to data's first line and byte offset.
func forEachLine(data []byte, fn func(line []byte, index int64, offset int) error) error {
	var index int64
	for off := 0; off < len(data); index++ {
		end := bytes.IndexByte(data[off:], '\n')
		next := off + end + 1
		if end < 0 {
			end = len(data) - off
			next = len(data)
		}
		line := data[off : off+end]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if err := fn(line, index, off); err != nil {
			return err
		}
		off = next
	}
	return nil
}
