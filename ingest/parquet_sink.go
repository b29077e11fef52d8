package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/curatehq/curate/pipelines"
)

func init() {
	pipelines.RegisterSink(pipelines.Spec{
		Name: "parquet",
		Doc:  "a directory of Parquet shards (part-00000.parquet) and manifest.json; every column but the token ids",
		Fields: []pipelines.Field{
			{Name: "path", Type: pipelines.String, Required: true, Doc: "output directory (local or s3://)"},
			{Name: "compression", Type: pipelines.String, Default: "snappy",
				Enum: []string{"none", "snappy", "gzip", "zstd"}, Doc: "page compression"},
			{Name: "shard_bytes", Type: pipelines.Size, Default: int64(256 << 20), Min: pipelines.Bound(1),
				Doc: "start a new shard once a shard holds this many bytes of (uncompressed) values"},
			{Name: "row_group_bytes", Type: pipelines.Size, Default: int64(64 << 20), Min: pipelines.Bound(1),
				Doc: "close a row group once it holds this many bytes of (uncompressed) values"},
		},
	}, newParquetSink)
}

// parquetSink writes documents into Parquet shards. A shard's schema is
// taken from the first batch written to it: every column but the token
// ids, all optional, strings as UTF8, integers as INT64, floats as DOUBLE,
// booleans as BOOLEAN and anything else as JSON text. A later batch that
// lacks some of the shard's columns gets nulls there; a batch with a new
// column or type starts a new shard. Parquet orders a group's columns by
// name.
type parquetSink struct {
	env       *pipelines.Env
	shards    shardSet
	codec     compress.Codec
	limit     int64
	groupSize int64

	w      *parquet.Writer
	layout []sinkCol // the open shard's columns, in schema (leaf) order
	raw    int64     // value bytes in the open shard
	group  int64     // value bytes in the open row group
	rows   []parquet.Row
}

// sinkCol is one column of a shard.
type sinkCol struct {
	name string
	kind byte // 's' string, 'i' integer, 'f' float, 'b' bool, 'j' JSON text
}

func newParquetSink(p pipelines.Params, env *pipelines.Env) (pipelines.Sink, error) {
	name := p.String("compression")
	var codec compress.Codec
	switch name {
	case "none":
		codec = &parquet.Uncompressed
	case "gzip":
		codec = &parquet.Gzip
	case "zstd":
		codec = &parquet.Zstd
	default:
		codec = &parquet.Snappy
	}
	s := &parquetSink{env: env, codec: codec, limit: p.Size("shard_bytes"), groupSize: p.Size("row_group_bytes")}
	s.shards = shardSet{dir: env.Path(p.String("path")), ext: ".parquet",
		man: Manifest{Format: "parquet", Compression: name}}
	return s, nil
}

func columnKind(t arrow.DataType) byte {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING:
		return 's'
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		return 'i'
	case arrow.FLOAT32, arrow.FLOAT64:
		return 'f'
	case arrow.BOOL:
		return 'b'
	}
	return 'j'
}

// layoutOf returns a batch's columns sorted by name (the Parquet order).
func layoutOf(schema *arrow.Schema) []sinkCol {
	var cols []sinkCol
	for _, i := range outputColumns(schema) {
		f := schema.Field(i)
		cols = append(cols, sinkCol{name: f.Name, kind: columnKind(f.Type)})
	}
	// parquet.Group sorts by name; sort the same way.
	for i := 1; i < len(cols); i++ {
		for j := i; j > 0 && cols[j].name < cols[j-1].name; j-- {
			cols[j], cols[j-1] = cols[j-1], cols[j]
		}
	}
	return cols
}

// fits reports whether a batch with layout l can go into the open shard,
// and maps each shard column to the batch's column index (-1: null).
func (s *parquetSink) fits(schema *arrow.Schema) ([]int, bool) {
	idx := make([]int, len(s.layout))
	seen := 0
	for k, c := range s.layout {
		idx[k] = -1
		if is := schema.FieldIndices(c.name); len(is) > 0 {
			if columnKind(schema.Field(is[0]).Type) != c.kind {
				return nil, false
			}
			idx[k] = is[0]
			seen++
		}
	}
	return idx, seen == len(outputColumns(schema))
}

func (s *parquetSink) open(ctx context.Context, rec arrow.Record) error {
	s.layout = layoutOf(rec.Schema())
	group := parquet.Group{}
	for _, c := range s.layout {
		var n parquet.Node
		switch c.kind {
		case 's':
			n = parquet.String()
		case 'i':
			n = parquet.Int(64)
		case 'f':
			n = parquet.Leaf(parquet.DoubleType)
		case 'b':
			n = parquet.Leaf(parquet.BooleanType)
		default:
			n = parquet.JSON()
		}
		group[c.name] = parquet.Optional(n)
	}
	o, err := s.shards.create(ctx)
	if err != nil {
		return fmt.Errorf("parquet sink: %w", err)
	}
	s.w = parquet.NewWriter(o, parquet.NewSchema("document", group), parquet.Compression(s.codec),
		parquet.CreatedBy("curate", "1", "0"))
	s.raw, s.group = 0, 0
	return nil
}

