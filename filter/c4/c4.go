// Package c4 implements filter.c4: the C4 cleaning rules (Raffel et al.
// 2020, "Exploring the Limits of Transfer Learning", section 2.2) as
// datatrove's C4QualityFilter applies them. Lines are removed when they do
// not end in terminal punctuation, have fewer than three words, have a
// word longer than 1000 characters, mention javascript or hold cookie and
// terms-of-use boilerplate; Wikipedia-style citation marks are removed; a
// document is dropped when it contains "lorem ipsum" or a curly bracket, or
// keeps fewer than five sentences.
package c4

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/curatehq/curate/filter"
	"github.com/curatehq/curate/filter/textstat"
	"github.com/curatehq/curate/pipelines"
)

// Spec is filter.c4's spec.
var Spec = pipelines.Spec{
	Name:   "filter.c4",
	Doc:    "C4 rules: removes lines without terminal punctuation, short lines, javascript and policy lines, citations; drops lorem ipsum, curly brackets, too few sentences",
	Filter: true,
	Fields: []pipelines.Field{
		{Name: "filter_no_terminal_punct", Type: pipelines.Bool, Default: true, Doc: "remove lines that do not end in . ? ! \" or ' (or that end in ...)"},
		{Name: "min_words_per_line", Type: pipelines.Int, Default: 3, Min: pipelines.Bound(0), Doc: "remove lines with fewer words; 0 disables"},
		{Name: "max_word_length", Type: pipelines.Int, Default: 1000, Min: pipelines.Bound(0), Doc: "remove lines with a longer word (characters); 0 disables"},
		{Name: "min_num_sentences", Type: pipelines.Int, Default: 5, Min: pipelines.Bound(0), Doc: "drop documents keeping fewer sentences; 0 disables"},
		{Name: "remove_citations", Type: pipelines.Bool, Default: true, Doc: "remove citation marks such as [1], [edit], [citation needed]"},
		{Name: "filter_lorem_ipsum", Type: pipelines.Bool, Default: true, Doc: "drop documents containing \"lorem ipsum\""},
		{Name: "filter_javascript", Type: pipelines.Bool, Default: true, Doc: "remove lines mentioning javascript"},
		{Name: "filter_curly_bracket", Type: pipelines.Bool, Default: true, Doc: "drop documents containing {"},
		{Name: "filter_policy", Type: pipelines.Bool, Default: true, Doc: "remove lines with terms of use, privacy policy or cookie notices"},
	},
}

func init() {
	pipelines.RegisterStage(Spec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
		return New(p, env), nil
	})
}

// Rules are the C4 settings; zero values disable the numeric rules.
type Rules struct {
	NoTerminalPunct bool
	MinWordsPerLine int
	MaxWordLength   int
	MinNumSentences int
	RemoveCitations bool
	LoremIpsum      bool
	Javascript      bool
	CurlyBracket    bool
	Policy          bool
}

// DefaultRules returns the published settings.
func DefaultRules() *Rules {
	return &Rules{NoTerminalPunct: true, MinWordsPerLine: 3, MaxWordLength: 1000, MinNumSentences: 5,
		RemoveCitations: true, LoremIpsum: true, Javascript: true, CurlyBracket: true, Policy: true}
}

// Line removal reasons, in the order they are tested.
const (
	TooLongWord     = "too_long_word"
	NoTerminalPunct = "no_terminal_punct"
	TooFewWords     = "too_few_words"
	Javascript      = "javascript"
	Policy          = "policy"
)

// reasons indexes the line removal reasons.
var reasons = [...]string{TooLongWord, NoTerminalPunct, TooFewWords, Javascript, Policy}

const (
	rTooLongWord = iota
	rNoTerminalPunct
	rTooFewWords
	rJavascript
	rPolicy
)

var policyPhrases = []string{"terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"}

// Outcome is what the rules did to one document.
type Outcome struct {
	Text      string         // the kept lines joined by "\n"
	Drop      string         // "" or the document rule: lorem_ipsum, curly_bracket, too_few_sentences
	Removed   map[string]int // removed lines by reason (nil when none)
	Citations int            // citation marks removed
	Lines     int            // lines seen
	Sentences int            // sentences kept
}

