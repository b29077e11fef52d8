package warc

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"io"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
)

// Page is the main text of an HTML page.
type Page struct {
	Title   string
	Text    string // paragraphs and headings separated by blank lines
	Charset string // the encoding the page was decoded from
}

// DecodeBody undoes a gzip, x-gzip or deflate Content-Encoding; other
// encodings and undecodable bodies come back unchanged.
func DecodeBody(body []byte, contentEncoding string) []byte {
	var r io.Reader
	switch strings.ToLower(strings.TrimSpace(contentEncoding)) {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return body
		}
		r = zr
	case "deflate":
		r = flate.NewReader(bytes.NewReader(body))
	default:
		return body
	}
	out, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil && len(out) == 0 {
		return body
	}
	return out
}

// ToUTF8 converts an HTML body to UTF-8, with its charset taken from the
// Content-Type header, a byte-order mark, a <meta> tag, or detected from the
// bytes, in that order (the HTML5 sniffing rules).
func ToUTF8(body []byte, contentType string) ([]byte, string) {
	enc, name, _ := charset.DetermineEncoding(body, contentType)
	if name == "utf-8" {
		if utf8.Valid(body) {
			return body, name
		}
		return bytes.ToValidUTF8(body, []byte("\uFFFD")), name
	}
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		return bytes.ToValidUTF8(body, []byte("\uFFFD")), "utf-8"
	}
	return out, name
}

// skipTags never hold main text.
var skipTags = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true, atom.Svg: true,
	atom.Canvas: true, atom.Iframe: true, atom.Object: true, atom.Embed: true, atom.Button: true,
	atom.Select: true, atom.Option: true, atom.Input: true, atom.Textarea: true, atom.Nav: true,
	atom.Footer: true, atom.Aside: true, atom.Menu: true, atom.Dialog: true, atom.Form: true,
	atom.Head: true, atom.Math: true, atom.Picture: true, atom.Video: true, atom.Audio: true,
}

// blockTags start a new block of text.
var blockTags = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true, atom.Main: true,
	atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Li: true, atom.Ul: true, atom.Ol: true, atom.Table: true, atom.Tr: true, atom.Td: true,
	atom.Th: true, atom.Pre: true, atom.Blockquote: true, atom.Br: true, atom.Dd: true, atom.Dt: true,
	atom.Dl: true, atom.Figcaption: true, atom.Header: true, atom.Address: true, atom.Hr: true,
	atom.Caption: true, atom.Summary: true, atom.Details: true, atom.Figure: true,
}

// boilerplate matches class and id values of navigation, banners and the like.
var boilerplate = regexp.MustCompile(`(?i)(^|[-_ ])(nav|navbar|navigation|menu|menubar|footer|cookies?|consent|gdpr|banner|breadcrumbs?|sidebar|share|sharing|social|advert|advertisement|ads|ad|promo|popup|modal|newsletter|subscribe|related|widget|toolbar|masthead|copyright|skip|sr-only|screen-reader-text|visually-hidden|hidden|comments?)([-_ ]|$)`)

type block struct {
	text      strings.Builder
	linkChars int
	heading   bool
	pre       bool
	listItem  bool
}

type extractor struct {
	blocks []*block
	cur    *block
	size   map[*html.Node]int
	total  int
}

// Extract returns the main text of an HTML page (already UTF-8): headings
// and paragraphs, without scripts, styles, navigation, headers, footers,
// cookie banners, sidebars and link lists.
func Extract(page []byte) Page {
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		return Page{}
	}
	e := &extractor{size: map[*html.Node]int{}}
	var title string
	var findTitle func(n *html.Node)
	findTitle = func(n *html.Node) {
		if title != "" {
			return
		}
		if n.Type == html.ElementNode && n.DataAtom == atom.Title && n.FirstChild != nil {
			title = collapse(n.FirstChild.Data)
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			findTitle(c)
		}
	}
	findTitle(doc)
	e.total = e.measure(doc)
	e.walk(doc, false, false)
	return Page{Title: title, Text: e.assemble()}
}

