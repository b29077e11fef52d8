package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"github.com/curatehq/curate/pipelines/storage"
)

// maxFaultsPerFile bounds the faults reported for one file: the first few
// say where a file went wrong; a flood says nothing more.
const maxFaultsPerFile = 10

// maxBlockSize bounds the checksum block size verify accepts from a manifest.
const maxBlockSize = 64 << 20

// Verify re-reads the store in dir and reports every fault it finds, each
// naming the file and byte offset: the manifest's own consistency, each
// index (header, lengths, pointers, document index, counts) and its sha256,
// each .bin's length, sha256 and per-block CRC-32C (the offset is the start
// of the first mismatching block), token ids outside the vocabulary and
// missing end-of-text tokens (exact offsets), the saved tokenizer and the
// llm.c copies' headers. It streams, so it works on s3:// stores without a
// local copy. The error is for failures to read, not for corruption.
func Verify(ctx context.Context, dir string) ([]*Fault, error) {
	dir = strings.TrimRight(dir, "/")
	b, err := storage.ReadFile(ctx, storage.Join(dir, ManifestFile))
	if err != nil {
		if storage.IsNotExist(err) {
			return []*Fault{{File: ManifestFile, Offset: -1, Problem: "missing: not a token store, or its writer did not finish"}}, nil
		}
		return nil, fmt.Errorf("verify %s: %w", dir, err)
	}
	m, err := ParseManifest(b)
	if err != nil {
		return []*Fault{{File: ManifestFile, Offset: -1, Problem: err.Error()}}, nil
	}
	var faults []*Fault
	for _, sh := range m.Shards {
		if err := ctx.Err(); err != nil {
			return faults, err
		}
		fs, err := verifyShard(ctx, dir, m, sh)
		if err != nil {
			return faults, err
		}
		faults = append(faults, fs...)
	}
	if m.TokenizerFile != "" {
		if _, err := storage.Stat(ctx, storage.Join(dir, m.TokenizerFile)); err != nil {
			if !storage.IsNotExist(err) {
				return faults, fmt.Errorf("verify %s: %w", dir, err)
			}
			faults = append(faults, &Fault{File: m.TokenizerFile, Offset: -1, Problem: "missing (the manifest lists it)"})
		}
	}
	for i, rel := range m.LLMC {
		if i >= len(m.Shards) {
			faults = append(faults, &Fault{File: ManifestFile, Offset: -1, Problem: fmt.Sprintf("llm.c file %s has no shard", rel)})
			continue
		}
		f, err := verifyLLMC(ctx, dir, rel, m.DType, m.Shards[i])
		if err != nil {
			return faults, err
		}
		if f != nil {
			faults = append(faults, f)
		}
	}
	return faults, nil
}

func verifyShard(ctx context.Context, dir string, m Manifest, sh Shard) ([]*Fault, error) {
	var faults []*Fault
	ib, err := storage.ReadFile(ctx, storage.Join(dir, sh.Idx()))
	var x index
	idxOK := false
	switch {
	case storage.IsNotExist(err):
		faults = append(faults, &Fault{File: sh.Idx(), Offset: -1, Problem: "missing"})
	case err != nil:
		return nil, fmt.Errorf("verify %s: %w", dir, err)
	default:
		if sum := sha256.Sum256(ib); hex.EncodeToString(sum[:]) != sh.IdxSHA256 {
			faults = append(faults, &Fault{File: sh.Idx(), Offset: -1, Problem: fmt.Sprintf("sha256 %x, the manifest says %s", sum, sh.IdxSHA256)})
		}
		if int64(len(ib)) != sh.IdxBytes {
			faults = append(faults, &Fault{File: sh.Idx(), Offset: min(int64(len(ib)), sh.IdxBytes), Problem: fmt.Sprintf("file is %d bytes, the manifest says %d", len(ib), sh.IdxBytes)})
		}
		x, err = parseIndex(ib)
		if err != nil {
			var f *Fault
			if errors.As(err, &f) {
				f.File = sh.Idx()
				faults = append(faults, f)
			}
		} else if f := scanIndex(x, m.DType, sh, sh.Bytes); f != nil {
			faults = append(faults, f)
		} else {
			idxOK = true
		}
	}
	binFaults, err := verifyBin(ctx, dir, m, sh, x, idxOK)
	return append(faults, binFaults...), err
}

