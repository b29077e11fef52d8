// Package filter is the home of curate's text filters. Each rule set lives
// in its own subpackage and registers its stage from init():
//
//	filter.clean             filter/clean      NFC, control and zero-width characters, whitespace, mojibake
//	filter.gopher_quality    filter/gopher     Gopher quality rules (Rae et al. 2021, Table A1)
//	filter.gopher_repetition filter/gopher     Gopher repetition rules
//	filter.c4                filter/c4         C4 line removals and document rules (Raffel et al. 2020)
//	filter.fineweb           filter/fineweb    FineWeb quality rules (Penedo et al. 2024)
//	filter.pii               filter/pii        e-mail, IP, phone and payment-card redaction
//	filter.blocklist         filter/blocklist  URL/domain block lists and flagged-word ratio
//	filter.quality           filter/quality    a quality_score column in 0..1
//
// The word splitting, stop-word lists and line statistics the rule sets
// share are in filter/textstat, so that every rule counts words the same way.
//
// # Contract
//
// Every filter stage is stateless and safe for concurrent Process calls. A
// dropping filter answers with Result.Drop reasons of the form
// "STAGE:RULE" (for example "gopher_quality:word_count"), so a run report
// says which rule removed each document. An editing filter (clean, c4, pii)
// answers with Result.Text for the whole batch and Result.Changes saying per
// row what it changed ("" for an unchanged row). None of them implements
// annotate_only: the runner turns drops and edits into columns instead.
//
// Thresholds default to the published values (datatrove's implementations
// of the papers' rules were used as the reference for the exact semantics);
// docs/filters.md lists every rule, its field and its default.
package filter
