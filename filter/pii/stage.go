package pii

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/curatehq/curate/filter"
	"github.com/curatehq/curate/pipelines"
)

// Spec is filter.pii's spec.
var Spec = pipelines.Spec{
	Name:   "filter.pii",
	Doc:    "finds e-mail addresses, public IP addresses, phone numbers and payment-card numbers; redacts them or drops the document",
	Filter: true,
	Fields: []pipelines.Field{
		{Name: "action", Type: pipelines.String, Default: "redact", Enum: []string{"redact", "drop"}, Doc: "redact: replace each finding with <EMAIL>, <IP>, <PHONE> or <CARD>; drop: drop the document"},
		{Name: "kinds", Type: pipelines.Strings, Default: []string{"email", "ip", "phone", "card"}, Enum: []string{"email", "ip", "phone", "card"}, Doc: "kinds of personal data to look for"},
	},
}

func init() {
	pipelines.RegisterStage(Spec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
		return New(p, env)
	})
}

// Redact replaces every match in text with its kind's token and counts the
// matches per kind. It returns text itself when there is nothing to do.
func Redact(text string, matches []Match) (string, [numKinds]int) {
	var counts [numKinds]int
	if len(matches) == 0 {
		return text, counts
	}
	var b strings.Builder
	b.Grow(len(text))
	last := 0
	for _, m := range matches {
		b.WriteString(text[last:m.Start])
		b.WriteString(m.Kind.Token())
		last = m.End
		counts[m.Kind]++
	}
	b.WriteString(text[last:])
	return b.String(), counts
}

// Stage is the filter.pii stage.
type Stage struct {
	Detector *Detector
	Drop     bool
	env      *pipelines.Env
	// annotate (annotate_only) makes Process always return the text and
	// changes, so that every batch gets the changes column.
	annotate bool
}

// New builds the stage from its parameters.
func New(p pipelines.Params, env *pipelines.Env) (*Stage, error) {
	var kinds []Kind
	for _, s := range p.Strings("kinds") {
		k, ok := ParseKind(s)
		if !ok {
			return nil, fmt.Errorf("%s: kinds: unknown kind %q", Spec.Name, s)
		}
		kinds = append(kinds, k)
	}
	if len(kinds) == 0 {
		return nil, fmt.Errorf("%s: kinds: give at least one of email, ip, phone, card", Spec.Name)
	}
	return &Stage{Detector: NewDetector(kinds...), Drop: p.String("action") == "drop", env: env,
		annotate: p.Bool("annotate_only")}, nil
}

var matchPool = sync.Pool{New: func() any { m := make([]Match, 0, 16); return &m }}

// Process redacts (Result.Text, Result.Changes such as "email:2 phone:1")
// or drops documents with reason "pii:KIND" (the first kind found). Stats
// count findings per kind.
func (s *Stage) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	b, err := filter.NewBatch(rec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Spec.Name, err)
	}
	n := b.Len()
	res := &pipelines.Result{Stats: map[string]int64{}}
	var drop, changes []string
	if s.Drop {
		drop = make([]string, n)
	} else {
		changes = make([]string, n)
	}
	tb := array.NewStringBuilder(s.env.Alloc)
	defer tb.Release()
	changed := false
	var total [numKinds]int
	mp := matchPool.Get().(*[]Match)
	defer func() {
		if cap(*mp) <= 1<<20 { // a document with a million findings does not pin them
			matchPool.Put(mp)
		}
	}()
	for i := 0; i < n; i++ {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if b.Texts.IsNull(i) {
			tb.AppendNull()
			continue
		}
		text := b.Texts.Value(i)
		ms := s.Detector.Find((*mp)[:0], text)
		*mp = ms[:0]
		if len(ms) == 0 {
			tb.Append(text)
			continue
		}
		red, counts := Redact(text, ms)
		for k, c := range counts {
			total[k] += c
		}
		if s.Drop {
			drop[i] = "pii:" + ms[0].Kind.String()
			tb.Append(text)
			continue
		}
		changed = true
		changes[i] = describe(counts)
		tb.Append(red)
	}
	for k, c := range total {
		res.Stats[Kind(k).String()] = int64(c)
	}
	res.Drop = drop
	if changed || (s.annotate && !s.Drop) {
		res.Text = tb.NewArray()
		res.Changes = changes
	}
	return res, nil
}

func describe(counts [numKinds]int) string {
	var parts []string
	for k, c := range counts {
		if c > 0 {
			parts = append(parts, Kind(k).String()+":"+strconv.Itoa(c))
		}
	}
	return strings.Join(parts, " ")
}
