package dedup

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/dedup/internal/neardup"
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

func newMinHash(t testing.TB, env *pipelines.Env, v map[string]any) *MinHash {
	t.Helper()
	m, err := NewMinHash(params(t, minhashSpec, v), env)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func finish(t testing.TB, f pipelines.Finisher) {
	t.Helper()
	if err := f.Finish(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestMinHashQuality(t *testing.T) {
	dir := pipelinetest.SharedData(t)
	sents, err := neardup.Sentences(dir + "/text")
	if err != nil {
		t.Fatal(err)
	}
	n := 3000
	if testing.Short() {
		n = 800
	}
	gen := neardup.Generate(sents, n, 7)
	truth := neardup.BestEarlier(gen, 5)
	docs := make([]pipelinetest.Doc, len(gen))
	for i, d := range gen {
		docs[i] = pipelinetest.Doc{ID: d.ID, Text: d.Text}
	}
	for _, tc := range []struct{ name, scheme, verify string }{
		{"one_permutation", "one_permutation", "signature"},
		{"classic", "classic", "signature"},
		{"verify_shingles", "one_permutation", "shingles"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer alloc.AssertSize(t, 0)
			m := newMinHash(t, testEnv(t, alloc), map[string]any{"signature": tc.scheme, "verify": tc.verify})
			out := streamDocs(t, m, alloc, docs, 256, 2)
			finish(t, m)
			checkQuality(t, gen, truth, out)
		})
	}
}

func checkQuality(t *testing.T, gen []neardup.Doc, truth []float64, out []outcome) {
	t.Helper()
	var high, highDropped, low, lowKept int
	for i, o := range out {
		switch {
		case truth[i] >= 0.85:
			high++
			if o.drop != "" {
				highDropped++
			} else {
				t.Logf("missed %s (%s) J=%.3f", gen[i].ID, gen[i].Kind, truth[i])
			}
		case truth[i] < 0.6:
			low++
			if o.drop == "" {
				lowKept++
			} else {
				t.Logf("wrongly dropped %s (%s) J=%.3f dup_of %s", gen[i].ID, gen[i].Kind, truth[i], o.dupOf)
			}
		}
	}
	recall, keep := float64(highDropped)/float64(high), float64(lowKept)/float64(low)
	t.Logf("J>=0.85: %d/%d removed (%.4f); J<0.6: %d/%d kept (%.4f)", highDropped, high, recall, lowKept, low, keep)
	if recall < 0.97 || keep < 0.995 {
		t.Errorf("quality below target: removed %.4f (want >= 0.97), kept %.4f (want >= 0.995)", recall, keep)
	}
}

// words returns a deterministic text of n distinct-ish words.
func words(seed, n int) string {
	var b strings.Builder
	x := uint64(seed)*0x9E3779B97F4A7C15 + 1
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		fmt.Fprintf(&b, "w%d ", x%50000)
	}
	return b.String()
}

// mutate replaces every k-th word.
func mutate(text string, every int) string {
	f := strings.Fields(text)
	for i := every / 2; i < len(f); i += every {
		f[i] = "CHANGED" + f[i]
	}
	return strings.Join(f, " ")
}

func TestMinHashPairs(t *testing.T) {
	a := words(1, 400)
	cases := []struct {
		name  string
		texts []string
		drop  []bool
	}{
		{"exact copy", []string{a, a}, []bool{false, true}},
		{"case and spacing", []string{a, strings.ToUpper(strings.ReplaceAll(a, " ", "\n  "))}, []bool{false, true}},
		{"one change in 200 words", []string{a, mutate(a, 200)}, []bool{false, true}},
		{"distinct texts", []string{a, words(2, 400), words(3, 400)}, []bool{false, false, false}},
		{"every 5th word changed", []string{a, mutate(a, 5)}, []bool{false, false}},
		{"short texts", []string{"hello world", "hello world", "hello there"}, []bool{false, true, false}},
		{"empty texts", []string{"", "", "x"}, []bool{false, true, false}},
		{"CJK copy with one change", []string{cjk(1, 300), cjk(1, 300) + "。", cjk(2, 300)}, []bool{false, true, false}},
		{"chain A~B~C", chain(), []bool{false, true, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer alloc.AssertSize(t, 0)
			m := newMinHash(t, testEnv(t, alloc), nil)
			out := streamDocs(t, m, alloc, textDocs(tc.texts...), 2, 1)
			finish(t, m)
			for i, o := range out {
				if (o.drop != "") != tc.drop[i] {
					t.Errorf("doc %d: dropped=%q, want drop %v", i, o.drop, tc.drop[i])
				}
				if tc.drop[i] && (o.drop != ReasonNearDuplicate || o.dupOf == "") {
					t.Errorf("doc %d: reason %q dup_of %q", i, o.drop, o.dupOf)
				}
			}
		})
	}
}

// cjk builds a text of n Han characters without spaces.
func cjk(seed, n int) string {
	var b strings.Builder
	x := uint64(seed)*0x9E3779B97F4A7C15 + 7
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b.WriteRune(rune(0x4E00 + x%2000))
	}
	return b.String()
}