// verifyBin streams a .bin block by block: length, per-block CRC-32C,
// sha256, token range, and (with a sound index) the end-of-text token at the
// end of every document.
func verifyBin(ctx context.Context, dir string, m Manifest, sh Shard, x index, idxOK bool) ([]*Fault, error) {
	f, err := storage.Open(ctx, storage.Join(dir, sh.Bin()))
	if storage.IsNotExist(err) {
		return []*Fault{{File: sh.Bin(), Offset: -1, Problem: "missing"}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", dir, err)
	}
	defer f.Close()
	var faults []*Fault
	add := func(off int64, format string, args ...any) {
		if len(faults) < maxFaultsPerFile {
			faults = append(faults, &Fault{File: sh.Bin(), Offset: off, Problem: fmt.Sprintf(format, args...)})
		}
	}
	size := f.Size()
	if size != sh.Bytes {
		add(min(size, sh.Bytes), "file is %d bytes, the manifest says %d", size, sh.Bytes)
	}
	blockSize := sh.BlockSize
	if blockSize <= 0 || blockSize%4 != 0 || blockSize > maxBlockSize {
		add(-1, "block_size %d in the manifest: want a positive multiple of 4 up to %d", sh.BlockSize, maxBlockSize)
		blockSize = BlockSize
	}
	width := int64(m.DType.Size())
	vocab := uint32(m.VocabSize)
	checkEOT := idxOK && m.EOT >= 0
	var doc int64    // next document whose end we look for
	var docEnd int64 // its last token's index (+1), in tokens
	nextDoc := func() {
		for doc < x.n {
			n := int64(x.size(doc))
			docEnd = x.pointer(doc)/width + n
			doc++
			if n > 0 {
				return
			}
		}
		docEnd = -1
	}
	if checkEOT {
		nextDoc()
	}
	h := sha256.New()
	buf := make([]byte, min(blockSize, max(size, 0)))
	r := io.NewSectionReader(f, 0, size)
	for block, off := int64(0), int64(0); off < size; block++ {
		if block%64 == 0 {
			if err := ctx.Err(); err != nil {
				return faults, err
			}
		}
		n, err := io.ReadFull(r, buf[:min(blockSize, size-off)])
		if err != nil {
			return faults, fmt.Errorf("verify %s: %w", sh.Bin(), err)
		}
		b := buf[:n]
		h.Write(b)
		if block < int64(len(sh.BlockCRC32C)) {
			if c := crc32.Checksum(b, castagnoli); c != sh.BlockCRC32C[block] {
				add(off, "bytes [%d, %d) do not match their checksum (crc32c %08x, want %08x)", off, off+int64(n), c, sh.BlockCRC32C[block])
			}
		} else {
			add(off, "block %d is not in the manifest's checksums", block)
		}
		first := off / width
		for i := int64(0); i+width <= int64(n); i += width {
			var t uint32
			if width == 2 {
				t = uint32(binary.LittleEndian.Uint16(b[i:]))
			} else {
				t = binary.LittleEndian.Uint32(b[i:])
			}
			if t >= vocab {
				add(off+i, "token %d is id %d, outside the vocabulary of %d ids", first+i/width, int32(t), vocab)
			}
			if checkEOT && docEnd == first+i/width+1 {
				if int32(t) != m.EOT {
					add(off+i, "document %d ends with id %d, not the end-of-text id %d", doc-1, int32(t), m.EOT)
				}
				nextDoc()
			}
		}
		off += int64(n)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != sh.SHA256 {
		add(-1, "sha256 %s, the manifest says %s", sum, sh.SHA256)
	}
	return faults, nil
}

func verifyLLMC(ctx context.Context, dir, rel string, dt DType, sh Shard) (*Fault, error) {
	f, err := storage.Open(ctx, storage.Join(dir, rel))
	if storage.IsNotExist(err) {
		return &Fault{File: rel, Offset: -1, Problem: "missing (the manifest lists it)"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", dir, err)
	}
	defer f.Close()
	h := make([]byte, llmcHeaderBytes)
	if _, err := f.ReadAt(h, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("verify %s: %w", rel, err)
	}
	gotDT, n, err := ParseLLMCHeader(h)
	switch {
	case err != nil:
		return &Fault{File: rel, Offset: 0, Problem: err.Error()}, nil
	case gotDT != dt:
		return &Fault{File: rel, Offset: 0, Problem: fmt.Sprintf("llm.c header is for %s tokens, the store holds %s", gotDT, dt)}, nil
	case n != sh.Tokens:
		return &Fault{File: rel, Offset: 8, Problem: fmt.Sprintf("llm.c header counts %d tokens, shard %s has %d", n, sh.Name, sh.Tokens)}, nil
	case f.Size() != llmcHeaderBytes+sh.Bytes:
		return &Fault{File: rel, Offset: min(f.Size(), llmcHeaderBytes+sh.Bytes), Problem: fmt.Sprintf("file is %d bytes, want %d", f.Size(), llmcHeaderBytes+sh.Bytes)}, nil
	}
	return nil, nil
}
