package mixer

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/curatehq/curate/curriculum"
	"github.com/curatehq/curate/pipelines"
)

// This file exports the decisions of mixer.weights for an engine that
// cannot hold every document on one machine (curate-beam, module beam/).
// That engine computes global totals with its own aggregations and asks a
// Weights, built with New as usual, for every per-document decision:
//
//  1. Docs gives each row's domain, tokens and sample hash;
//  2. Decide takes the per-domain documents and tokens and the per-domain
//     token histogram by HistBin (sums of step 1 over all documents) and
//     sets each domain's copies and sample boundary, by the stage's own
//     decide;
//  3. SampleBin names the one histogram bin per domain whose documents
//     need a closer look; Select decides them (all of that bin's documents
//     of the domain, in any order) and SetSelected hands the decision to
//     other instances;
//  4. Copies gives a document's number of copies, by the stage's own
//     copies, and InterleaveKey the sort key of each copy in the output
//     given the tokens of the domain's documents before it in input order
//     (of all of them, and of those with a partial copy).
//
// Sorting all copies by (InterleaveKey, input order, copy) gives the order
// of Emit. The tests in export_beam_test.go check that against Emit.

// HistBins is the number of sample-hash histogram bins per domain.
const HistBins = histBins

// HistBin returns the histogram bin of a sample hash.
func HistBin(hash uint64) int { return int(hash >> 48) }

// Domains returns the weighted domains; a domain's number is its index.
func (m *Weights) Domains() []string { return m.names }

// Docs returns each row's domain number (-1: the domain has no weight and
// the document is dropped), its tokens as the mix counts them and its
// sample hash, as Absorb computes them.
func (m *Weights) Docs(rec arrow.Record) (domain []int, tokens []int64, hash []uint64, err error) {
	ntok, err := nTokens(rec)
	if err != nil {
		return nil, nil, nil, err
	}
	doms, err := pipelines.StringCol(rec, pipelines.ColDomain)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("mixer.weights: %w", err)
	}
	ids, err := pipelines.StringCol(rec, pipelines.ColID)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("mixer.weights: %w", err)
	}
	domain, tokens, hash = make([]int, len(ntok)), make([]int64, len(ntok)), make([]uint64, len(ntok))
	for i, nt := range ntok {
		d, ok := m.index[doms.Value(i)]
		if !ok {
			domain[i] = -1
			continue
		}
		domain[i], tokens[i], hash[i] = d, docTokens(nt), curriculum.Hash(ids.Value(i), m.seed)
	}
	return domain, tokens, hash, nil
}

// Decide sets each domain's copies and sample from the totals over all
// documents: per domain number, documents, tokens and tokens by HistBin
// (hist[d] may be nil for a domain without documents).
func (m *Weights) Decide(docs, tokens []int64, hist [][]int64) error {
	if len(docs) != len(m.names) || len(tokens) != len(m.names) || len(hist) != len(m.names) {
		return fmt.Errorf("mixer.weights: totals for %d domains, want %d", len(docs), len(m.names))
	}
	for d := range m.names {
		m.stats[d] = domainStats{docs: docs[d], tokens: tokens[d]}
		if hist[d] != nil && len(hist[d]) != histBins {
			return fmt.Errorf("mixer.weights: a histogram of %d bins, want %d", len(hist[d]), histBins)
		}
		m.hist[d] = hist[d]
	}
	m.decide()
	return nil
}

// SampleBin returns the histogram bin of domain d whose documents Select
// must decide; ok is false when no document of d needs it.
func (m *Weights) SampleBin(d int) (bin int, ok bool) {
	st := &m.stats[d]
	if !st.sampling() {
		return 0, false
	}
	return st.boundary, true
}

// Candidate is a document of a domain's sample bin.
type Candidate struct {
	Hash   uint64
	Order  int64 // input order: ties of Hash go to the earlier document
	Tokens int64
}

// Select decides the documents of domain d's sample bin (every one of
// them, in any order): in (hash, input order) order, a document is in the
// sample while the tokens before it are fewer than the domain's extra
// tokens. It records and returns the orders of the selected ones.
func (m *Weights) Select(d int, cands []Candidate) []int64 {
	st := &m.stats[d]
	if !st.sampling() {
		return nil
	}
	return st.selectBin(cands)
}

// SetSelected records domain d's selection made by Select elsewhere.
func (m *Weights) SetSelected(d int, orders []int64) {
	st := &m.stats[d]
	if st.selected == nil {
		return
	}
	for _, o := range orders {
		st.selected[o] = true
	}
}

// Copies returns how many times the document of domain d with the given
// sample hash and input order is output, and whether the last copy is the
// partial one (a sampled copy). Decide and the domain's selection come
// first.
func (m *Weights) Copies(d int, hash uint64, order int64) (n int64, partial bool) {
	return m.copies(logEntry{row: order, domain: d, hash: hash})
}

// OutTokens returns the tokens domain d puts in the output: all copies of
// its documents. selectedTokens is the sum of the tokens of the documents
// Select chose.
func (m *Weights) OutTokens(d int, selectedTokens int64) int64 {
	st := &m.stats[d]
	out := st.repeats * st.tokens
	if st.sampling() {
		out += st.belowBound + selectedTokens
	}
	return out
}

// InterleaveKey appends the 10-byte sort key of copy c of a document of
// domain d with the given tokens: all is the tokens of the domain's
// documents before it in input order, part those of the ones among them
// with a partial copy, partialCopy whether c is this document's partial
// copy, outTokens the domain's OutTokens. Keys compare as bytes; ties (none
// within a domain) go to input order, then copy.
func (m *Weights) InterleaveKey(dst []byte, d int, c int64, partialCopy bool, all, part, tokens, outTokens int64) []byte {
	return m.stats[d].interleaveKey(dst, d, c, partialCopy, all, part, tokens, outTokens)
}