// chain returns A, B ~ A, C ~ B where C is not similar enough to A: C is
// dropped because of B although B itself was dropped.
func chain() []string {
	base := strings.Fields(words(9, 600))
	a := strings.Join(base[0:500], " ")
	b := strings.Join(base[40:540], " ")
	c := strings.Join(base[80:580], " ")
	return []string{a, b, c}
}

func TestMinHashChainDupOf(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer alloc.AssertSize(t, 0)
	m := newMinHash(t, testEnv(t, alloc), nil)
	docs := textDocs(chain()...)
	docs[0].ID, docs[1].ID, docs[2].ID = "A", "B", "C"
	out := streamDocs(t, m, alloc, docs, 3, 1)
	finish(t, m)
	if out[1].dupOf != "A" || out[2].dupOf != "B" {
		t.Errorf("dup_of = %q, %q; want A, B", out[1].dupOf, out[2].dupOf)
	}
}

func corpusDocs(t testing.TB, n int) []pipelinetest.Doc {
	dir := pipelinetest.SharedData(t)
	sents, err := neardup.Sentences(dir + "/text")
	if err != nil {
		t.Fatal(err)
	}
	gen := neardup.Generate(sents, n, 3)
	docs := make([]pipelinetest.Doc, len(gen))
	for i, d := range gen {
		docs[i] = pipelinetest.Doc{ID: d.ID, Text: d.Text}
	}
	return docs
}

// docsBytes is the text size of docs, for b.SetBytes.
func docsBytes(docs []pipelinetest.Doc) int64 {
	var n int64
	for _, d := range docs {
		n += int64(len(d.Text))
	}
	return n
}

func TestMinHashDeterministicAcrossWorkersAndBudgets(t *testing.T) {
	docs := corpusDocs(t, 1500)
	for _, verify := range []string{"signature", "shingles"} {
		t.Run(verify, func(t *testing.T) { checkDeterministic(t, docs, verify) })
	}
}

func checkDeterministic(t *testing.T, docs []pipelinetest.Doc, verify string) {
	var want []outcome
	for _, tc := range []struct {
		workers, batch int
		budget         int64
	}{{1, 100, 1 << 30}, {4, 37, 1 << 30}, {3, 64, 1}, {2, 500, 64 << 10}} {
		alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
		env := testEnv(t, alloc)
		env.Memory = pipelines.NewBudget(tc.budget)
		m := newMinHash(t, env, map[string]any{"verify": verify})
		got := streamDocs(t, m, alloc, docs, tc.batch, tc.workers)
		spilled := len(m.idx.spilled)
		finish(t, m)
		alloc.AssertSize(t, 0)
		if tc.budget < 1<<20 && spilled == 0 {
			t.Errorf("budget %d: the index never spilled", tc.budget)
		}
		if env.Memory.Used() != 0 {
			t.Errorf("budget %d: %d bytes still reserved after Finish", tc.budget, env.Memory.Used())
		}
		if want == nil {
			want = got
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("workers %d batch %d budget %d: doc %d = %+v, want %+v", tc.workers, tc.batch, tc.budget, i, got[i], want[i])
			}
		}
	}
}

func TestMinHashIncremental(t *testing.T) {
	docs := corpusDocs(t, 1200)
	for _, verify := range []string{"signature", "shingles"} {
		t.Run(verify, func(t *testing.T) { checkIncremental(t, docs, verify) })
	}
}

func checkIncremental(t *testing.T, docs []pipelinetest.Doc, verify string) {
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer alloc.AssertSize(t, 0)
	index := t.TempDir() + "/sub/minhash.idx"
	v := map[string]any{"verify": verify}
	vi := map[string]any{"verify": verify, "index": index}

	// one run over everything
	whole := newMinHash(t, testEnv(t, alloc), v)
	want := streamDocs(t, whole, alloc, docs, 100, 2)
	finish(t, whole)

	// two runs: the first half, then the second against the saved index
	for _, budget := range []int64{1 << 30, 1} {
		env := testEnv(t, alloc)
		env.Memory = pipelines.NewBudget(budget)
		first := newMinHash(t, env, vi)
		got := streamDocs(t, first, alloc, docs[:600], 100, 2)
		finish(t, first)
		second := newMinHash(t, env, vi)
		if second.loaded != 600 {
			t.Fatalf("loaded %d documents from the index, want 600", second.loaded)
		}
		got = append(got, streamDocs(t, second, alloc, docs[600:], 100, 2)...)
		finish(t, second)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("budget %d: doc %d = %+v in two runs, %+v in one", budget, i, got[i], want[i])
			}
		}
		if err := os.Remove(index); err != nil {
			t.Fatal(err)
		}
	}

	// a mismatched index is refused with a clear error
	m := newMinHash(t, testEnv(t, alloc), vi)
	streamDocs(t, m, alloc, docs[:10], 10, 1)
	finish(t, m)
	_, err := NewMinHash(params(t, minhashSpec, map[string]any{"verify": verify, "index": index, "ngram": 3}), testEnv(t, alloc))
	if err == nil || !strings.Contains(err.Error(), "ngram=5") {
		t.Errorf("mismatched index: err = %v", err)
	}
	other := map[string]string{"signature": "shingles", "shingles": "signature"}[verify]
	_, err = NewMinHash(params(t, minhashSpec, map[string]any{"verify": other, "index": index}), testEnv(t, alloc))
	if err == nil || !strings.Contains(err.Error(), "verify="+verify) {
		t.Errorf("index of verify: %s opened with verify: %s: err = %v", verify, other, err)
	}
}

