package curriculum

import (
	"context"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/curatehq/curate/pipelines"
)

func init() {
	pipelines.RegisterStage(readabilitySpec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
		return &Readability{column: p.String("column"), env: env}, nil
	})
}

var readabilitySpec = pipelines.Spec{
	Name: "curriculum.readability",
	Doc:  "adds a difficulty column: the Flesch-Kincaid grade level (higher is harder; null without words)",
	Fields: []pipelines.Field{
		{Name: "column", Type: pipelines.String, Default: "reading_grade", Doc: "name of the column to add"},
	},
}

// Readability is the curriculum.readability annotator. It is stateless, so
// Process runs on any number of workers at once.
type Readability struct {
	column string
	env    *pipelines.Env
}

// Process implements pipelines.Stage.
func (r *Readability) Process(_ context.Context, rec arrow.Record) (*pipelines.Result, error) {
	texts := pipelines.Texts(rec)
	b := array.NewFloat64Builder(r.env.Alloc)
	defer b.Release()
	b.Reserve(texts.Len())
	for i := 0; i < texts.Len(); i++ {
		if g, ok := Grade(texts.Value(i)); ok {
			b.UnsafeAppend(g)
		} else {
			b.AppendNull()
		}
	}
	return &pipelines.Result{Columns: []pipelines.Column{{Name: r.column, Array: b.NewArray()}}}, nil
}

// Grade returns the Flesch-Kincaid grade level of text,
// 0.39·words/sentences + 11.8·syllables/words − 15.59, and false when the
// text has no words. Syllables are English vowel groups (a final silent e
// dropped); a word without Latin vowels (another script) counts one
// syllable per three letters. It is a difficulty proxy for ordering, not a
// precise measure outside English.
func Grade(text string) (float64, bool) {
	var words, sentences, syllables int
	inWord, inEnd := false, false
	var vowelGroups, letters, latinVowels int
	prevVowel := false
	var last, beforeLast rune
	endWord := func() {
		if !inWord {
			return
		}
		words++
		n := vowelGroups
		if latinVowels == 0 {
			n = max(1, letters/3)
		} else if n > 1 && (last == 'e' || last == 'E') && beforeLast != 'l' && beforeLast != 'L' {
			n--
		}
		syllables += max(1, n)
		inWord, vowelGroups, letters, latinVowels, prevVowel = false, 0, 0, 0, false
		last, beforeLast = 0, 0
	}
	for i := 0; i < len(text); {
		c, size := rune(text[i]), 1
		if c >= utf8.RuneSelf {
			c, size = utf8.DecodeRuneInString(text[i:])
		}
		i += size
		switch {
		case unicode.IsLetter(c) || unicode.IsDigit(c) || ((c == '\'' || c == '-') && inWord):
			if !inWord {
				inWord = true
				inEnd = false
			}
			letters++
			v := isVowel(c)
			if v {
				latinVowels++
				if !prevVowel {
					vowelGroups++
				}
			}
			prevVowel = v
			beforeLast, last = last, c
		default:
			endWord()
			switch c {
			case '.', '!', '?', '\u3002', '\uff01', '\uff1f':
				if !inEnd && words > 0 {
					sentences++
					inEnd = true
				}
			}
		}
	}
	endWord()
	if words == 0 {
		return 0, false
	}
	if sentences == 0 || !inEnd {
		sentences++ // the last sentence lacks its full stop
	}
	return 0.39*float64(words)/float64(sentences) + 11.8*float64(syllables)/float64(words) - 15.59, true
}

func isVowel(c rune) bool {
	switch c {
	case 'a', 'e', 'i', 'o', 'u', 'y', 'A', 'E', 'I', 'O', 'U', 'Y':
		return true
	}
	return false
}
