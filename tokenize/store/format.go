// Package store is curate's token store: a folder of Megatron-LM indexed
// dataset shards (NAME.bin + NAME.idx, version 1), a manifest.json that lists
// them with their counts and checksums, and the tokenizer that produced them
// (tokenizer.json). It is what the tokens sink writes and what trainers read
// (ours, Megatron-LM, NeMo; a uint16 .bin is also a nanoGPT train.bin, and an
// llm.c export is one call away).
//
// The package imports nothing of the pipeline engine, so a trainer or any
// other program can use it alone:
//
//	w, err := store.Create(ctx, "out/tokens", store.Options{VocabSize: 50257, EOT: 50256, AppendEOT: true})
//	err = w.AddDoc(ids, "web") // one call per document, in store order
//	err = w.Close()            // last shard, tokenizer.json, then manifest.json
//
//	s, err := store.Open("out/tokens") // local shards are memory-mapped
//	defer s.Close()
//	err = s.Window(buf, 1234) // tokens [1234, 1234+len(buf)) across shards
//
// # Format
//
// NAME.bin holds the tokens back to back, little-endian uint16 (vocabulary of
// at most 65,535 ids) or int32. NAME.idx is Megatron's MMapIndexedDataset
// index, version 1: the 9-byte magic "MMIDIDX\x00\x00", u64 version 1, u8
// dtype code (8 = uint16, 4 = int32), u64 sequence count n, u64 document-index
// length n+1, then n int32 sequence lengths, n int64 byte pointers into the
// .bin and n+1 int64 document-index entries 0..n. Every document is one
// sequence, ending with the end-of-text token when the writer appends it.
//
// Every file is written through pipelines/storage, atomically: a shard
// appears only once complete, and manifest.json is written last, so a store
// with a manifest is a complete store.
package store

import (
	"encoding/binary"
	"fmt"
)

// DType is the on-disk type of a token.
type DType string

// Token types. Auto picks Uint16 when the vocabulary fits, else Int32.
const (
	Auto   DType = "auto"
	Uint16 DType = "uint16"
	Int32  DType = "int32"
)

// Size returns the bytes per token (0 for Auto or an unknown type).
func (d DType) Size() int {
	switch d {
	case Uint16:
		return 2
	case Int32:
		return 4
	}
	return 0
}

// code is the Megatron DType enum value written in the .idx header.
func (d DType) code() byte {
	if d == Uint16 {
		return 8
	}
	return 4
}

func dtypeFromCode(c byte) (DType, bool) {
	switch c {
	case 8:
		return Uint16, true
	case 4:
		return Int32, true
	}
	return "", false
}

// Uint16MaxVocab is the largest vocabulary stored as uint16 when the type is
// chosen automatically (the contract: "at most 65,535 ids").
const Uint16MaxVocab = 65535

// ResolveDType returns the type to store a vocabulary of vocabSize ids in:
// want itself, or for Auto uint16 when vocabSize <= 65,535, else int32. It
// fails when a requested uint16 cannot hold every id.
func ResolveDType(want DType, vocabSize int) (DType, error) {
	if vocabSize <= 0 {
		return "", fmt.Errorf("store: vocabulary size %d: want a positive size", vocabSize)
	}
	switch want {
	case "", Auto:
		if vocabSize <= Uint16MaxVocab {
			return Uint16, nil
		}
		return Int32, nil
	case Uint16:
		if vocabSize > 1<<16 {
			return "", fmt.Errorf("store: dtype uint16 cannot hold a vocabulary of %d ids (at most 65,536); use int32 or auto", vocabSize)
		}
		return Uint16, nil
	case Int32:
		return Int32, nil
	}
	return "", fmt.Errorf("store: unknown dtype %q (want auto, uint16 or int32)", want)
}

// Index layout constants.
const (
	idxMagic      = "MMIDIDX\x00\x00"
	idxVersion    = 1
	idxHeaderSize = len(idxMagic) + 8 + 1 + 8 + 8 // 34 bytes

	offVersion = len(idxMagic)  // u64
	offDType   = offVersion + 8 // u8
	offSeqs    = offDType + 1   // u64 sequence count
	offDocIdx  = offSeqs + 8    // u64 document-index length
	offSizes   = offDocIdx + 8  // int32 * n
)