func TestMinHashSnapshotRestore(t *testing.T) {
	docs := corpusDocs(t, 400)
	for _, verify := range []string{"signature", "shingles"} {
		t.Run(verify, func(t *testing.T) { checkSnapshotRestore(t, docs, verify) })
	}
}

func checkSnapshotRestore(t *testing.T, docs []pipelinetest.Doc, verify string) {
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer alloc.AssertSize(t, 0)
	v := map[string]any{"verify": verify}
	a := newMinHash(t, testEnv(t, alloc), v)
	want := streamDocs(t, a, alloc, docs, 50, 1)
	b := newMinHash(t, testEnv(t, alloc), v)
	got := streamDocs(t, b, alloc, docs[:200], 50, 1)
	var snap bytes.Buffer
	if err := b.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	finish(t, b)
	c := newMinHash(t, testEnv(t, alloc), v)
	if err := c.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	got = append(got, streamDocs(t, c, alloc, docs[200:], 50, 1)...)
	finish(t, c)
	finish(t, a)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("doc %d = %+v after restore, want %+v", i, got[i], want[i])
		}
	}
	if err := c.Restore(strings.NewReader("garbage")); err == nil {
		t.Error("Restore accepted garbage")
	}
}

func TestMinHashBadParams(t *testing.T) {
	_, err := NewMinHash(params(t, minhashSpec, map[string]any{"permutations": 100, "bands": 14}), testEnv(t, nil))
	if err == nil || !strings.Contains(err.Error(), "must divide") {
		t.Errorf("err = %v", err)
	}
	if got := minhashSpec.MemoryPerDoc(params(t, minhashSpec, nil)); got > 256 {
		t.Errorf("MemoryPerDoc = %d, want <= 256", got)
	}
}

func BenchmarkMinHashStage(b *testing.B) {
	docs := corpusDocs(b, 2000)
	size := docsBytes(docs)
	for _, verify := range []string{"signature", "shingles"} {
		b.Run(verify, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				m := newMinHash(b, testEnv(b, nil), map[string]any{"verify": verify})
				streamDocs(b, m, memory.DefaultAllocator, docs, 256, 2)
				finish(b, m)
			}
		})
	}
}

// FuzzIndexRestore feeds arbitrary bytes to both index readers: a bad file
// is an error, never a panic.
func FuzzIndexRestore(f *testing.F) {
	m := newMinHash(f, testEnv(f, nil), nil)
	streamDocs(f, m, memory.DefaultAllocator, textDocs("a b c d e f", "x y z"), 2, 1)
	var snap bytes.Buffer
	m.Snapshot(&snap)
	finish(f, m)
	e := newExact(f, testEnv(f, nil), nil)
	streamDocs(f, e, memory.DefaultAllocator, textDocs("a", "b"), 2, 1)
	var esnap bytes.Buffer
	e.Snapshot(&esnap)
	finish(f, e)
	s := newMinHash(f, testEnv(f, nil), map[string]any{"verify": "shingles"})
	streamDocs(f, s, memory.DefaultAllocator, textDocs("a b c d e f", "x y z"), 2, 1)
	var ssnap bytes.Buffer
	s.Snapshot(&ssnap)
	finish(f, s)
	f.Add(snap.Bytes())
	f.Add(esnap.Bytes())
	f.Add(ssnap.Bytes())
	f.Add([]byte(minhashMagic + "{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		env := testEnv(t, nil)
		m := newMinHash(t, env, nil)
		m.Restore(bytes.NewReader(data))
		m.Close()
		s := newMinHash(t, env, map[string]any{"verify": "shingles"})
		if s.Restore(bytes.NewReader(data)) == nil && len(s.idx.sets.ends) != int(s.idx.total) {
			t.Errorf("restored %d documents but %d shingle sets", s.idx.total, len(s.idx.sets.ends))
		}
		s.Close()
		e := newExact(t, env, nil)
		e.Restore(bytes.NewReader(data))
		e.Close()
	})
}
