package tokens

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/tokenize/store"
)

// planned is one document as Plan sees it.
type planned struct {
	batch, row int
	tokens     int64
	val        bool
}

// TestPlanEqualsWrite checks the exports curate-beam builds its parallel
// write on: Plan and PlanTokens give every document the size and store
// Write gives it, and a store written shard by shard (each shard by its own
// sink into a private folder, from the batches carrying PlanTokens' ids as
// curate-beam writes them, cut by the store's rule over the sizes) and
// finished with RestoreStores + Close is byte-identical to the sink's own
// output.
func TestPlanEqualsWrite(t *testing.T) {
	ctx := context.Background()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	recs := corpusBatches(t, mem, 600, 100)
	tok := gpt2(t)
	texts := corpusTexts(t, 600)
	for _, k := range []int{1, 3} { // tokenize.encode's ids on some rows
		ids := make([][]int32, recs[k].NumRows())
		for i := range ids {
			if i%3 != 0 {
				ids[i] = tok.Encode([]int32{}, texts[100*k+i])
			}
		}
		with := withTokens(mem, recs[k], ids)
		recs[k].Release()
		recs[k] = with
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	params := map[string]any{"path": "out", "val_fraction": 0.2, "shard_tokens": 4000, "llmc": true}
	dir := t.TempDir()
	writeAll(t, newSink(t, pipelines.TestEnv(mem, dir), params), recs)

	planner := newSink(t, pipelines.TestEnv(mem, t.TempDir()), params)
	defer planner.Abort()
	var docs, fromPlan []planned
	withIDs := make([]arrow.Record, len(recs)) // each batch with PlanTokens' ids, as curate-beam writes it
	defer func() {
		for _, r := range withIDs {
			r.Release()
		}
	}()
	for b, r := range recs {
		if err := planner.Plan(ctx, r, func(row int, n int64, val bool) {
			fromPlan = append(fromPlan, planned{b, row, n, val})
		}); err != nil {
			t.Fatal(err)
		}
		col, err := planner.PlanTokens(ctx, mem, r, func(row int, n int64, val bool) {
			docs = append(docs, planned{b, row, n, val})
		})
		if err != nil {
			t.Fatal(err)
		}
		if col == nil {
			t.Fatalf("batch %d: PlanTokens gave no ids for a batch that needs encoding", b)
		}
		withIDs[b], _, err = pipelines.Apply(ctx, mem, "ids", r,
			&pipelines.Result{Columns: []pipelines.Column{{Name: pipelines.ColTokens, Array: col}}}, false)
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(docs) != 600 || !slices.Equal(docs, fromPlan) {
		t.Fatalf("PlanTokens saw %d documents, Plan %d (want 600 each, the same)", len(docs), len(fromPlan))
	}
	// A batch whose ids all come from tokenize.encode needs no column.
	col, err := planner.PlanTokens(ctx, mem, withIDs[0], func(int, int64, bool) {})
	if err != nil || col != nil {
		t.Fatalf("PlanTokens on a batch with every id: column %v, error %v; want none", col, err)
	}

	// Plan's sizes and stores are the written ones.
	for _, val := range []bool{false, true} {
		path := filepath.Join(dir, "out")
		if val {
			path = filepath.Join(path, store.ValDir)
		}
		st, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var i int64
		for _, d := range docs {
			if d.val != val {
				continue
			}
			if i >= st.NumDocs() || int64(len(st.Doc(i))) != d.tokens {
				t.Fatalf("val=%v: document %d of batch %d: Plan says %d tokens, the store differs", val, d.row, d.batch, d.tokens)
			}
			i++
		}
		if i != st.NumDocs() || i == 0 {
			t.Fatalf("val=%v: Plan puts %d documents in a store of %d", val, i, st.NumDocs())
		}
		st.Close()
	}

	// The store's rule over Plan's sizes: a shard ends before a document
	// that would take a non-empty shard past shard_tokens.
	limit := planner.ShardTokens()
	type key struct {
		val   bool
		shard int
	}
	shardOf := make([]key, len(docs))
	var cur [2]int64
	var shard [2]int
	for i, d := range docs {
		v := 0
		if d.val {
			v = 1
		}
		if cur[v] > 0 && cur[v]+d.tokens > limit {
			shard[v], cur[v] = shard[v]+1, 0
		}
		cur[v] += d.tokens
		shardOf[i] = key{d.val, shard[v]}
	}
	if shard[0] < 3 || shard[1] < 1 {
		t.Fatalf("want several shards in both stores, got %d and %d", shard[0]+1, shard[1]+1)
	}

	// Each shard written alone, then renamed into the final folder.
	final := t.TempDir()
	states := [2]store.State{{Domains: map[string]store.Counts{}}, {Domains: map[string]store.Counts{}}}
	for v := range 2 {
		for k := 0; k <= shard[v]; k++ {
			want := key{v == 1, k}
			priv := t.TempDir()
			s := newSink(t, pipelines.TestEnv(mem, priv), params)
			for b, r := range withIDs { // Write reads the ids, encodes nothing
				drop := make([]string, r.NumRows())
				has := false
				for i, d := range docs {
					if d.batch == b {
						if shardOf[i] == want {
							has = true
						} else {
							drop[d.row] = "x"
						}
					}
				}
				if !has {
					continue
				}
				part, _, err := pipelines.Apply(ctx, mem, "select", r, &pipelines.Result{Drop: drop}, false)
				if err != nil {
					t.Fatal(err)
				}
				err = s.Write(ctx, part)
				part.Release()
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(ctx); err != nil {
				t.Fatal(err)
			}
			from, to := filepath.Join(priv, "out"), filepath.Join(final, "out")
			if v == 1 {
				from, to = filepath.Join(from, store.ValDir), filepath.Join(to, store.ValDir)
			}
			m, err := store.ReadManifest(ctx, from)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Shards) != 1 {
				t.Fatalf("shard %v came out as %d shards", want, len(m.Shards))
			}
			sh := m.Shards[0]
			name := fmt.Sprintf("shard_%05d", k)
			os.MkdirAll(filepath.Join(to, store.LLMCDir), 0o755)
			for _, f := range [][2]string{{sh.Bin(), name + ".bin"}, {sh.Idx(), name + ".idx"},
				{store.LLMCDir + "/" + sh.Bin(), store.LLMCDir + "/" + name + ".bin"}} {
				if err := os.Rename(filepath.Join(from, f[0]), filepath.Join(to, f[1])); err != nil {
					t.Fatal(err)
				}
			}
			sh.Name = name
			st := &states[v]
			st.Shards = append(st.Shards, sh)
			st.LLMC = append(st.LLMC, store.LLMCDir+"/"+name+".bin")
			st.Next++
			for d, c := range m.Domains {
				sum := st.Domains[d]
				sum.Documents += c.Documents
				sum.Tokens += c.Tokens
				st.Domains[d] = sum
			}
		}
	}
	s := newSink(t, pipelines.TestEnv(mem, final), params)
	if err := s.RestoreStores(states[0], &states[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want, got := readTree(t, filepath.Join(dir, "out")), readTree(t, filepath.Join(final, "out"))
	names := func(m map[string][]byte) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(names(want), names(got)) {
		t.Fatalf("files differ:\nlocal %v\nshard by shard %v", names(want), names(got))
	}
	for name, b := range want {
		if string(got[name]) != string(b) {
			t.Errorf("%s differs (%d and %d bytes)", name, len(b), len(got[name]))
		}
	}
}
