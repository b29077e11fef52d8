// Package all links every built-in source, stage and sink into a binary:
// each package below registers its components from init().
package all

import (
	_ "github.com/curatehq/curate/curriculum"           // curriculum.order, curriculum.readability
	_ "github.com/curatehq/curate/dedup"                // dedup.exact, dedup.minhash, dedup.paragraph, dedup.decontaminate
	_ "github.com/curatehq/curate/filter/blocklist"     // filter.blocklist
	_ "github.com/curatehq/curate/filter/c4"            // filter.c4
	_ "github.com/curatehq/curate/filter/clean"         // filter.clean
	_ "github.com/curatehq/curate/filter/fineweb"       // filter.fineweb
	_ "github.com/curatehq/curate/filter/gopher"        // filter.gopher_quality, filter.gopher_repetition
	_ "github.com/curatehq/curate/filter/language"      // filter.language
	_ "github.com/curatehq/curate/filter/pii"           // filter.pii
	_ "github.com/curatehq/curate/filter/quality"       // filter.quality
	_ "github.com/curatehq/curate/ingest"               // sources jsonl, parquet, text; sinks jsonl, parquet
	_ "github.com/curatehq/curate/ingest/warc"          // the warc source
	_ "github.com/curatehq/curate/mixer"                // mixer.weights
	_ "github.com/curatehq/curate/pipelines/storage"    // local files
	_ "github.com/curatehq/curate/pipelines/storage/s3" // s3:// paths
	_ "github.com/curatehq/curate/tokenize"             // tokenize.encode
	_ "github.com/curatehq/curate/tokenize/tokens"      // the tokens sink
)
