// Package blocklist implements filter.blocklist: it drops documents whose
// URL (a column, url by default) is on a URL block list or belongs to a
// blocked domain or any of its subdomains, and documents whose share of
// flagged words (per language, from a word-list file) exceeds a threshold.
package blocklist

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/curatehq/curate/filter"
	"github.com/curatehq/curate/filter/textstat"
	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
)

// Spec is filter.blocklist's spec.
var Spec = pipelines.Spec{
	Name:   "filter.blocklist",
	Doc:    "drops documents whose URL or domain is block-listed, or whose flagged-word ratio is too high",
	Filter: true,
	Fields: []pipelines.Field{
		{Name: "url_column", Type: pipelines.String, Default: "url", Doc: "column holding each document's URL"},
		{Name: "domains", Type: pipelines.Strings, Doc: "blocked domains (each blocks its subdomains too)"},
		{Name: "domains_file", Type: pipelines.String, Doc: "file of blocked domains, one a line (# comments; hosts-file lines such as \"0.0.0.0 ads.example\" work)"},
		{Name: "urls", Type: pipelines.Strings, Doc: "blocked URLs (http and https alike; host case, fragment, default port and trailing slash ignored)"},
		{Name: "urls_file", Type: pipelines.String, Doc: "file of blocked URLs, one a line"},
		{Name: "flagged_words_file", Type: pipelines.String, Doc: "word list, one a line: \"word\" for every language or \"LANG<TAB>word\" for one (ISO 639-1)"},
		{Name: "max_flagged_ratio", Type: pipelines.Float, Default: 0.045, Min: pipelines.Bound(0), Max: pipelines.Bound(1), Doc: "drop documents where flagged words are a larger share of the words"},
		{Name: "language", Type: pipelines.String, Default: "en", Doc: "language of documents without a lang column (from filter.language)"},
	},
}

func init() {
	pipelines.RegisterStage(Spec, func(p pipelines.Params, env *pipelines.Env) (pipelines.Stage, error) {
		return New(context.Background(), p, env)
	})
}

// Lists are the loaded block lists. They are read-only after loading.
type Lists struct {
	Domains map[string]bool
	URLs    map[string]bool
	// Flagged maps a language ("" for all) to its flagged words (lower case).
	Flagged map[string]map[string]bool
}

// Stage is the filter.blocklist stage.
type Stage struct {
	Lists       *Lists
	URLColumn   string
	MaxFlagged  float64
	DefaultLang string
	warnOnce    sync.Once
	env         *pipelines.Env
}

// New loads the lists named in the parameters.
func New(ctx context.Context, p pipelines.Params, env *pipelines.Env) (*Stage, error) {
	l := &Lists{Domains: map[string]bool{}, URLs: map[string]bool{}, Flagged: map[string]map[string]bool{}}
	for _, d := range p.Strings("domains") {
		l.AddDomain(d)
	}
	for _, u := range p.Strings("urls") {
		l.URLs[NormalizeURL(u)] = true
	}
	read := func(field string, each func(line string)) error {
		path := p.String(field)
		if path == "" {
			return nil
		}
		data, err := storage.ReadFile(ctx, env.Path(path))
		if err != nil {
			return fmt.Errorf("%s: %s: %w", Spec.Name, field, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || line[0] == '#' {
				continue
			}
			each(line)
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("%s: %s: %s: %w", Spec.Name, field, path, err)
		}
		return nil
	}
	if err := read("domains_file", func(line string) {
		f := strings.Fields(line)
		l.AddDomain(f[len(f)-1])
	}); err != nil {
		return nil, err
	}
	if err := read("urls_file", func(line string) { l.URLs[NormalizeURL(line)] = true }); err != nil {
		return nil, err
	}
	if err := read("flagged_words_file", func(line string) {
		lang, word := "", line
		if i := strings.IndexByte(line, '\t'); i >= 0 {
			lang, word = strings.ToLower(strings.TrimSpace(line[:i])), strings.TrimSpace(line[i+1:])
		}
		l.AddFlagged(lang, word)
	}); err != nil {
		return nil, err
	}
	return &Stage{Lists: l, URLColumn: p.String("url_column"), MaxFlagged: p.Float("max_flagged_ratio"),
		DefaultLang: p.String("language"), env: env}, nil
}

// AddDomain blocks a domain and its subdomains.
func (l *Lists) AddDomain(d string) {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	d = strings.TrimPrefix(d, "*.")
	if d != "" {
		l.Domains[d] = true
	}
}

// AddFlagged adds a flagged word for a language ("" for all).
func (l *Lists) AddFlagged(lang, word string) {
	word = strings.ToLower(word)
	if word == "" {
		return
	}
	m := l.Flagged[lang]
	if m == nil {
		m = map[string]bool{}
		l.Flagged[lang] = m
	}
	m[word] = true
}

// NormalizeURL lower-cases the scheme and host and drops the fragment, a
// default port and a trailing slash, so that equal pages compare equal.
func NormalizeURL(u string) string {
	u = strings.TrimSpace(u)
	if i := strings.IndexByte(u, '#'); i >= 0 {
		u = u[:i]
	}
	rest := u
	scheme := ""
	if i := strings.Index(u, "://"); i >= 0 {
		scheme, rest = strings.ToLower(u[:i]), u[i+3:]
	}
	host, path := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		host, path = rest[:i], rest[i:]
	}
	host = strings.ToLower(host)
	host = strings.TrimSuffix(strings.TrimSuffix(host, ":80"), ":443")
	path = strings.TrimSuffix(path, "/")
	if scheme == "https" {
		scheme = "http" // the same page either way
	}
	return scheme + "://" + host + path
}

