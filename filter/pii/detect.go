// Package pii implements filter.pii: it finds e-mail addresses, public IPv4
// and IPv6 addresses, phone numbers in international and common national
// formats, and Luhn-valid payment-card numbers, and either redacts them
// (<EMAIL>, <IP>, <PHONE>, <CARD>) or drops the document.
//
// Detection is a hand-written scan: only '@', ':', '+', '(' and digits at
// a word boundary start a closer look, so clean prose costs one table
// lookup per byte. Look-alikes are left alone on purpose: years, amounts,
// dates, times, versions, ISBNs, postal codes, private and documentation
// IP ranges and digit strings failing the Luhn check.
package pii

import (
	"net/netip"
	"strings"
)

// Kind is a kind of personal data.
type Kind uint8

// Kinds, in the order reports list them.
const (
	Email Kind = iota
	IP
	Phone
	Card
	numKinds
)

var kindNames = [numKinds]string{"email", "ip", "phone", "card"}
var kindTokens = [numKinds]string{"<EMAIL>", "<IP>", "<PHONE>", "<CARD>"}

func (k Kind) String() string { return kindNames[k] }

// Token is the redaction placeholder of the kind.
func (k Kind) Token() string { return kindTokens[k] }

// ParseKind returns the kind named s (email, ip, phone, card).
func ParseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n == s {
			return Kind(k), true
		}
	}
	return 0, false
}

// Match is one finding: text[Start:End] is personal data of Kind.
type Match struct {
	Start, End int
	Kind       Kind
}

// Detector finds personal data. The zero value finds nothing; use
// NewDetector. It is safe for concurrent use.
type Detector struct {
	enabled [numKinds]bool
}

// NewDetector returns a detector for the given kinds (all when none).
func NewDetector(kinds ...Kind) *Detector {
	d := &Detector{}
	if len(kinds) == 0 {
		kinds = []Kind{Email, IP, Phone, Card}
	}
	for _, k := range kinds {
		d.enabled[k] = true
	}
	return d
}

const (
	bAlpha = 1 << iota
	bDigit
	bLocal   // e-mail local-part character
	bDomain  // e-mail domain character
	bHex     // hex digit
	bTrigger // starts a closer look
)

var byteClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			t[c] = bAlpha | bLocal | bDomain
			if (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') {
				t[c] |= bHex
			}
		case c >= '0' && c <= '9':
			t[c] = bDigit | bLocal | bDomain | bHex | bTrigger
		case c == '.' || c == '-':
			t[c] = bLocal | bDomain
		case c == '_' || c == '%' || c == '+':
			t[c] = bLocal
		}
		if c >= 0x80 {
			t[c] = bAlpha // a non-ASCII byte is part of a word for boundary purposes
		}
	}
	t['@'] |= bTrigger
	t[':'] |= bTrigger
	t['+'] |= bTrigger
	t['('] |= bTrigger
	return t
}()

