package dedup

import (
	"context"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines/storage"
	_ "github.com/curatehq/curate/pipelines/storage/s3"
	"github.com/curatehq/curate/pipelines/storage/s3/s3test"
)

// TestS3 keeps the incremental indexes and the evaluation sets on a real
// MinIO server (skipped without one unless CURATE_TEST_S3=1).
func TestS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	bucket := srv.Bucket("dedup")
	docs := corpusDocs(t, 400)
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer alloc.AssertSize(t, 0)

	whole := newMinHash(t, testEnv(t, alloc), nil)
	want := streamDocs(t, whole, alloc, docs, 50, 2)
	finish(t, whole)
	index := bucket + "/indexes/minhash.idx"
	first := newMinHash(t, testEnv(t, alloc), map[string]any{"index": index})
	got := streamDocs(t, first, alloc, docs[:200], 50, 2)
	finish(t, first)
	second := newMinHash(t, testEnv(t, alloc), map[string]any{"index": index})
	got = append(got, streamDocs(t, second, alloc, docs[200:], 50, 2)...)
	finish(t, second)
	if !reflect.DeepEqual(got, want) {
		t.Error("minhash through an s3 index differs from one run")
	}

	exIndex := bucket + "/indexes/exact.idx"
	e1 := newExact(t, testEnv(t, alloc), map[string]any{"index": exIndex})
	streamDocs(t, e1, alloc, textDocs("a", "b"), 2, 1)
	finish(t, e1)
	e2 := newExact(t, testEnv(t, alloc), map[string]any{"index": exIndex})
	out := streamDocs(t, e2, alloc, textDocs("b", "c"), 2, 1)
	finish(t, e2)
	if out[0].dupOf != "doc:1" || out[1].drop != "" {
		t.Errorf("exact through an s3 index: %+v", out)
	}

	eval := bucket + "/evals/quiz.jsonl"
	q := "one two three four five six seven eight nine ten eleven twelve thirteen"
	if err := storage.WriteFile(context.Background(), eval, []byte(`{"text": "`+q+`"}`+"\n")); err != nil {
		t.Fatal(err)
	}
	d, err := NewDecontaminate(t.Context(), params(t, decontaminateSpec, map[string]any{"against": bucket + "/evals/*.jsonl"}), testEnv(t, alloc))
	if err != nil {
		t.Fatal(err)
	}
	out = streamDocs(t, d, alloc, textDocs("x "+q, "y"), 2, 1)
	if out[0].drop != ReasonContaminated || out[1].drop != "" {
		t.Errorf("decontaminate against s3: %+v", out)
	}
}
