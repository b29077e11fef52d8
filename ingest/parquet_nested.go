package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// pqNested reads the nested top-level fields of a file (groups, lists,
// maps, repeated leaves): the one place where the parquet source still
// builds rows, since a nested value has to be reassembled from its leaves'
// repetition and definition levels before it can become JSON text. It
// reads a projection of the row group that holds only those fields, so the
// flat columns (the text above all) are not decoded twice; a file whose
// projection parquet-go cannot build is read through whole rows instead.
type pqNested struct {
	schema *parquet.Schema // what rows are reconstructed with
	conv   parquet.Conversion
	names  []string // the fields, as Reconstruct names them
	rows   parquet.Rows
	buf    []parquet.Row
}

// newPQNested plans reading fields of a file with schema file.
func newPQNested(file *parquet.Schema, fields []parquet.Field) *pqNested {
	n := &pqNested{schema: file}
	group := parquet.Group{}
	for _, f := range fields {
		group[f.Name()] = f
		n.names = append(n.names, f.Name())
	}
	proj := parquet.NewSchema(file.Name(), group)
	if conv, err := parquet.Convert(proj, file); err == nil {
		n.schema, n.conv = proj, conv
	}
	return n
}

// open starts reading a row group.
func (n *pqNested) open(rg parquet.RowGroup) {
	n.close()
	if n.conv != nil {
		rg = parquet.ConvertRowGroup(rg, n.conv)
	}
	n.rows = rg.Rows()
}

func (n *pqNested) close() {
	if n.rows != nil {
		n.rows.Close()
		n.rows = nil
	}
}

// read reads the next k rows and hands fn each one's fields as JSON text
// (nil for a null), in the order of names, except the rows in skip.
func (n *pqNested) read(k int, skip []int, fn func(vals []json.RawMessage)) error {
	if cap(n.buf) < k {
		n.buf = make([]parquet.Row, k)
	}
	buf := n.buf[:k]
	got := 0
	for got < k {
		m, err := n.rows.ReadRows(buf[got:])
		got += m
		if errors.Is(err, io.EOF) || (err == nil && m == 0) {
			break
		}
		if err != nil {
			return fmt.Errorf("nested columns: %w", err)
		}
	}
	if got != k {
		return fmt.Errorf("nested columns end after %d of %d rows", got, k)
	}
	vals := make([]json.RawMessage, len(n.names))
	si := 0
	for i, row := range buf {
		if si < len(skip) && skip[si] == i {
			si++
			continue
		}
		m := map[string]any{}
		if err := n.schema.Reconstruct(&m, row); err != nil {
			return fmt.Errorf("unreadable nested value: %w", err)
		}
		for j, name := range n.names {
			vals[j] = nil
			if v := m[name]; v != nil {
				if data, err := json.Marshal(v); err == nil {
					vals[j] = data
				}
			}
		}
		fn(vals)
	}
	return nil
}
