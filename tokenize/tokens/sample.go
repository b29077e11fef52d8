package tokens

import (
	"fmt"

	"github.com/curatehq/curate/tokenize/bpe"
	"github.com/curatehq/curate/tokenize/store"
)

// SampleDoc is one document of a store, decoded.
type SampleDoc struct {
	Doc    int64  `json:"doc"`
	Tokens int    `json:"tokens"` // end-of-text included
	Text   string `json:"text"`   // without the end-of-text token
}

// Sample decodes the first n documents of an open store with the tokenizer
// saved in it (`curate shards inspect --sample N`).
func Sample(s *store.Store, n int) ([]SampleDoc, error) {
	if n <= 0 {
		return nil, nil
	}
	tj := s.Tokenizer()
	if len(tj) == 0 {
		return nil, fmt.Errorf("tokens: %s has no saved tokenizer to decode with", s.Dir())
	}
	tok, err := bpe.FromHFJSON(tj)
	if err != nil {
		return nil, fmt.Errorf("tokens: the tokenizer saved in %s: %w", s.Dir(), err)
	}
	eot := s.Manifest().EOT
	var out []SampleDoc
	for i := int64(0); i < min(int64(n), s.NumDocs()); i++ {
		ids := s.Doc(i)
		text := ids
		if len(text) > 0 && eot >= 0 && text[len(text)-1] == eot {
			text = text[:len(text)-1]
		}
		out = append(out, SampleDoc{Doc: i, Tokens: len(ids), Text: tok.Decode(text)})
	}
	return out, nil
}
