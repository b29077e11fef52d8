package ingest

import (
	"context"
	"fmt"

	"github.com/curatehq/curate/pipelines"
	"github.com/curatehq/curate/pipelines/storage"
)

// The jsonl, text and parquet sources are pipelines.FileSplitters: another
// engine can read each of their files on its own and get exactly what the
// whole source gives for that file. A per-file source is the very same
// reader restricted to one file (its only field), so ids, columns and
// rejects come from the same code.

var (
	_ pipelines.FileSplitter = (*parallelReader)(nil)
	_ pipelines.FileSplitter = (*textSource)(nil)
	_ pipelines.FileSplitter = (*parquetSource)(nil)
)

// listPaths lists a source's files as Files reports them.
func listPaths(ctx context.Context, kind, pattern string) ([]string, error) {
	files, err := listInputs(ctx, kind, pattern)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Path
	}
	return paths, nil
}

// inputFor names one listed file of a pattern as the whole source does.
func inputFor(kind, pattern, path string) (*inputFile, error) {
	if path == "" {
		return nil, fmt.Errorf("%s: OpenFile with an empty path", kind)
	}
	return &inputFile{path: path, rel: storage.RelativeTo(pattern, path)}, nil
}

// Files implements pipelines.FileSplitter.
func (r *parallelReader) Files(ctx context.Context) ([]string, error) {
	return listPaths(ctx, r.name, r.pattern)
}

// OpenFile implements pipelines.FileSplitter: a reader of the same kind,
// parser and Env that reads only path.
func (r *parallelReader) OpenFile(ctx context.Context, path string) (pipelines.Source, error) {
	in, err := inputFor(r.name, r.pattern, path)
	if err != nil {
		return nil, err
	}
	return &parallelReader{env: r.env, name: r.name, pattern: r.pattern, chunkSize: r.chunkSize,
		newParser: r.newParser, only: in}, nil
}

// Files implements pipelines.FileSplitter.
func (f *fileBatches) Files(ctx context.Context) ([]string, error) {
	return listPaths(ctx, f.kind, f.pattern)
}

// OpenFile implements pipelines.FileSplitter: the source built again from
// its parameters, reading only path.
func (s *textSource) OpenFile(ctx context.Context, path string) (pipelines.Source, error) {
	return s.openFile(path, newTextSource)
}

// OpenFile implements pipelines.FileSplitter: the source built again from
// its parameters, reading only path.
func (s *parquetSource) OpenFile(ctx context.Context, path string) (pipelines.Source, error) {
	return s.openFile(path, newParquetSource)
}

// openFile builds a source of f's kind again from its parameters with
// build (its constructor) and restricts it to path.
func (f *fileBatches) openFile(path string, build func(pipelines.Params, *pipelines.Env) (pipelines.Source, error)) (pipelines.Source, error) {
	in, err := inputFor(f.kind, f.pattern, path)
	if err != nil {
		return nil, err
	}
	src, err := build(f.params, f.env)
	if err != nil {
		return nil, err
	}
	src.(interface{ batches() *fileBatches }).batches().only = in
	return src, nil
}

// batches returns the file list a source embeds, for openFile.
func (f *fileBatches) batches() *fileBatches { return f }