// Changes describes the edit for the Changes column ("" when unchanged).
func (o *Outcome) Changes(orig string) string {
	if o.Text == orig {
		return ""
	}
	keys := make([]string, 0, len(o.Removed))
	for k := range o.Removed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(o.Removed[k]))
	}
	if o.Citations > 0 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("citations:" + strconv.Itoa(o.Citations))
	}
	if b.Len() == 0 {
		b.WriteString("whitespace")
	}
	return b.String()
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// Apply runs the rules over text.
func (r *Rules) Apply(text string) Outcome {
	var o Outcome
	bp := bufPool.Get().(*[]byte)
	out := (*bp)[:0]
	lp := bufPool.Get().(*[]byte)
	lower := (*lp)[:0]
	var removed [len(reasons)]int
	remove := func(reason int) { removed[reason]++ }
	kept := 0
	for lines := textstat.NewLines(text); ; {
		line, ok := lines.Next()
		if !ok {
			break
		}
		o.Lines++
		line = strings.TrimSpace(line)
		// a word of more than MaxWordLength characters needs that many bytes
		if r.MaxWordLength > 0 && len(line) > r.MaxWordLength {
			if _, longest := wordStats(line); longest > r.MaxWordLength {
				remove(rTooLongWord)
				continue
			}
		}
		if r.RemoveCitations && strings.IndexByte(line, '[') >= 0 {
			var n int
			line, n = removeCitations(line)
			o.Citations += n
		}
		if r.NoTerminalPunct && (!endsC4(line) || strings.HasSuffix(line, "...")) {
			remove(rNoTerminalPunct)
			continue
		}
		if r.MinWordsPerLine > 0 && countWords(line, r.MinWordsPerLine) < r.MinWordsPerLine {
			remove(rTooFewWords)
			continue
		}
		lower = lowerASCII(lower[:0], line)
		if r.LoremIpsum && contains(lower, "lorem ipsum") {
			o.Drop = "lorem_ipsum"
			break
		}
		if r.Javascript && contains(lower, "javascript") {
			remove(rJavascript)
			continue
		}
		if r.CurlyBracket && strings.IndexByte(line, '{') >= 0 {
			o.Drop = "curly_bracket"
			break
		}
		if r.Policy && containsAny(lower, policyPhrases) {
			remove(rPolicy)
			continue
		}
		if o.Sentences < r.MinNumSentences { // counting stops once enough are kept
			o.Sentences += textstat.CountSentences(line)
		}
		if kept > 0 {
			out = append(out, '\n')
		}
		out = append(out, line...)
		kept++
	}
	for k, n := range removed {
		if n > 0 {
			if o.Removed == nil {
				o.Removed = map[string]int{}
			}
			o.Removed[reasons[k]] = n
		}
	}
	if o.Drop == "" && r.MinNumSentences > 0 && o.Sentences < r.MinNumSentences {
		o.Drop = "too_few_sentences"
	}
	if o.Drop != "" {
		o.Text = text
	} else if string(out) == text {
		o.Text = text
	} else {
		o.Text = strings.TrimSpace(string(out))
	}
	if cap(out) <= textstat.MaxPooledBytes {
		*bp = out[:0]
		bufPool.Put(bp)
	}
	if cap(lower) <= textstat.MaxPooledBytes {
		*lp = lower[:0]
		bufPool.Put(lp)
	}
	return o
}

// endsC4 reports whether line ends with one of C4's terminal marks.
func endsC4(line string) bool {
	if line == "" {
		return false
	}
	switch line[len(line)-1] {
	case '.', '?', '!', '"', '\'':
		return true
	}
	return false
}

// wordStats returns the white-space separated words of line and the
// length in characters of the longest.
func wordStats(line string) (words, longest int) {
	in, cur := false, 0
	for i := 0; i < len(line); {
		c := line[i]
		sz, space := 1, false
		if c < utf8.RuneSelf {
			space = c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f)
		} else {
			var r rune
			r, sz = utf8.DecodeRuneInString(line[i:])
			space = isSpace(r)
		}
		if space {
			in = false
		} else {
			if !in {
				words++
				in = true
				cur = 0
			}
			cur++
			longest = max(longest, cur)
		}
		i += sz
	}
	return words, longest
}