func isAlnum(c byte) bool { return byteClass[c]&(bAlpha|bDigit) != 0 }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Find appends the matches in text, in order and non-overlapping, to dst.
func (d *Detector) Find(dst []Match, text string) []Match {
	prevEnd := 0
	add := func(m Match) {
		dst = append(dst, m)
		prevEnd = m.End
	}
	n := len(text)
	for i := 0; i < n; i++ {
		c := text[i]
		if byteClass[c]&bTrigger == 0 {
			continue
		}
		switch {
		case c == '@':
			if d.enabled[Email] {
				if s, e, ok := email(text, i, prevEnd); ok {
					add(Match{s, e, Email})
					i = e - 1
				}
			}
			continue
		case c == ':':
			if d.enabled[IP] {
				if s, e, ok, skip := ipv6(text, i, prevEnd); ok {
					add(Match{s, e, IP})
					i = e - 1
				} else {
					i = max(i, skip-1)
				}
			}
			continue
		}
		// digits, '+' and '(' only start something at a word boundary
		if i > 0 && (isAlnum(text[i-1]) || (isDigit(c) && (text[i-1] == '.' || text[i-1] == ',') && i > 1 && isDigit(text[i-2]))) {
			continue
		}
		if isDigit(c) && d.enabled[IP] {
			if e, ok := ipv4(text, i); ok {
				add(Match{i, e, IP})
				i = e - 1
				continue
			}
		}
		if isDigit(c) && d.enabled[Card] {
			if e, ok := card(text, i); ok {
				add(Match{i, e, Card})
				i = e - 1
				continue
			}
		}
		if d.enabled[Phone] {
			if s, e, ok := phone(text, i); ok {
				add(Match{s, e, Phone})
				i = e - 1
				continue
			}
		}
		if !isDigit(c) {
			continue // '+' or '(' before something else
		}
		// skip the rest of this word, or of this number with its separators
		// (no phone starts inside a card-like digit string)
		for i+1 < n && (isAlnum(text[i+1]) || isDigit(c) && i+2 < n && strings.IndexByte(" -./", text[i+1]) >= 0 && isDigit(text[i+2])) {
			i++
		}
	}
	return dst
}

// email checks the address around the '@' at text[at]; its local part
// starts no earlier than from.
func email(text string, at, from int) (start, end int, ok bool) {
	s := at
	for s > from && byteClass[text[s-1]]&bLocal != 0 {
		s--
	}
	for s < at && (text[s] == '.' || text[s] == '-' || text[s] == '+') {
		s++
	}
	if s == at || at-s > 64 || text[at-1] == '.' {
		return 0, 0, false
	}
	e := at + 1
	lastDot, labels, labelStart := -1, 0, e
	for e < len(text) && byteClass[text[e]]&bDomain != 0 {
		if text[e] == '.' {
			if e == labelStart || text[e-1] == '-' {
				break
			}
			if e+1 >= len(text) || byteClass[text[e+1]]&(bAlpha|bDigit) == 0 {
				break // a final dot ends the sentence, not the domain
			}
			labels++
			lastDot = e
			labelStart = e + 1
		} else if text[e] == '-' && e == labelStart {
			return 0, 0, false
		}
		e++
	}
	for e > labelStart && text[e-1] == '-' {
		e--
	}
	if lastDot < 0 || labels < 1 || e-labelStart < 2 {
		return 0, 0, false
	}
	tld := text[labelStart:e]
	for i := 0; i < len(tld); i++ {
		if byteClass[tld[i]]&bAlpha == 0 || tld[i] >= 0x80 {
			return 0, 0, false
		}
	}
	if fileExtensions[strings.ToLower(tld)] {
		return 0, 0, false // "logo@2x.png" is a file name
	}
	if e < len(text) && isAlnum(text[e]) {
		return 0, 0, false
	}
	return s, e, true
}

var fileExtensions = map[string]bool{
	"png": true, "jpg": true, "jpeg": true, "gif": true, "svg": true, "webp": true, "css": true,
	"js": true, "ico": true, "bmp": true, "tif": true, "tiff": true, "pdf": true, "mp4": true,
}

// octet parses a decimal 0..255 without leading zeros at text[i:].
func octet(text string, i int) (v, end int, ok bool) {
	j := i
	for j < len(text) && j-i < 4 && isDigit(text[j]) {
		v = v*10 + int(text[j]-'0')
		j++
	}
	if j == i || j-i > 3 || v > 255 || (j-i > 1 && text[i] == '0') {
		return 0, 0, false
	}
	return v, j, true
}

var ipWords = []string{"ip", "ips", "ipv4", "address", "addr", "server", "dns", "host", "gateway", "proxy", "router", "resolver", "nameserver", "ping", "via", "from"}

var versionWords = []string{"version", "ver", "v", "release", "build", "firmware", "kernel", "rev", "revision", "update"}