// Host returns the lower-case host of a URL (without port or user info).
func Host(u string) string {
	u = strings.TrimSpace(u)
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	} else if strings.HasPrefix(u, "//") {
		u = u[2:]
	}
	if i := strings.IndexAny(u, "/?#"); i >= 0 {
		u = u[:i]
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		u = u[i+1:]
	}
	if strings.HasPrefix(u, "[") { // IPv6 literal
		if i := strings.IndexByte(u, ']'); i >= 0 {
			return strings.ToLower(u[1:i])
		}
	}
	if i := strings.LastIndexByte(u, ':'); i >= 0 {
		u = u[:i]
	}
	return strings.TrimSuffix(strings.ToLower(u), ".")
}

// CheckURL returns "url" or "domain" when u is blocked, else "".
func (l *Lists) CheckURL(u string) string {
	if u == "" {
		return ""
	}
	if len(l.URLs) > 0 && l.URLs[NormalizeURL(u)] {
		return "url"
	}
	if len(l.Domains) > 0 {
		h := Host(u)
		for h != "" {
			if l.Domains[h] {
				return "domain"
			}
			i := strings.IndexByte(h, '.')
			if i < 0 {
				break
			}
			h = h[i+1:]
		}
	}
	return ""
}

var wordPool = sync.Pool{New: func() any { s := make([]textstat.Word, 0, 1024); return &s }}

// FlaggedRatio returns the share of words of text that are flagged for
// lang (words listed for every language count too). For scripts written
// without spaces, listed words are counted as substrings.
func (l *Lists) FlaggedRatio(text, lang string) float64 {
	all, own := l.Flagged[""], l.Flagged[strings.ToLower(lang)]
	if len(all) == 0 && len(own) == 0 {
		return 0
	}
	wp := wordPool.Get().(*[]textstat.Word)
	words := textstat.AppendWords((*wp)[:0], text)
	if cap(words) <= textstat.MaxPooledItems {
		*wp = words[:0]
		defer wordPool.Put(wp)
	}
	if len(words) == 0 {
		return 0
	}
	flagged := 0
	var buf [64]byte
	for _, w := range words {
		if w.Flags&textstat.HasLetter == 0 || w.End-w.Start > 64 || w.Runes == 1 && w.End-w.Start > 1 {
			continue // symbols, very long tokens and single unspaced characters
		}
		lw := lower(buf[:0], w.Text(text))
		if all[string(lw)] || own[string(lw)] {
			flagged++
		}
	}
	switch strings.ToLower(lang) {
	case "zh", "ja", "th", "lo", "km", "my":
		for word := range own {
			flagged += strings.Count(text, word)
		}
	}
	return float64(flagged) / float64(len(words))
}

func lower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return append(dst[:0], strings.ToLower(s)...)
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// Process drops documents with reason "blocklist:url", "blocklist:domain"
// or "blocklist:flagged_words". Documents with a null or empty URL, or in a
// batch without the URL column, are not checked against the URL lists.
func (s *Stage) Process(ctx context.Context, rec arrow.Record) (*pipelines.Result, error) {
	var urls *array.String
	if len(s.Lists.URLs)+len(s.Lists.Domains) > 0 {
		if pipelines.Col(rec, s.URLColumn) >= 0 {
			var err error
			if urls, err = pipelines.StringCol(rec, s.URLColumn); err != nil {
				return nil, fmt.Errorf("%s: %w", Spec.Name, err)
			}
		} else {
			s.warnOnce.Do(func() {
				s.env.Logger().Warn("batch has no URL column; URL and domain lists not applied", "column", s.URLColumn)
			})
		}
	}
	flagged := len(s.Lists.Flagged) > 0
	return filter.Drops(ctx, rec, "blocklist", func(b *filter.Batch, i int) string {
		if urls != nil && !urls.IsNull(i) {
			if r := s.Lists.CheckURL(urls.Value(i)); r != "" {
				return r
			}
		}
		if flagged {
			lang := b.Lang(i)
			if lang == "" {
				lang = s.DefaultLang
			}
			if s.Lists.FlaggedRatio(b.Text(i), lang) > s.MaxFlagged {
				return "flagged_words"
			}
		}
		return ""
	})
}