// countWords counts the white-space separated words of line, stopping at
// enough.
func countWords(line string, enough int) int {
	n, in := 0, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		space := c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f)
		if c >= utf8.RuneSelf {
			r, sz := utf8.DecodeRuneInString(line[i:])
			space = isSpace(r)
			i += sz - 1
		}
		if space {
			in = false
		} else if !in {
			in = true
			if n++; n >= enough {
				return n
			}
		}
	}
	return n
}

func isSpace(r rune) bool {
	switch r {
	case 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// removeCitations deletes "[digits]", "[edit]" and "[citation needed]".
func removeCitations(line string) (string, int) {
	var b strings.Builder
	n, last := 0, 0
	for i := 0; i < len(line); i++ {
		if line[i] != '[' {
			continue
		}
		j := i + 1
		for j < len(line) && line[j] >= '0' && line[j] <= '9' {
			j++
		}
		end := -1
		switch {
		case j < len(line) && line[j] == ']':
			end = j + 1
		case strings.HasPrefix(line[i:], "[edit]"):
			end = i + len("[edit]")
		case strings.HasPrefix(line[i:], "[citation needed]"):
			end = i + len("[citation needed]")
		}
		if end < 0 {
			continue
		}
		b.WriteString(line[last:i])
		last = end
		i = end - 1
		n++
	}
	if n == 0 {
		return line, 0
	}
	b.WriteString(line[last:])
	return b.String(), n
}

func lowerASCII(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

func contains(b []byte, s string) bool {
	return strings.Contains(unsafeString(b), s)
}

func containsAny(b []byte, phrases []string) bool {
	s := unsafeString(b)
	if strings.IndexByte(s, ' ') < 0 {
		return false
	}
	for _, p := range phrases {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// Stage is the filter.c4 stage.
type Stage struct {
	Rules *Rules
	env   *pipelines.Env
	// annotate (annotate_only) makes Process always return the text and
	// changes, so that every batch gets the changes column.
	annotate bool
}

// New builds the stage from its parameters.
func New(p pipelines.Params, env *pipelines.Env) *Stage {
	return &Stage{env: env, annotate: p.Bool("annotate_only"), Rules: &Rules{
		NoTerminalPunct: p.Bool("filter_no_terminal_punct"),
		MinWordsPerLine: p.Int("min_words_per_line"),
		MaxWordLength:   p.Int("max_word_length"),
		MinNumSentences: p.Int("min_num_sentences"),
		RemoveCitations: p.Bool("remove_citations"),
		LoremIpsum:      p.Bool("filter_lorem_ipsum"),
		Javascript:      p.Bool("filter_javascript"),
		CurlyBracket:    p.Bool("filter_curly_bracket"),
		Policy:          p.Bool("filter_policy"),
	}}
}

// Process removes lines (Result.Text, Result.Changes) and drops documents
// with reason "c4:RULE". Stats count removed lines by reason.
func (s *Stage) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	b, err := filter.NewBatch(rec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Spec.Name, err)
	}
	n := b.Len()
	res := &pipelines.Result{Drop: make([]string, n), Changes: make([]string, n), Stats: map[string]int64{}}
	tb := array.NewStringBuilder(s.env.Alloc)
	defer tb.Release()
	changed := false
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
		o := s.Rules.Apply(text)
		res.Stats["lines"] += int64(o.Lines)
		for k, v := range o.Removed {
			res.Stats["lines_removed:"+k] += int64(v)
		}
		res.Stats["citations_removed"] += int64(o.Citations)
		if o.Drop != "" {
			res.Drop[i] = "c4:" + o.Drop
		} else {
			res.Changes[i] = o.Changes(text)
			changed = changed || res.Changes[i] != ""
		}
		tb.Append(o.Text)
	}
	if changed || s.annotate {
		res.Text = tb.NewArray()
	} else {
		res.Changes = nil
	}
	return res, nil
}
