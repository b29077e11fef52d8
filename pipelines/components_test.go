package pipelines_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/curatehq/curate/pipelines"
)

// Test-only components, registered in the test binary alone.

func init() {
	pipelines.RegisterSource(pipelines.Spec{Name: "testgen", Doc: "generates n documents",
		Fields: []pipelines.Field{
			{Name: "n", Type: pipelines.Int, Default: 10, Min: pipelines.Bound(0), Doc: "documents"},
			{Name: "domain", Type: pipelines.String, Default: "default", Doc: "domain"},
			{Name: "prefix", Type: pipelines.String, Default: "doc", Doc: "text prefix"},
			{Name: "fail_at", Type: pipelines.Int, Default: -1, Doc: "fail at this document"},
		}}, func(p pipelines.Params, env *pipelines.Env) (pipelines.Source, error) {
		return &genSource{n: p.Int("n"), domain: p.String("domain"), prefix: p.String("prefix"), failAt: p.Int("fail_at"), b: pipelines.NewDocBuilder(env)}, nil
	})
	pipelines.RegisterStage(pipelines.Spec{Name: "test.upper", Doc: "upper-cases text (an editor)", Filter: true},
		func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) { return upper{env}, nil })
	pipelines.RegisterStage(pipelines.Spec{Name: "test.dropmod", Doc: "drops documents whose number is divisible by mod", Filter: true,
		Fields: []pipelines.Field{{Name: "mod", Type: pipelines.Int, Default: 2, Min: pipelines.Bound(1), Doc: "modulus"}}},
		func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
			return dropMod{mod: p.Int("mod"), env: env}, nil
		})
	pipelines.RegisterStage(pipelines.Spec{Name: "test.firstseen", Doc: "drops a text seen before (a sequencer)", Filter: true},
		func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
			return &firstSeen{seen: map[string]string{}, env: env}, nil
		})
	pipelines.RegisterStage(pipelines.Spec{Name: "test.panic", Doc: "panics on a text",
		Fields: []pipelines.Field{{Name: "on", Type: pipelines.String, Required: true, Doc: "text"}}},
		func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
			return panicker{p.String("on")}, nil
		})
	pipelines.RegisterBarrier(pipelines.Spec{Name: "test.reverse", Doc: "emits all documents in reverse order"},
		func(p pipelines.Params, env *pipelines.Env) (pipelines.Barrier, error) { return &reverse{}, nil })
	pipelines.RegisterSink(pipelines.Spec{Name: "testsink", Doc: "collects documents in memory",
		Fields: []pipelines.Field{{Name: "name", Type: pipelines.String, Required: true, Doc: "key in collected"}}},
		func(p pipelines.Params, env *pipelines.Env) (pipelines.Sink, error) {
			return &memSink{name: p.String("name")}, nil
		})
}

type genSource struct {
	n, i, failAt   int
	domain, prefix string
	b              *pipelines.DocBuilder
}

func (s *genSource) Next(ctx context.Context) (arrow.Record, error) {
	if s.i >= s.n {
		return nil, io.EOF
	}
	for s.i < s.n && !s.b.Full() {
		if s.i == s.failAt {
			return nil, fmt.Errorf("broken at %d", s.i)
		}
		s.b.Add(fmt.Sprintf("%s:%d", s.prefix, s.i), fmt.Sprintf("%s %d", s.prefix, s.i), "gen", s.domain)
		s.i++
	}
	return s.b.Build(), nil
}

func (s *genSource) Close() error { s.b.Release(); return nil }

type upper struct{ env *pipelines.Env }

func (u upper) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	t := pipelines.Texts(rec)
	out := make([]string, t.Len())
	for i := range out {
		out[i] = strings.ToUpper(t.Value(i))
	}
	return &pipelines.Result{Text: pipelines.NewStrings(u.env.Alloc, out)}, nil
}

func docNumber(s string) int {
	var n int
	fmt.Sscanf(s[strings.LastIndexByte(s, ' ')+1:], "%d", &n)
	return n
}

type dropMod struct {
	mod int
	env *pipelines.Env
}

