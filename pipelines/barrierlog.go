package pipelines

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

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
// Arrow IPC stream holding one record (batches may differ in schema), its
// token id lists packed to 16 bits where they fit (PackTokenLists; replay
// unpacks them).

type barrierLog struct {
	dir  string
	idx  int
	seq  int
	w    storage.Writer
	bw   *bufio.Writer
	name string
	segs []string // committed segments, in order
	n    int      // records in the open segment
	off  int64    // bytes in the open segment
	buf  bytes.Buffer
	// Commits of ended segments run in the background (their sync to disk
	// takes as long as the disk needs); a checkpoint's journal waits for
	// them, and so does the barrier's Emit.
	pending []func() error
}

// append logs rec and returns where its frame's IPC stream lies.
func (l *barrierLog) append(ctx context.Context, rec arrow.Record) (LogFrame, error) {
	if l.w == nil {
		l.name = fmt.Sprintf("barrier%02d-seg%06d.snap", l.idx, l.seq)
		l.seq++
		w, err := storage.Create(ctx, storage.Join(l.dir, l.name))
		if err != nil {
			return LogFrame{}, err
		}
		l.w, l.bw, l.off = w, bufio.NewWriterSize(w, 1<<20), 0
	}
	buf := &l.buf // reused: a frame is serialized whole to learn its length
	buf.Reset()
	packed := PackTokenLists(memory.DefaultAllocator, rec) // replay unpacks
	defer packed.Release()
	iw := ipc.NewWriter(buf, ipc.WithSchema(packed.Schema()))
	if err := iw.Write(packed); err != nil {
		return LogFrame{}, err
	}
	if err := iw.Close(); err != nil {
		return LogFrame{}, err
	}
	var hdr [8]byte
	binary.LittleEndian.PutUint64(hdr[:], uint64(buf.Len()))
	if _, err := l.bw.Write(hdr[:]); err != nil {
		return LogFrame{}, err
	}
	at := LogFrame{Path: storage.Join(l.dir, l.name), Offset: l.off + 8, Length: int64(buf.Len())}
	_, err := l.bw.Write(buf.Bytes())
	l.n++
	l.off += 8 + int64(buf.Len())
	return at, err
}

// absorbLogged hands a logged batch to a barrier: with where it lies in
// the log when the barrier reads its input back from there.
func absorbLogged(ctx context.Context, b Barrier, rec arrow.Record, at LogFrame) error {
	if la, ok := b.(LogAbsorber); ok {
		return la.AbsorbLogged(ctx, rec, at)
	}
	return b.Absorb(ctx, rec)
}

// commit ends the open segment and returns every segment so far, and a
// wait that returns once they are all durable: the segment's commit runs in
// the background, so that the barrier goes on absorbing meanwhile.
func (l *barrierLog) commit() ([]string, func() error, error) {
	if l.w != nil {
		if err := l.bw.Flush(); err != nil {
			return nil, nil, err
		}
		w := l.w
		done := make(chan error, 1)
		go func() { done <- w.Commit() }()
		l.pending = append(l.pending, sync.OnceValue(func() error { return <-done }))
		l.segs = append(l.segs, l.name)
		l.w, l.bw = nil, nil
	}
	pending := append([]func() error(nil), l.pending...) // l.pending grows meanwhile
	return append([]string(nil), l.segs...), func() error { return waitAll(pending) }, nil
}

// wait returns once every ended segment is committed, with the first
// commit error.
func (l *barrierLog) wait() error { return waitAll(l.pending) }

func waitAll(waits []func() error) error {
	var first error
	for _, w := range waits {
		if err := w(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (l *barrierLog) abort() {
	if l.w != nil {
		l.w.Abort()
		l.w = nil
	}
	l.wait()
}

// replay feeds the logged batches of segs to absorb, in order, with where
// each lies in the log.
func replayBarrierLog(ctx context.Context, dir string, segs []string, alloc memory.Allocator, absorb func(arrow.Record, LogFrame) error) error {
	for _, seg := range segs {
		path := storage.Join(dir, seg)
		f, err := storage.Open(ctx, path)
		if err != nil {
			return err
		}
		br := bufio.NewReaderSize(f, 1<<20)
		var off int64
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
			at := LogFrame{Path: path, Offset: off + 8, Length: int64(n)}
			off += 8 + int64(n)
			rd, err := ipc.NewReader(bytes.NewReader(frame), ipc.WithAllocator(alloc))
			if err != nil {
				f.Close()
				return fmt.Errorf("%s: %w", seg, err)
			}
			for rd.Next() {
				rec := UnpackTokenLists(alloc, rd.Record())
				err := absorb(rec, at)
				rec.Release()
				if err != nil {
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
