package filter

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/curatehq/curate/pipelines"
)

// ColLang is the language column filter.language adds.
const ColLang = "lang"

// Batch gives a filter the rows of one record: the text of each row and,
// when the record has a lang column, its language.
type Batch struct {
	Texts *array.String
	langs *array.String
}

// NewBatch reads the text (and lang, if present) columns of rec, which is
// borrowed.
func NewBatch(rec arrow.Record) (*Batch, error) {
	texts, err := pipelines.StringCol(rec, pipelines.ColText)
	if err != nil {
		return nil, err
	}
	b := &Batch{Texts: texts}
	if pipelines.Col(rec, ColLang) >= 0 {
		if b.langs, err = pipelines.StringCol(rec, ColLang); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Len returns the number of rows.
func (b *Batch) Len() int { return b.Texts.Len() }

// Text returns row i's text ("" for a null).
func (b *Batch) Text(i int) string {
	if b.Texts.IsNull(i) {
		return ""
	}
	return b.Texts.Value(i)
}

// Lang returns row i's language from the lang column, or "" when the batch
// has none or the row's language is unknown.
func (b *Batch) Lang(i int) string {
	if b.langs == nil || b.langs.IsNull(i) {
		return ""
	}
	return b.langs.Value(i)
}

// checkEvery is how many rows a filter processes between looks at ctx.
const checkEvery = 64

// Drops runs check over every row of rec and returns the drop reasons, each
// prefixed with "name:" (check returns "" to keep a row, else the rule).
func Drops(ctx context.Context, rec arrow.Record, name string, check func(b *Batch, row int) string) (*pipelines.Result, error) {
	b, err := NewBatch(rec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	drop := make([]string, b.Len())
	for i := range drop {
		if i%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if rule := check(b, i); rule != "" {
			drop[i] = name + ":" + rule
		}
	}
	return &pipelines.Result{Drop: drop}, nil
}
