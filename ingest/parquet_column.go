package ingest

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
)

// pqColumn reads one flat (non-repeated) leaf column of a row group page by
// page, a row at a time, without building rows. A plain BYTE_ARRAY page is
// read straight from its decoded buffers (page.Data(): the values end to
// end and their offsets, plus the definition levels of an optional column),
// so a value is a slice of the page that the caller copies into an Arrow
// builder. Any other page (dictionary-encoded, numbers, booleans) goes
// through the page's ValueReader.
//
// A value returned by next is valid until the cursor loads its next page:
// callers copy it before asking for more rows than avail reported.
type pqColumn struct {
	name   string // for messages
	leaf   int    // the leaf column's index in the file
	pages  parquet.Pages
	page   parquet.Page
	maxDef byte // 1 for an optional column, 0 for a required one

	n, r int    // rows in the page, next row
	defs []byte // definition levels (optional column), else nil

	// plain BYTE_ARRAY pages
	fast bool
	data []byte
	offs []uint32
	v    int // next value (non-null rows only)

	// other pages: one value per row, nulls included
	vals []parquet.Value
}

// open starts reading a column chunk.
func (c *pqColumn) open(chunk parquet.ColumnChunk) {
	c.close()
	c.pages = chunk.Pages()
	c.n, c.r = 0, 0
}

// close releases the page and the page reader.
func (c *pqColumn) close() {
	c.releasePage()
	if c.pages != nil {
		c.pages.Close()
		c.pages = nil
	}
}

func (c *pqColumn) releasePage() {
	if c.page != nil {
		parquet.Release(c.page)
		c.page = nil
	}
	c.data, c.offs, c.defs = nil, nil, nil
	clear(c.vals)
}

// avail returns the rows left in the current page, reading the next page
// when the current one is done. It never returns 0 without an error.
func (c *pqColumn) avail() (int, error) {
	for c.r >= c.n {
		if err := c.load(); err != nil {
			return 0, err
		}
	}
	return c.n - c.r, nil
}

// load reads and checks the next page.
func (c *pqColumn) load() error {
	c.releasePage()
	p, err := c.pages.ReadPage()
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("column %q ends before its row group does", c.name)
	}
	if err != nil {
		return fmt.Errorf("column %q: %w", c.name, err)
	}
	c.page = p
	c.r, c.v = 0, 0
	if len(p.RepetitionLevels()) > 0 {
		return fmt.Errorf("column %q: repeated values in a flat column", c.name)
	}
	data := p.Data()
	c.fast = p.Dictionary() == nil && data.Kind() == encoding.ByteArray
	if !c.fast {
		return c.loadValues(p)
	}
	c.data, c.offs = data.ByteArray()
	nonNull := max(len(c.offs)-1, 0)
	if c.maxDef == 0 {
		c.n = nonNull
	} else {
		c.defs = p.DefinitionLevels()
		c.n = len(c.defs)
		have := 0
		for _, d := range c.defs {
			if d > c.maxDef {
				return fmt.Errorf("column %q: definition level %d above %d", c.name, d, c.maxDef)
			}
			if d == c.maxDef {
				have++
			}
		}
		if have != nonNull {
			return fmt.Errorf("column %q: %d values for %d defined rows", c.name, nonNull, have)
		}
	}
	prev := uint32(0)
	if len(c.offs) > 0 {
		prev = c.offs[0]
	}
	for _, o := range c.offs {
		if o < prev || int(o) > len(c.data) {
			return fmt.Errorf("column %q: corrupt value offsets", c.name)
		}
		prev = o
	}
	return nil
}

// loadValues reads every value of a page that has no plain byte arrays.
func (c *pqColumn) loadValues(p parquet.Page) error {
	n := int(p.NumValues())
	if n < 0 || int64(n) != p.NumRows() {
		return fmt.Errorf("column %q: page of %d values for %d rows", c.name, n, p.NumRows())
	}
	if cap(c.vals) < n {
		c.vals = make([]parquet.Value, n)
	}
	c.vals = c.vals[:n]
	r := p.Values()
	got := 0
	for got < n {
		k, err := r.ReadValues(c.vals[got:])
		got += k
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("column %q: %w", c.name, err)
		}
		if k == 0 {
			break
		}
	}
	if got != n {
		return fmt.Errorf("column %q: page holds %d of its %d values", c.name, got, n)
	}
	c.n = n
	return nil
}

// next returns the next row's value: bytes for a byte array (from either
// kind of page), v for any other value (zero for a plain byte array page),
// null for a null. The caller must have seen avail() > 0 for this row.
func (c *pqColumn) next() (b []byte, v parquet.Value, null bool) {
	r := c.r
	c.r++
	if !c.fast {
		v = c.vals[r]
		if v.IsNull() {
			return nil, v, true
		}
		if k := v.Kind(); k == parquet.ByteArray || k == parquet.FixedLenByteArray {
			b = v.ByteArray()
		}
		return b, v, false
	}
	if c.defs != nil && c.defs[r] != c.maxDef {
		return nil, v, true
	}
	i := c.v
	c.v++
	return c.data[c.offs[i]:c.offs[i+1]], v, false
}

// each hands fn the next k rows of the column, except those whose 0-based
// index among the k is in skip (sorted).
func (c *pqColumn) each(k int, skip []int, fn func(b []byte, v parquet.Value, null bool)) error {
	si := 0
	for i := 0; i < k; {
		avail, err := c.avail()
		if err != nil {
			return err
		}
		for ; avail > 0 && i < k; avail-- {
			b, v, null := c.next()
			if si < len(skip) && skip[si] == i {
				si++
			} else {
				fn(b, v, null)
			}
			i++
		}
	}
	return nil
}
