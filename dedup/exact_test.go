package dedup

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/pipelinetest"
)

func newExact(t testing.TB, env *pipelines.Env, v map[string]any) *Exact {
	t.Helper()
	e, err := NewExact(params(t, exactSpec, v), env)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestExact(t *testing.T) {
	cases := []struct {
		name   string
		params map[string]any
		texts  []string
		dupOf  []string // "" kept, else the id of the earlier document
	}{
		{"copies", nil, []string{"a b", "c", "a b", "a b"}, []string{"", "", "doc:0", "doc:0"}},
		{"case and spaces by default", nil, []string{"Hello  World", " hello world\n"}, []string{"", "doc:0"}},
		{"case kept", map[string]any{"lowercase": false}, []string{"Hello", "hello"}, []string{"", ""}},
		{"whitespace kept", map[string]any{"whitespace": false}, []string{"a b", "a  b"}, []string{"", ""}},
		{"punctuation", map[string]any{"punctuation": true}, []string{"Hi, you!", "hi you", "hi, me"}, []string{"", "doc:0", ""}},
		{"digits", map[string]any{"digits": true}, []string{"call 555-1234", "call 555-9876"}, []string{"", "doc:0"}},
		{"nfkc", map[string]any{"nfkc": true}, []string{"ﬁnal ＡＢＣ", "final abc"}, []string{"", "doc:0"}},
		{"no nfkc", nil, []string{"ﬁnal", "final"}, []string{"", ""}},
		{"empty texts", nil, []string{"", " ", "x"}, []string{"", "doc:0", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer alloc.AssertSize(t, 0)
			e := newExact(t, testEnv(t, alloc), tc.params)
			out := streamDocs(t, e, alloc, textDocs(tc.texts...), 3, 2)
			finish(t, e)
			for i, o := range out {
				if o.dupOf != tc.dupOf[i] || (o.drop != "") != (tc.dupOf[i] != "") {
					t.Errorf("doc %d: drop %q dup_of %q, want dup_of %q", i, o.drop, o.dupOf, tc.dupOf[i])
				}
			}
		})
	}
}

func TestExactKeyColumn(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer alloc.AssertSize(t, 0)
	e := newExact(t, testEnv(t, alloc), map[string]any{"key": "url"})
	docs := []pipelinetest.Doc{
		{ID: "a", Text: "one", Extra: map[string]any{"url": "http://x/1"}},
		{ID: "b", Text: "two", Extra: map[string]any{"url": "http://x/2"}},
		{ID: "c", Text: "three", Extra: map[string]any{"url": "http://x/1"}},
		{ID: "d", Text: "one", Extra: map[string]any{"url": nil}},
		{ID: "e", Text: "one", Extra: map[string]any{"url": nil}},
	}
	out := streamDocs(t, e, alloc, docs, 5, 1)
	finish(t, e)
	want := []string{"", "", "a", "", ""}
	for i, o := range out {
		if o.dupOf != want[i] {
			t.Errorf("doc %s: dup_of %q, want %q", docs[i].ID, o.dupOf, want[i])
		}
	}
	e2 := newExact(t, testEnv(t, alloc), map[string]any{"key": "nope"})
	rec := pipelinetest.Texts(alloc, "x")
	defer rec.Release()
	if _, err := e2.Process(t.Context(), rec); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing key column: err = %v", err)
	}
	finish(t, e2)
}

func TestExactSpillIncrementalSnapshot(t *testing.T) {
	var texts []string
	for i := 0; i < 5000; i++ {
		texts = append(texts, words(i%3000, 12))
	}
	docs := textDocs(texts...)
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer alloc.AssertSize(t, 0)
	whole := newExact(t, testEnv(t, alloc), nil)
	want := streamDocs(t, whole, alloc, docs, 128, 2)
	finish(t, whole)
	dropped := 0
	for _, o := range want {
		if o.drop != "" {
			dropped++
		}
	}
	if dropped != 2000 {
		t.Fatalf("dropped %d, want 2000", dropped)
	}

	index := t.TempDir() + "/exact.idx"
	env := testEnv(t, alloc)
	env.Memory = pipelines.NewBudget(1) // every segment spills
	first := newExact(t, env, map[string]any{"index": index})
	got := streamDocs(t, first, alloc, docs[:2500], 128, 2)
	if len(first.idx.spilled) == 0 {
		t.Error("the exact index never spilled under a 1-byte budget")
	}
	var snap bytes.Buffer
	if err := first.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	finish(t, first)
	second := newExact(t, env, map[string]any{"index": index})
	got = append(got, streamDocs(t, second, alloc, docs[2500:], 128, 2)...)
	finish(t, second)
	third := newExact(t, testEnv(t, alloc), nil)
	if err := third.Restore(&snap); err != nil {
		t.Fatal(err)
	}
	again := streamDocs(t, third, alloc, docs[2500:], 128, 1)
	finish(t, third)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("doc %d = %+v incrementally, %+v in one run", i, got[i], want[i])
		}
		if i >= 2500 && again[i-2500] != want[i] {
			t.Fatalf("doc %d = %+v after restore, %+v in one run", i, again[i-2500], want[i])
		}
	}
	if _, err := NewExact(params(t, exactSpec, map[string]any{"index": index, "lowercase": false}), testEnv(t, alloc)); err == nil {
		t.Error("an index built with other normalization was accepted")
	}
	os.WriteFile(index, []byte("curate dedup.exact index v1\n{bad"), 0o644)
	if _, err := NewExact(params(t, exactSpec, map[string]any{"index": index}), testEnv(t, alloc)); err == nil {
		t.Error("a corrupt index was accepted")
	}
}

func BenchmarkExact(b *testing.B) {
	docs := corpusDocs(b, 3000)
	size := docsBytes(docs)
	b.SetBytes(size)
	for b.Loop() {
		e := newExact(b, testEnv(b, nil), nil)
		streamDocs(b, e, memory.DefaultAllocator, docs, 256, 1)
		finish(b, e)
	}
}
