package pipelines

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines/storage"
)

// A barrier stage that keeps no snapshot of its own is made resumable by a
// log of what it absorbed: the runner appends every batch the barrier
// absorbs to a segment file in the state folder, commits the segment at each
// checkpoint barrier and names the segments in the journal. A resumed run
// feeds the logged batches to a fresh barrier before going on, which
// rebuilds its state exactly (barriers are deterministic in their input).
//
// A segment is a sequence of frames: a little-endian uint64 length, then an
// Arrow IPC stream holding one record (batches may differ in schema).

type barrierLog struct {
	dir  string
	idx  int
	seq  int
	w    storage.Writer
	bw   *bufio.Writer
	name string
	segs []string // committed segments, in order
	n    int      // records in the open segment
}

func (l *barrierLog) append(ctx context.Context, rec arrow.Record) error {
	if l.w == nil {
		l.name = fmt.Sprintf("barrier%02d-seg%06d.snap", l.idx, l.seq)
		l.seq++
		w, err := storage.Create(ctx, storage.Join(l.dir, l.name))
		if err != nil {
			return err
		}
		l.w, l.bw = w, bufio.NewWriterSize(w, 1<<20)
	}
	var buf bytes.Buffer
	iw := ipc.NewWriter(&buf, ipc.WithSchema(rec.Schema()))
	if err := iw.Write(rec); err != nil {
		return err
	}
	if err := iw.Close(); err != nil {
		return err
	}
	var hdr [8]byte
	binary.LittleEndian.PutUint64(hdr[:], uint64(buf.Len()))
	if _, err := l.bw.Write(hdr[:]); err != nil {
		return err
	}
	_, err := l.bw.Write(buf.Bytes())
	l.n++
	return err
}

// commit makes the open segment durable and returns every segment so far.
func (l *barrierLog) commit() ([]string, error) {
	if l.w != nil {
		if err := l.bw.Flush(); err != nil {
			return nil, err
		}
		if err := l.w.Commit(); err != nil {
			return nil, err
		}
		l.segs = append(l.segs, l.name)
		l.w, l.bw = nil, nil
	}
	return append([]string(nil), l.segs...), nil
}

func (l *barrierLog) abort() {
	if l.w != nil {
		l.w.Abort()
		l.w = nil
	}
}

// replay feeds the logged batches of segs to absorb, in order.
func replayBarrierLog(ctx context.Context, dir string, segs []string, alloc memory.Allocator, absorb func(arrow.Record) error) error {
	for _, seg := range segs {
		f, err := storage.Open(ctx, storage.Join(dir, seg))
		if err != nil {
			return err
		}
		br := bufio.NewReaderSize(f, 1<<20)
		for {
			var hdr [8]byte
			if _, err := io.ReadFull(br, hdr[:]); err == io.EOF {
				break
			} else if err != nil {
				f.Close()
				return fmt.Errorf("%s: %w", seg, err)
			}
			n := binary.LittleEndian.Uint64(hdr[:])
			if n > 1<<34 {
				f.Close()
				return fmt.Errorf("%s: corrupt frame length %d", seg, n)
			}
			frame := make([]byte, n)
			if _, err := io.ReadFull(br, frame); err != nil {
				f.Close()
				return fmt.Errorf("%s: %w", seg, err)
			}
			rd, err := ipc.NewReader(bytes.NewReader(frame), ipc.WithAllocator(alloc))
			if err != nil {
				f.Close()
				return fmt.Errorf("%s: %w", seg, err)
			}
			for rd.Next() {
				if err := absorb(rd.Record()); err != nil {
					rd.Release()
					f.Close()
					return err
				}
			}
			err = rd.Err()
			rd.Release()
			if err != nil {
				f.Close()
				return fmt.Errorf("%s: %w", seg, err)
			}
		}
		f.Close()
	}
	return nil
}