// measure records the visible text length under each element.
func (e *extractor) measure(n *html.Node) int {
	if n.Type == html.TextNode {
		return len(strings.TrimSpace(n.Data))
	}
	if n.Type == html.ElementNode && skipTags[n.DataAtom] {
		return 0
	}
	s := 0
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		s += e.measure(c)
	}
	e.size[n] = s
	return s
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// isBoilerplate decides whether an element is page furniture. A class or id
// such as "nav" or "cookie-banner" marks it, unless it holds most of the
// page's text (a wrapper whose class merely mentions a sidebar layout).
func (e *extractor) isBoilerplate(n *html.Node, inMain bool) bool {
	if skipTags[n.DataAtom] {
		return true
	}
	if _, hidden := findAttr(n, "hidden"); hidden || attr(n, "aria-hidden") == "true" {
		return true
	}
	if st := strings.ReplaceAll(strings.ToLower(attr(n, "style")), " ", ""); strings.Contains(st, "display:none") || strings.Contains(st, "visibility:hidden") {
		return true
	}
	if role := attr(n, "role"); role == "navigation" || role == "banner" || role == "contentinfo" || role == "complementary" || role == "search" {
		return true
	}
	if n.DataAtom == atom.Header && !inMain {
		return true
	}
	names := attr(n, "class") + " " + attr(n, "id")
	if boilerplate.MatchString(names) {
		return e.size[n]*5 < e.total*2 // under 40% of the page's text
	}
	return false
}

func findAttr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func (e *extractor) newBlock() {
	e.cur = nil
}

func (e *extractor) block() *block {
	if e.cur == nil {
		e.cur = &block{}
		e.blocks = append(e.blocks, e.cur)
	}
	return e.cur
}

func (e *extractor) walk(n *html.Node, inLink, inMain bool) {
	switch n.Type {
	case html.TextNode:
		t := n.Data
		if strings.TrimSpace(t) == "" {
			if e.cur != nil && e.cur.text.Len() > 0 {
				e.cur.text.WriteByte(' ')
			}
			return
		}
		b := e.block()
		b.text.WriteString(t)
		if inLink {
			b.linkChars += len(strings.TrimSpace(t))
		}
		return
	case html.ElementNode:
		if e.isBoilerplate(n, inMain) {
			e.newBlock()
			return
		}
	case html.CommentNode, html.DoctypeNode:
		return
	}
	isBlock := n.Type == html.ElementNode && blockTags[n.DataAtom]
	if n.Type == html.ElementNode {
		switch n.DataAtom {
		case atom.A:
			inLink = true
		case atom.Main, atom.Article:
			inMain = true
		}
	}
	if isBlock {
		e.newBlock()
		switch n.DataAtom {
		case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
			e.block().heading = true
		case atom.Pre:
			e.block().pre = true
		case atom.Li, atom.Dd, atom.Dt:
			e.block().listItem = true
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		e.walk(c, inLink, inMain)
	}
	if isBlock {
		e.newBlock()
	}
}

var cookieWords = regexp.MustCompile(`(?i)\bcookies?\b`)
var consentWords = regexp.MustCompile(`(?i)\b(accept|consent|agree|privacy|policy|preferences|settings)\b`)

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

func words(s string) int { return len(strings.Fields(s)) }

// assemble keeps the blocks that read as content: enough words, not mostly
// links, not a cookie notice; headings are kept when content follows them.
func (e *extractor) assemble() string {
	type kept struct {
		text    string
		heading bool
		list    bool
	}
	var out []kept
	for _, b := range e.blocks {
		raw := b.text.String()
		t := collapse(raw)
		if b.pre {
			t = strings.TrimSpace(raw)
		}
		if t == "" {
			continue
		}
		n := words(t)
		letters := 0
		for _, r := range t {
			if unicode.IsLetter(r) {
				letters++
			}
		}
		switch {
		case letters == 0:
			continue
		case b.heading:
			out = append(out, kept{text: t, heading: true})
			continue
		case cookieWords.MatchString(t) && consentWords.MatchString(t) && n < 80:
			continue // a cookie banner
		case float64(b.linkChars) > 0.5*float64(len(strings.ReplaceAll(t, " ", ""))) && n < 40:
			continue // a list of links
		case n < 4 && !b.listItem && !isCJK(t):
			continue // a label, a date, a button caption
		case n < 2 && b.listItem:
			continue
		}
		out = append(out, kept{text: t, list: b.listItem})
	}
	// Drop headings with no content after them (section titles of removed
	// furniture, trailing "Related posts").
	var final []kept
	for i, k := range out {
		if k.heading {
			hasContent := false
			for _, next := range out[i+1:] {
				if next.heading {
					break
				}
				hasContent = true
				break
			}
			if !hasContent {
				continue
			}
		}
		final = append(final, k)
	}
	var sb strings.Builder
	for i, k := range final {
		if i > 0 {
			if k.list && final[i-1].list {
				sb.WriteString("\n")
			} else {
				sb.WriteString("\n\n")
			}
		}
		sb.WriteString(k.text)
	}
	return sb.String()
}

func isCJK(s string) bool {
	for _, r := range s {
		if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Thai) {
			return true
		}
	}
	return false
}
