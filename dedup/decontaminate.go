package dedup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/xxh3"

	"github.com/curatehq/curate/dedup/minhash"
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
)

var decontaminateSpec = pipelines.Spec{
	Name: "dedup.decontaminate",
	Doc:  "drops documents sharing a normalized word n-gram with the evaluation texts in against: files",
	Fields: []pipelines.Field{
		{Name: "against", Type: pipelines.Strings, Required: true,
			Doc: "evaluation files or globs (local or s3://): JSONL (.jsonl/.json, optionally .gz/.zst) or plain text, one text a line; each file is one evaluation set"},
		{Name: "ngram", Type: pipelines.Int, Default: 13, Min: pipelines.Bound(1), Max: pipelines.Bound(64),
			Doc: "n-gram size in words (characters for scripts written without spaces)"},
		{Name: "min_words", Type: pipelines.Int, Default: 8, Min: pipelines.Bound(1),
			Doc: "an evaluation text shorter than ngram words is matched whole when it has at least this many words, else ignored"},
		{Name: "text_field", Type: pipelines.Strings, Default: []string{"text"},
			Doc: "JSONL fields holding evaluation text (each string field listed is one text)"},
	},
	Filter: true,
}

// ColContaminatedBy names the column listing, for a contaminated document,
// the evaluation sets it shares an n-gram with (comma-separated).
const ColContaminatedBy = "contaminated_by"

// ReasonContaminated is the drop reason of dedup.decontaminate.
const ReasonContaminated = "contaminated"

func init() {
	pipelines.RegisterStage(decontaminateSpec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
		return NewDecontaminate(context.Background(), p, env)
	})
}

// Decontaminate is the dedup.decontaminate stage. The evaluation n-grams are
// loaded once by the constructor; Process is then stateless and runs on any
// number of workers.
type Decontaminate struct {
	ngram    int
	lengths  []int             // window lengths to test: ngram, then shorter whole texts
	grams    map[uint64]uint16 // n-gram hash -> 1 + set, or multiSet
	filter   []uint64          // bitset over the hashes' high bits: most windows miss it and skip the map
	shift    uint
	multi    map[uint64][]uint16
	sets     []string
	texts    []int64 // evaluation texts per set
	skipped  []int64 // texts too short to use
	hits     []atomic.Int64
	docs     atomic.Int64
	dropped  atomic.Int64
	env      *pipelines.Env
	fields   []string
	minWords int
}

const multiSet = 0xFFFF

// NewDecontaminate loads the evaluation sets named by against.
func NewDecontaminate(ctx context.Context, p pipelines.Params, env *pipelines.Env) (*Decontaminate, error) {
	d := &Decontaminate{ngram: p.Int("ngram"), grams: map[uint64]uint16{}, multi: map[uint64][]uint16{},
		env: env, fields: p.Strings("text_field"), minWords: p.Int("min_words")}
	lengths := map[int]bool{d.ngram: true}
	for _, pat := range p.Strings("against") {
		infos, err := storage.List(ctx, env.Path(pat))
		if storage.IsNotExist(err) {
			infos, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("dedup.decontaminate: against %q: %w", pat, err)
		}
		if len(infos) == 0 {
			return nil, fmt.Errorf("dedup.decontaminate: against %q matches no file", pat)
		}
		for _, info := range infos {
			if len(d.sets) >= multiSet-1 {
				return nil, fmt.Errorf("dedup.decontaminate: more than %d evaluation files", multiSet-1)
			}
			if err := d.load(ctx, info.Path, lengths); err != nil {
				return nil, err
			}
		}
	}
	for l := range lengths {
		d.lengths = append(d.lengths, l)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(d.lengths)))
	d.buildFilter()
	d.hits = make([]atomic.Int64, len(d.sets))
	return d, nil
}

// setName is an evaluation file's name without folders and extensions.
func setName(p string) string {
	base := path.Base(p)
	if i := strings.IndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	return base
}