// Write appends the batch's rows to the shards.
func (s *parquetSink) Write(ctx context.Context, rec arrow.Record) error {
	n := int(rec.NumRows())
	var idx []int
	for i := 0; i < n; i++ {
		if s.w != nil && idx == nil {
			var ok bool
			if idx, ok = s.fits(rec.Schema()); !ok {
				if err := s.finishShard(); err != nil {
					return err
				}
				idx = nil
			}
		}
		if s.w == nil {
			if err := s.open(ctx, rec); err != nil {
				return err
			}
			idx, _ = s.fits(rec.Schema())
		}
		row, size := s.row(rec, idx, i)
		s.rows = append(s.rows, row)
		s.shards.open.docs++
		s.raw += size
		s.group += size
		if len(s.rows) >= 256 || s.group >= s.groupSize || s.raw >= s.limit {
			if err := s.flushRows(); err != nil {
				return err
			}
		}
		if s.group >= s.groupSize && s.raw < s.limit {
			if err := s.w.Flush(); err != nil {
				return s.writeErr(err)
			}
			s.group = 0
		}
		if s.raw >= s.limit {
			if err := s.finishShard(); err != nil {
				return err
			}
			idx = nil
		}
	}
	return s.flushRows()
}

// row converts one batch row to a Parquet row and its value bytes.
func (s *parquetSink) row(rec arrow.Record, idx []int, i int) (parquet.Row, int64) {
	row := make(parquet.Row, len(s.layout))
	var size int64
	for k, c := range s.layout {
		if idx[k] < 0 || rec.Column(idx[k]).IsNull(i) {
			row[k] = parquet.NullValue().Level(0, 0, k)
			continue
		}
		col := rec.Column(idx[k])
		var v parquet.Value
		switch c.kind {
		case 's':
			var str string
			switch a := col.(type) {
			case *array.String:
				str = a.Value(i)
			case *array.LargeString:
				str = a.Value(i)
			}
			v = parquet.ByteArrayValue([]byte(str))
			size += int64(len(str))
		case 'i':
			v = parquet.Int64Value(intValue(col, i))
			size += 8
		case 'f':
			var f float64
			switch a := col.(type) {
			case *array.Float64:
				f = a.Value(i)
			case *array.Float32:
				f = float64(a.Value(i))
			}
			v = parquet.DoubleValue(f)
			size += 8
		case 'b':
			v = parquet.BooleanValue(col.(*array.Boolean).Value(i))
			size++
		default:
			data, err := json.Marshal(col.GetOneForMarshal(i))
			if err != nil {
				row[k] = parquet.NullValue().Level(0, 0, k)
				continue
			}
			v = parquet.ByteArrayValue(data)
			size += int64(len(data))
		}
		row[k] = v.Level(0, 1, k)
	}
	return row, size
}

func intValue(col arrow.Array, i int) int64 {
	switch a := col.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int8:
		return int64(a.Value(i))
	case *array.Uint64:
		return int64(min(a.Value(i), math.MaxInt64))
	case *array.Uint32:
		return int64(a.Value(i))
	case *array.Uint16:
		return int64(a.Value(i))
	case *array.Uint8:
		return int64(a.Value(i))
	}
	return 0
}

func (s *parquetSink) flushRows() error {
	if len(s.rows) == 0 {
		return nil
	}
	if _, err := s.w.WriteRows(s.rows); err != nil {
		return s.writeErr(err)
	}
	clear(s.rows)
	s.rows = s.rows[:0]
	return nil
}

func (s *parquetSink) writeErr(err error) error {
	name := ""
	if s.shards.open != nil {
		name = s.shards.open.name
	}
	return fmt.Errorf("parquet sink: write %s: %w", strings.TrimSuffix(s.shards.dir, "/")+"/"+name, err)
}

func (s *parquetSink) finishShard() error {
	if s.w == nil {
		return nil
	}
	if err := s.flushRows(); err != nil {
		return err
	}
	if err := s.w.Close(); err != nil {
		return s.writeErr(err)
	}
	s.w = nil
	if err := s.shards.commit(); err != nil {
		return fmt.Errorf("parquet sink: %w", err)
	}
	return nil
}

// Commit closes the open shard so that everything written is durable.
func (s *parquetSink) Commit(ctx context.Context) error { return s.finishShard() }

// Close commits the last shard and writes manifest.json.
func (s *parquetSink) Close(ctx context.Context) error {
	if err := s.finishShard(); err != nil {
		return err
	}
	if err := s.shards.writeManifest(ctx); err != nil {
		return fmt.Errorf("parquet sink: %w", err)
	}
	return nil
}

// Abort removes the shard being written; committed shards stay.
func (s *parquetSink) Abort() error {
	s.w = nil
	s.rows = s.rows[:0]
	return s.shards.abort()
}
