package pipelines

import "context"

// FileSplitter is offered by a Source that reads a list of files (or
// objects) in order, so that another engine (curate-beam) can read each
// file on a different worker and still produce exactly what the whole
// source produces.
//
// Files lists the source's files in the order the whole source reads them:
// the paths as listed (local paths or URLs), sorted as the source sorts
// them. Listing an empty match is the same error the source's Next gives.
//
// OpenFile returns a new Source that reads only path, which must be one of
// Files' paths. It yields exactly the documents the whole source yields for
// that file, in the same order: the same ids (PATH:N relative to the
// pattern's fixed prefix, as the whole source names them), text, source,
// domain and extra columns, and it sets aside the same rejects into the
// Env the splitter was built with. Its batches may be cut differently (they
// never span files). It does not list the pattern again.
//
// Ownership: the caller owns each Source OpenFile returns and must Close
// it. Files and OpenFile leave the splitter itself untouched; it is still
// the caller's to Close, and a splitter that has handed out per-file
// sources should not itself be read. OpenFile may be called concurrently
// for different paths.
type FileSplitter interface {
	Files(ctx context.Context) ([]string, error)
	OpenFile(ctx context.Context, path string) (Source, error)
}
