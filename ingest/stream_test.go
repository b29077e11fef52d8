package ingest

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func chunksOf(r io.Reader, size int) ([]chunk, *chunker) {
	c := newChunker(r, size)
	var out []chunk
	for {
		ch, ok := c.next()
		if !ok {
			return out, c
		}
		ch.data = bytes.Clone(ch.data)
		out = append(out, ch)
	}
}

// Chunk cuts depend only on the bytes, not on how reads return them, and
// every chunk is whole lines.
func TestChunkerCuts(t *testing.T) {
	data := []byte("a\nbb\n" + strings.Repeat("x", 50) + "\n\nccc\nlast")
	for _, size := range []int{1, 4, 8, 64, 1 << 10} {
		want, _ := chunksOf(bytes.NewReader(data), size)
		for name, r := range map[string]io.Reader{
			"one byte": iotest.OneByteReader(bytes.NewReader(data)),
			"half":     iotest.HalfReader(bytes.NewReader(data)),
			"data+EOF": iotest.DataErrReader(bytes.NewReader(data)),
		} {
			got, c := chunksOf(r, size)
			if !reflect.DeepEqual(got, want) || c.err != nil {
				t.Errorf("size %d, %s reader: chunks differ (err %v)", size, name, c.err)
			}
		}
		var joined []byte
		var line int64
		for i, ch := range want {
			if ch.line != line || ch.offset != int64(len(joined)) {
				t.Errorf("size %d chunk %d: line %d offset %d, want %d %d", size, i, ch.line, ch.offset, line, len(joined))
			}
			if i < len(want)-1 && ch.data[len(ch.data)-1] != '\n' {
				t.Errorf("size %d chunk %d does not end a line: %q", size, i, ch.data)
			}
			joined = append(joined, ch.data...)
			line += int64(bytes.Count(ch.data, []byte{'\n'}))
		}
		if !bytes.Equal(joined, data) {
			t.Errorf("size %d: chunks do not add up to the input", size)
		}
	}
}

// A read error keeps the whole lines before it and reports the rest.
func TestChunkerBrokenStream(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("one\ntwo\nthr"), iotest.ErrReader(boom))
	chunks, c := chunksOf(r, 1<<10)
	if len(chunks) != 1 || string(chunks[0].data) != "one\ntwo\n" {
		t.Fatalf("chunks = %+v", chunks)
	}
	if !errors.Is(c.err, boom) || string(c.pending) != "thr" || c.line != 2 {
		t.Errorf("err %v pending %q line %d", c.err, c.pending, c.line)
	}
}

type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

func TestChunkerNoProgress(t *testing.T) {
	_, c := chunksOf(stuckReader{}, 16)
	if !errors.Is(c.err, io.ErrNoProgress) {
		t.Errorf("err = %v, want io.ErrNoProgress", c.err)
	}
}
