package store

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyFindsCorruption damages a good store in one way per case and
// checks that Verify names the file and the offset.
func TestVerifyFindsCorruption(t *testing.T) {
	// 700k tokens in one shard: a .bin of two 1 MiB blocks.
	c := corpus{}
	for i := 0; i < 70; i++ {
		doc := make([]int32, 9999)
		for j := range doc {
			doc[j] = int32((i*7 + j) % 50000)
		}
		c.docs = append(c.docs, doc)
		c.domains = append(c.domains, "web")
	}
	good := t.TempDir()
	m := writeCorpus(t, good, c, gpt2Opts(0))
	if len(m.Shards) != 1 || len(m.Shards[0].BlockCRC32C) != 2 {
		t.Fatalf("want one shard of two blocks, got %+v", m.Shards)
	}
	n := m.Shards[0].Documents
	ptrOff := int64(idxHeaderSize) + 4*n + 8*5 // pointer of sequence 5

	for _, tc := range []struct {
		name    string
		damage  func(dir string)
		file    string
		offset  int64
		problem string
	}{
		{"flipped bit in the second block", func(dir string) { flip(dir, "shard_00000.bin", 1100001) },
			"shard_00000.bin", 1 << 20, "do not match their checksum"},
		{"token outside the vocabulary", func(dir string) { put16(dir, "shard_00000.bin", 2*12345, 0xFFFF) },
			"shard_00000.bin", 2 * 12345, "outside the vocabulary"},
		{"missing end-of-text", func(dir string) { put16(dir, "shard_00000.bin", 2*(3*10000-1), 7) },
			"shard_00000.bin", 2 * (3*10000 - 1), "not the end-of-text id"},
		{"truncated bin", func(dir string) { os.Truncate(filepath.Join(dir, "shard_00000.bin"), 1000) },
			"shard_00000.bin", 1000, "the manifest says"},
		{"bad magic", func(dir string) { flip(dir, "shard_00000.idx", 2) },
			"shard_00000.idx", 0, "bad magic"},
		{"bad dtype code", func(dir string) { setByte(dir, "shard_00000.idx", offDType, 3) },
			"shard_00000.idx", int64(offDType), "dtype code 3"},
		{"bad pointer", func(dir string) { flip(dir, "shard_00000.idx", ptrOff) },
			"shard_00000.idx", ptrOff, "sequence 5 starts at byte"},
		{"bad length", func(dir string) { flip(dir, "shard_00000.idx", int64(idxHeaderSize)+4*2) },
			"shard_00000.idx", 0, ""}, // the length or the next pointer, either names the idx
		{"missing index", func(dir string) { os.Remove(filepath.Join(dir, "shard_00000.idx")) },
			"shard_00000.idx", -1, "missing"},
		{"missing tokenizer", func(dir string) { os.Remove(filepath.Join(dir, TokenizerFile)) },
			TokenizerFile, -1, "missing"},
		{"bad manifest", func(dir string) { os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"format":"x"}`), 0o644) },
			ManifestFile, -1, "format"},
		{"no manifest", func(dir string) { os.Remove(filepath.Join(dir, ManifestFile)) },
			ManifestFile, -1, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, good, dir)
			tc.damage(dir)
			faults, err := Verify(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(faults) == 0 {
				t.Fatal("no fault found")
			}
			for _, f := range faults {
				if f.File == tc.file && (tc.offset == 0 && tc.problem == "" || f.Offset == tc.offset) && strings.Contains(f.Problem, tc.problem) {
					return
				}
			}
			t.Fatalf("no fault %s at %d (%q) in %v", tc.file, tc.offset, tc.problem, faults)
		})
	}
	mustVerify(t, good)
}

func flip(dir, name string, off int64) {
	p := filepath.Join(dir, name)
	b, _ := os.ReadFile(p)
	b[off] ^= 0x40
	os.WriteFile(p, b, 0o644)
}

func setByte(dir, name string, off int, v byte) {
	p := filepath.Join(dir, name)
	b, _ := os.ReadFile(p)
	b[off] = v
	os.WriteFile(p, b, 0o644)
}

func put16(dir, name string, off int64, v uint16) {
	p := filepath.Join(dir, name)
	b, _ := os.ReadFile(p)
	binary.LittleEndian.PutUint16(b[off:], v)
	os.WriteFile(p, b, 0o644)
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	for _, f := range listDir(t, from) {
		b, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(to, f)), 0o755)
		if err := os.WriteFile(filepath.Join(to, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFaultString(t *testing.T) {
	for _, tc := range []struct {
		f    Fault
		want string
	}{
		{Fault{File: "shard_00001.bin", Offset: 42, Problem: "bad"}, "shard_00001.bin: offset 42: bad"},
		{Fault{File: "manifest.json", Offset: -1, Problem: "missing"}, "manifest.json: missing"},
		{Fault{Offset: -1, Problem: "x"}, "x"},
	} {
		if got := tc.f.Error(); got != tc.want {
			t.Errorf("%q, want %q", got, tc.want)
		}
	}
}

func TestVerifyHostileBlockSize(t *testing.T) {
	dir := t.TempDir()
	writeCorpus(t, dir, makeCorpus(1, 10, 20, 50257), gpt2Opts(0))
	p := filepath.Join(dir, ManifestFile)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), `"block_size": 1048576`, `"block_size": 1099511627776`, 1)), 0o644)
	faults, err := Verify(context.Background(), dir)
	if err != nil || len(faults) == 0 || !strings.Contains(faults[0].Problem, "block_size") {
		t.Fatalf("%v %v", err, faults)
	}
}