func (d dropMod) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	t := pipelines.Texts(rec)
	res := &pipelines.Result{Drop: make([]string, t.Len())}
	nums := make([]int64, t.Len())
	for i := range res.Drop {
		n := docNumber(t.Value(i))
		nums[i] = int64(n)
		if n%d.mod == 0 {
			res.Drop[i] = "divisible"
		}
	}
	res.Columns = []pipelines.Column{{Name: "num", Array: pipelines.NewInts(d.env.Alloc, nums)}}
	return res, nil
}

type firstSeen struct {
	seen map[string]string
	env  *pipelines.Env
}

func (f *firstSeen) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	t := pipelines.Texts(rec)
	keys := make([]string, t.Len())
	for i := range keys {
		keys[i] = strings.Fields(t.Value(i))[0]
	}
	return &pipelines.Result{State: keys}, nil
}

func (f *firstSeen) Sequence(ctx context.Context, rec arrow.Record, res *pipelines.Result) error {
	keys := res.State.([]string)
	ids, _ := pipelines.StringCol(rec, pipelines.ColID)
	res.Drop = make([]string, len(keys))
	dupOf := make([]string, len(keys))
	for i, k := range keys {
		if first, ok := f.seen[k]; ok {
			res.Drop[i] = "seen"
			dupOf[i] = first
			continue
		}
		f.seen[k] = ids.Value(i)
	}
	res.Columns = append(res.Columns, pipelines.Column{Name: "dup_of", Array: pipelines.NewStrings(f.env.Alloc, dupOf)})
	return nil
}

// Snapshot and Restore make firstSeen resumable.
func (f *firstSeen) Snapshot(w io.Writer) error { return json.NewEncoder(w).Encode(f.seen) }
func (f *firstSeen) Restore(r io.Reader) error  { return json.NewDecoder(r).Decode(&f.seen) }

type panicker struct{ on string }

func (p panicker) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	t := pipelines.Texts(rec)
	for i := 0; i < t.Len(); i++ {
		if t.Value(i) == p.on {
			panic("boom on " + p.on)
		}
	}
	return nil, nil
}

type reverse struct{ recs []arrow.Record }

func (r *reverse) Absorb(ctx context.Context, rec arrow.Record) error {
	rec.Retain()
	r.recs = append(r.recs, rec)
	return nil
}

func (r *reverse) Emit(ctx context.Context, emit func(arrow.Record) error) error {
	defer func() {
		for _, rec := range r.recs {
			rec.Release()
		}
		r.recs = nil
	}()
	for i := len(r.recs) - 1; i >= 0; i-- {
		rec := r.recs[i]
		n := rec.NumRows()
		for j := n - 1; j >= 0; j-- {
			s := rec.NewSlice(j, j+1)
			err := emit(s)
			s.Release()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *reverse) Close() error {
	for _, rec := range r.recs {
		rec.Release()
	}
	r.recs = nil
	return nil
}

var (
	collectedMu sync.Mutex
	collected   = map[string]*memSink{}
)

type memSink struct {
	name    string
	rows    []map[string]string
	commits int
	closed  bool
	aborted bool
}

func (m *memSink) Write(ctx context.Context, rec arrow.Record) error {
	for r := 0; r < int(rec.NumRows()); r++ {
		row := map[string]string{}
		for c := 0; c < int(rec.NumCols()); c++ {
			col := rec.Column(c)
			if col.IsNull(r) {
				continue
			}
			row[rec.ColumnName(c)] = col.ValueStr(r)
		}
		m.rows = append(m.rows, row)
	}
	return nil
}

func (m *memSink) Commit(ctx context.Context) error { m.commits++; return nil }

// Snapshot and Restore make memSink resumable: its rows so far.
func (m *memSink) Snapshot(w io.Writer) error      { return json.NewEncoder(w).Encode(m.rows) }
func (m *memSink) Restore(r io.Reader) error       { return json.NewDecoder(r).Decode(&m.rows) }
func (m *memSink) Close(ctx context.Context) error { m.closed = true; m.save(); return nil }
func (m *memSink) Abort() error                    { m.aborted = true; m.save(); return nil }
func (m *memSink) save() {
	collectedMu.Lock()
	collected[m.name] = m
	collectedMu.Unlock()
}