// ipv4 parses a dotted quad at text[i:] and accepts it when it is public.
func ipv4(text string, i int) (end int, ok bool) {
	var b [4]byte
	j := i
	for k := 0; k < 4; k++ {
		if k > 0 {
			if j >= len(text) || text[j] != '.' {
				return 0, false
			}
			j++
		}
		v, e, ok := octet(text, j)
		if !ok {
			return 0, false
		}
		b[k] = byte(v)
		j = e
	}
	if j < len(text) && (isAlnum(text[j]) || ((text[j] == '.' || text[j] == '-') && j+1 < len(text) && isDigit(text[j+1]))) {
		return 0, false // a fifth part: a version or an OID
	}
	if i > 0 && (text[i-1] == '.' || text[i-1] == '-') {
		return 0, false
	}
	if precededBy(text, i, versionWords) {
		return 0, false
	}
	if b[0] < 10 && b[1] < 10 && b[2] < 10 && b[3] < 10 && !precededBy(text, i, ipWords) {
		return 0, false // "Desktop 2.9.0.5": four single digits are a version unless said to be an address
	}
	if !publicIP(netip.AddrFrom4(b)) {
		return 0, false
	}
	return j, true
}

// precededBy reports whether the word before text[i] (skipping blanks) is
// one of words, case-insensitively.
func precededBy(text string, i int, words []string) bool {
	j := i
	for j > 0 && (text[j-1] == ' ' || text[j-1] == '\t') {
		j--
	}
	k := j
	for k > 0 && byteClass[text[k-1]]&bAlpha != 0 && text[k-1] < 0x80 {
		k--
	}
	if k == j || j-k > 10 {
		return false
	}
	w := text[k:j]
	for _, v := range words {
		if strings.EqualFold(w, v) {
			return true
		}
	}
	return false
}

var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2002::/16"),
}

var global6 = netip.MustParsePrefix("2000::/3")