// idxSize returns the length of an index of n sequences.
func idxSize(n int64) int64 { return int64(idxHeaderSize) + 4*n + 8*n + 8*(n+1) }

// appendIndex appends the .idx bytes of one shard whose documents have the
// given lengths in tokens.
func appendIndex(dst []byte, dtype DType, sizes []int32) []byte {
	n := int64(len(sizes))
	dst = append(dst, idxMagic...)
	dst = binary.LittleEndian.AppendUint64(dst, idxVersion)
	dst = append(dst, dtype.code())
	dst = binary.LittleEndian.AppendUint64(dst, uint64(n))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(n+1))
	for _, s := range sizes {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(s))
	}
	var ptr int64
	for _, s := range sizes {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(ptr))
		ptr += int64(s) * int64(dtype.Size())
	}
	for i := int64(0); i <= n; i++ {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(i))
	}
	return dst
}

// index is a parsed view of an .idx file's bytes (not copied).
type index struct {
	b     []byte
	dtype DType
	n     int64
}

// parseIndex checks an index's header and length. It does not scan the
// arrays: Verify does that.
func parseIndex(b []byte) (index, error) {
	if len(b) < idxHeaderSize {
		return index{}, &Fault{Offset: 0, Problem: fmt.Sprintf("index is %d bytes, shorter than its %d-byte header", len(b), idxHeaderSize)}
	}
	if string(b[:len(idxMagic)]) != idxMagic {
		return index{}, &Fault{Offset: 0, Problem: fmt.Sprintf("bad magic %q, want %q", b[:len(idxMagic)], idxMagic)}
	}
	if v := binary.LittleEndian.Uint64(b[offVersion:]); v != idxVersion {
		return index{}, &Fault{Offset: int64(offVersion), Problem: fmt.Sprintf("index version %d, want %d", v, idxVersion)}
	}
	dt, ok := dtypeFromCode(b[offDType])
	if !ok {
		return index{}, &Fault{Offset: int64(offDType), Problem: fmt.Sprintf("dtype code %d, want 8 (uint16) or 4 (int32)", b[offDType])}
	}
	n := binary.LittleEndian.Uint64(b[offSeqs:])
	if n > uint64(len(b)) {
		return index{}, &Fault{Offset: int64(offSeqs), Problem: fmt.Sprintf("sequence count %d exceeds the index size", n)}
	}
	if d := binary.LittleEndian.Uint64(b[offDocIdx:]); d != n+1 {
		return index{}, &Fault{Offset: int64(offDocIdx), Problem: fmt.Sprintf("document-index length %d, want %d (one sequence per document)", d, n+1)}
	}
	if want := idxSize(int64(n)); int64(len(b)) != want {
		return index{}, &Fault{Offset: int64(len(b)), Problem: fmt.Sprintf("index is %d bytes, want %d for %d sequences", len(b), want, n)}
	}
	return index{b: b, dtype: dt, n: int64(n)}, nil
}

func (x index) sizeOff(i int64) int64    { return int64(offSizes) + 4*i }
func (x index) pointerOff(i int64) int64 { return int64(offSizes) + 4*x.n + 8*i }
func (x index) docIdxOff(i int64) int64  { return int64(offSizes) + 12*x.n + 8*i }

func (x index) size(i int64) int32 {
	return int32(binary.LittleEndian.Uint32(x.b[x.sizeOff(i):]))
}

func (x index) pointer(i int64) int64 {
	return int64(binary.LittleEndian.Uint64(x.b[x.pointerOff(i):]))
}

func (x index) docIdx(i int64) int64 {
	return int64(binary.LittleEndian.Uint64(x.b[x.docIdxOff(i):]))
}

// Fault is a problem found in a store: the file, the byte offset in it, and
// what is wrong.
type Fault struct {
	File    string // path relative to the store (e.g. "shard_00002.bin"); "" for the store itself
	Offset  int64  // byte offset in File; -1 when the fault has no position
	Problem string
}

func (f *Fault) Error() string {
	switch {
	case f.File == "":
		return f.Problem
	case f.Offset < 0:
		return fmt.Sprintf("%s: %s", f.File, f.Problem)
	}
	return fmt.Sprintf("%s: offset %d: %s", f.File, f.Offset, f.Problem)
}
