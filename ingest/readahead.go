package ingest

import (
	"context"
	"io"
	"sync"

	"github.com/curatehq/curate/pipelines/storage"
)

// Remote objects are read ahead: a goroutine fetches the next chunks of an
// object while the current ones are parsed, and a source opens its next
// object while it still reads the current one, so at most two objects per
// source are in flight at once. Each holds at most readAheadDepth chunks of
// readAheadChunk bytes (8 MiB), a fixed cost per source.
const (
	readAheadChunk = 4 << 20
	readAheadDepth = 2
)

type ahead struct {
	data []byte
	err  error
}

// readAhead wraps a remote storage.File; Read serves the chunks its
// goroutine fetched in order. ReadAt and Size go to the file.
type readAhead struct {
	storage.File
	chunks chan ahead
	cur    []byte
	err    error
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

func newReadAhead(f storage.File) *readAhead {
	r := &readAhead{File: f, chunks: make(chan ahead, readAheadDepth), stop: make(chan struct{})}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(r.chunks)
		for {
			buf := make([]byte, readAheadChunk)
			n, err := io.ReadFull(f, buf)
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			select {
			case r.chunks <- ahead{data: buf[:n], err: err}:
			case <-r.stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return r
}

func (r *readAhead) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		c, ok := <-r.chunks
		if !ok {
			return 0, io.EOF
		}
		r.cur, r.err = c.data, c.err
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close stops the fetching goroutine and closes the file.
func (r *readAhead) Close() error {
	r.once.Do(func() { close(r.stop) })
	r.wg.Wait()
	return r.File.Close()
}

// openAhead starts opening path in the background (remote paths only: a
// local file's page cache needs no help); the stream arrives on the channel.
func openAhead(ctx context.Context, path string) <-chan opened {
	ch := make(chan opened, 1)
	go func() {
		st, err := openStream(ctx, path)
		ch <- opened{st, err}
	}()
	return ch
}

type opened struct {
	st  *stream
	err error
}