func (d *Decontaminate) load(ctx context.Context, p string, lengths map[int]bool) error {
	f, err := storage.Open(ctx, p)
	if err != nil {
		return fmt.Errorf("dedup.decontaminate: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	base := p
	switch {
	case strings.HasSuffix(base, ".gz"):
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("dedup.decontaminate: %s: %w", p, err)
		}
		defer gz.Close()
		r, base = gz, strings.TrimSuffix(base, ".gz")
	case strings.HasSuffix(base, ".zst"):
		zr, err := zstd.NewReader(f)
		if err != nil {
			return fmt.Errorf("dedup.decontaminate: %s: %w", p, err)
		}
		defer zr.Close()
		r, base = zr, strings.TrimSuffix(base, ".zst")
	}
	jsonl := strings.HasSuffix(base, ".jsonl") || strings.HasSuffix(base, ".json") || strings.HasSuffix(base, ".ndjson")
	set := uint16(len(d.sets))
	name := setName(p)
	for n := 2; slices.Contains(d.sets, name); n++ { // two files named alike
		name = fmt.Sprintf("%s-%d", setName(p), n)
	}
	d.sets = append(d.sets, name)
	d.texts = append(d.texts, 0)
	d.skipped = append(d.skipped, 0)
	var toks []uint64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 64<<20)
	for line := 1; sc.Scan(); line++ {
		texts, err := evalTexts(sc.Bytes(), jsonl, d.fields)
		if err != nil {
			return fmt.Errorf("dedup.decontaminate: %s:%d: %w", p, line, err)
		}
		for _, t := range texts {
			toks = evalTokens(toks[:0], t)
			if len(toks) == 0 {
				continue
			}
			if len(toks) < d.ngram {
				if len(toks) < d.minWords {
					d.skipped[set]++
					continue
				}
				lengths[len(toks)] = true
			}
			d.texts[set]++
			minhash.Shingles(toks, d.ngram, func(h uint64) { d.add(h, set) })
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("dedup.decontaminate: reading %s: %w", p, err)
	}
	return nil
}

// buildFilter sets one bit per evaluation n-gram in a bitset of at least 16
// bits per n-gram (a false positive costs a map lookup).
func (d *Decontaminate) buildFilter() {
	logBits := uint(16)
	for 1<<logBits < 16*len(d.grams) {
		logBits++
	}
	d.filter = make([]uint64, 1<<logBits/64)
	d.shift = 64 - logBits
	for h := range d.grams {
		i := h >> d.shift
		d.filter[i>>6] |= 1 << (i & 63)
	}
}

func (d *Decontaminate) add(h uint64, set uint16) {
	v, ok := d.grams[h]
	switch {
	case !ok:
		d.grams[h] = set + 1
	case v == set+1:
	case v == multiSet:
		if l := d.multi[h]; l[len(l)-1] != set {
			d.multi[h] = append(l, set)
		}
	default:
		d.grams[h] = multiSet
		d.multi[h] = []uint16{v - 1, set}
	}
}

// evalTexts returns the evaluation texts of one line: the line itself, or
// the listed string fields of a JSON object.
func evalTexts(line []byte, jsonl bool, fields []string) ([]string, error) {
	if !jsonl {
		return []string{string(line)}, nil
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(line, &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	var out []string
	for _, f := range fields {
		raw, ok := obj[f]
		if !ok || string(raw) == "null" {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("field %q is not a string", f)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no string field %s", strings.Join(fields, " or "))
	}
	return out, nil
}

// evalTokens appends the hashes of text's normalized words: lower-cased
// runs of letters and digits (punctuation and symbols separate words and are
// dropped); each character of a script written without spaces is a word.
func evalTokens(dst []uint64, text string) []uint64 {
	var buf [256]byte
	word := buf[:0]
	flush := func() {
		if len(word) > 0 {
			dst = append(dst, xxh3.Hash(word))
			word = word[:0]
		}
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
				word = append(word, c)
			case 'A' <= c && c <= 'Z':
				word = append(word, c+'a'-'A')
			default:
				flush()
			}
			continue
		}
		r, n := utf8.DecodeRuneInString(text[i:])
		i += n
		switch {
		case minhash.NoSpaceScript(r):
			flush()
			word = utf8.AppendRune(word, r)
			flush()
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			word = utf8.AppendRune(word, unicode.ToLower(r))
		default:
			flush()
		}
	}
	flush()
	return dst
}

// Process drops each document that shares an n-gram with an evaluation
// set and names the sets in contaminated_by.
func (d *Decontaminate) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	texts := pipelines.Texts(rec)
	n := texts.Len()
	drop := make([]string, n)
	by := make([]string, n)
	var toks []uint64
	hit := make([]bool, len(d.sets))
	stats := map[string]int64{}
	for i := 0; i < n; i++ {
		if i%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		toks = evalTokens(toks[:0], texts.Value(i))
		clear(hit)
		any := false
		for _, l := range d.lengths {
			if l > len(toks) {
				continue
			}
			minhash.Shingles(toks, l, func(h uint64) {
				if i := h >> d.shift; d.filter[i>>6]&(1<<(i&63)) == 0 {
					return
				}
				v, ok := d.grams[h]
				if !ok {
					return
				}
				any = true
				if v != multiSet {
					hit[v-1] = true
					return
				}
				for _, s := range d.multi[h] {
					hit[s] = true
				}
			})
		}
		if !any {
			continue
		}
		var names []string
		for s, h := range hit {
			if h {
				names = append(names, d.sets[s])
				d.hits[s].Add(1)
				stats["hits:"+d.sets[s]]++
			}
		}
		drop[i] = ReasonContaminated
		by[i] = strings.Join(names, ",")
		d.dropped.Add(1)
	}
	d.docs.Add(int64(n))
	return &pipelines.Result{Drop: drop, Stats: stats,
		Columns: []pipelines.Column{{Name: ColContaminatedBy, Array: pipelines.NewStrings(d.env.Alloc, by)}}}, nil
}

// Report gives the evaluation sets with their texts and the documents that
// hit each.
func (d *Decontaminate) Report() map[string]any {
	sets := map[string]any{}
	for i, name := range d.sets {
		sets[name] = map[string]int64{"texts": d.texts[i], "too_short": d.skipped[i], "documents_hit": d.hits[i].Load()}
	}
	return map[string]any{"documents": d.docs.Load(), "contaminated": d.dropped.Load(),
		"ngrams": len(d.grams), "sets": sets}
}