// publicIP reports whether a is a routable public address: not private,
// loopback, link-local, multicast, shared, benchmarking or reserved for
// documentation.
func publicIP(a netip.Addr) bool {
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	if a.Is6() && !global6.Contains(a) {
		return false
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// ipv6 looks at the run of hex digits, colons and dots around the ':' at
// text[at]. skip is where scanning may resume when it is no address.
func ipv6(text string, at, from int) (start, end int, ok bool, skip int) {
	s := at
	for s > from && (byteClass[text[s-1]]&bHex != 0 || text[s-1] == ':' || text[s-1] == '.') {
		s--
	}
	e := at
	for e < len(text) && (byteClass[text[e]]&bHex != 0 || text[e] == ':' || text[e] == '.') {
		e++
	}
	skip = e
	if s > 0 && (isAlnum(text[s-1]) || text[s-1] == '_') || e < len(text) && isAlnum(text[e]) {
		return 0, 0, false, skip
	}
	for e > s && (text[e-1] == '.' || (text[e-1] == ':' && !(e-2 >= s && text[e-2] == ':'))) {
		e--
	}
	for s < e && text[s] == '.' {
		s++
	}
	cand := text[s:e]
	if strings.Count(cand, ":") < 2 || len(cand) > 45 {
		return 0, 0, false, skip
	}
	a, err := netip.ParseAddr(cand)
	if err != nil || !a.Is6() || a.Is4In6() || !publicIP(a) {
		return 0, 0, false, skip
	}
	return s, e, true, skip
}

// luhn reports whether digits pass the Luhn checksum.
func luhn(digits []byte) bool {
	sum, double := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// issuer reports whether a card number of this length starts with a
// known issuer prefix (Visa, Mastercard, Amex, Discover, JCB, Diners,
// UnionPay, Maestro).
func issuer(d []byte) bool {
	n := len(d)
	p := func(k int) int {
		v := 0
		for _, c := range d[:k] {
			v = v*10 + int(c-'0')
		}
		return v
	}
	switch {
	case d[0] == '4':
		return n == 13 || n == 16 || n == 19
	case p(2) >= 51 && p(2) <= 55, p(4) >= 2221 && p(4) <= 2720:
		return n == 16
	case p(2) == 34 || p(2) == 37:
		return n == 15
	case p(4) == 6011, p(2) == 65, p(3) >= 644 && p(3) <= 649, p(2) == 62:
		return n >= 16 && n <= 19
	case p(4) >= 3528 && p(4) <= 3589:
		return n >= 16 && n <= 19
	case p(3) >= 300 && p(3) <= 305, p(2) == 36, p(2) == 38, p(2) == 39:
		return n >= 14 && n <= 19
	case p(2) == 50, p(2) >= 56 && p(2) <= 58, p(2) == 63, p(2) == 67:
		return n >= 12 && n <= 19
	}
	return false
}

// card parses a card number at text[i:]: 12 to 19 digits, contiguous or in
// groups separated by single spaces or hyphens (4-4-4-4[-3], 4-6-5, 4-6-4),
// with a known issuer prefix and a valid Luhn checksum.
func card(text string, i int) (end int, ok bool) {
	var digits [19]byte
	var groups [8]int
	nd, ng := 0, 0
	var sep byte
	j := i
	for {
		g := 0
		for j < len(text) && isDigit(text[j]) {
			if nd == len(digits) {
				return 0, false
			}
			digits[nd] = text[j]
			nd++
			g++
			j++
		}
		if g == 0 || ng == len(groups) {
			return 0, false
		}
		groups[ng] = g
		ng++
		if j+1 < len(text) && (text[j] == ' ' || text[j] == '-') && isDigit(text[j+1]) && (sep == 0 || sep == text[j]) {
			sep = text[j]
			j++
			continue
		}
		break
	}
	if nd < 12 || (j < len(text) && (isAlnum(text[j]) || ((text[j] == '.' || text[j] == ',') && j+1 < len(text) && isDigit(text[j+1])))) {
		return 0, false
	}
	if ng > 1 && !cardGroups(groups[:ng]) {
		return 0, false
	}
	d := digits[:nd]
	if !issuer(d) || !luhn(d) {
		return 0, false
	}
	return j, true
}

func cardGroups(g []int) bool {
	switch {
	case len(g) == 3 && g[0] == 4 && g[1] == 6 && (g[2] == 5 || g[2] == 4):
		return true
	case len(g) >= 4 && len(g) <= 5:
		for k, n := range g {
			if k < len(g)-1 && n != 4 {
				return false
			}
		}
		return g[len(g)-1] >= 1 && g[len(g)-1] <= 4
	}
	return false
}

// phone parses a phone number starting at text[i] ('+', '(' or a digit)
// and accepts the formats of numbers written for people:
//
//	+CC groups            +1 415 555 2671, +44 20 7946 0958, +49 (0)30 1234567, +14155552671
//	00CC groups           0044 20 7946 0958
//	NANP                  (415) 555-2671, 415-555-2671, 415.555.2671, 1-415-555-2671
//	national, trunk 0     020 7946 0958, 01 23 45 67 89, 030-1234567
//
// Runs of digits without separators are phones only after '+'.
func phone(text string, i int) (start, end int, ok bool) {
	var groups, ends, nds [12]int
	var firstDigits [3]byte
	ng, nd := 0, 0
	intl := false
	parens := 0
	seps := 0
	var sepKinds [4]bool // ' ' '-' '.' '/'
	j := i
	if text[j] == '+' {
		intl = true
		j++
		if j >= len(text) || !isDigit(text[j]) {
			return 0, 0, false
		}
	}
	for {
		paren := false
		if j < len(text) && text[j] == '(' {
			paren = true
			parens++
			j++
		}
		g := 0
		for j < len(text) && isDigit(text[j]) {
			if nd < len(firstDigits) {
				firstDigits[nd] = text[j]
			}
			nd++
			g++
			j++
		}
		if g == 0 {
			return 0, 0, false
		}
		if paren {
			if j >= len(text) || text[j] != ')' {
				return 0, 0, false
			}
			j++
		}
		if ng == len(groups) || nd > 16 {
			return intlPrefix(text, i, intl, ends[:ng], nds[:ng])
		}
		groups[ng] = g
		ends[ng], nds[ng] = j, nd
		ng++
		// separator: one of " -./", or ") " handled above, or " (" next
		if j < len(text) {
			c := text[j]
			k := strings.IndexByte(" -./", c)
			if k >= 0 && j+1 < len(text) && (isDigit(text[j+1]) || (text[j+1] == '(' && c == ' ')) {
				sepKinds[k] = true
				seps++
				j++
				continue
			}
			if paren && j < len(text) && (isDigit(text[j]) || text[j] == '(') {
				continue // "(415)555-2671"
			}
			if k < 0 && c == '(' && ng > 0 {
				continue // "+49(0)30..."
			}
		}
		break
	}
	if j < len(text) && (isAlnum(text[j]) || ((text[j] == '.' || text[j] == ',' || text[j] == '-' || text[j] == '/') && j+1 < len(text) && isDigit(text[j+1]))) {
		return intlPrefix(text, i, intl, ends[:ng-1], nds[:ng-1])
	}
	nseps := 0
	for _, s := range sepKinds {
		if s {
			nseps++
		}
	}
	if nseps > 1 && !(nseps == 2 && sepKinds[0] && sepKinds[1]) {
		return 0, 0, false // "12.30-14/5": mixed punctuation is not a phone
	}
	g := groups[:ng]
	switch {
	case intl:
		return i, j, nd >= 8 && nd <= 16 && (ng == 1 || g[0] <= 3 || parens > 0)
	case ng < 2:
		return 0, 0, false
	case nd >= 10 && firstDigits[0] == '0' && firstDigits[1] == '0':
		return i, j, nd-2 >= 8 && nd-2 <= 15 && g[0] >= 3 && g[0] <= 5 && minGroup(g[1:]) >= 2
	case firstDigits[0] == '0':
		return i, j, nd >= 10 && nd <= 12 && minGroup(g) >= 2 && !sepKinds[3] && !dateLike(g)
	}
	// NANP
	if ng == 4 && g[0] == 1 && firstDigits[0] == '1' {
		g = g[1:]
	}
	if len(g) == 3 && g[0] == 3 && g[1] == 3 && g[2] == 4 && !sepKinds[3] {
		area := text[i:]
		if area[0] == '(' {
			area = area[1:]
		}
		if ng == 4 {
			area = strings.TrimLeft(area[1:], " -.(")
		}
		if area[0] >= '2' && area[0] <= '9' {
			return i, j, true
		}
	}
	return 0, 0, false
}

// intlPrefix accepts the longest run of leading groups of a '+' number
// that is a phone on its own and is followed by a space: "+1 415 555 2671
// 4111111111111111" is a phone, then another number.
func intlPrefix(text string, i int, intl bool, ends, nds []int) (start, end int, ok bool) {
	if !intl {
		return 0, 0, false
	}
	for k := len(ends) - 1; k >= 1; k-- {
		e := ends[k]
		if nds[k] >= 8 && nds[k] <= 15 && e < len(text) && text[e] == ' ' {
			return i, e, true
		}
	}
	return 0, 0, false
}

func minGroup(g []int) int {
	m := 99
	for _, n := range g {
		m = min(m, n)
	}
	return m
}

// dateLike reports dotted groups of 2-2-4 or 4-2-2 (dates) which trunk-0
// phone formats could otherwise mistake.
func dateLike(g []int) bool {
	return len(g) == 3 && (g[0] == 2 && g[1] == 2 && g[2] == 4 || g[0] == 4 && g[1] == 2 && g[2] == 2)
}
