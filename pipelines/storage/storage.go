// Package storage is the one door through which curate touches bytes at rest:
// sources, sinks, dedup indexes, spills and token stores all open, list and
// create files through it, so a path may be a local file or an s3:// object
// without the caller knowing which.
//
// A Backend serves one URL scheme. The local filesystem ("" scheme) is
// registered here; the S3 backend registers itself from its own package.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"sync"
)

// ErrNotExist is wrapped by every backend when a path does not exist.
var ErrNotExist = fs.ErrNotExist

// File is an open, readable file. It supports both streaming reads and
// random access (Parquet footers, ranged reads of objects). The caller owns
// it and must Close it.
type File interface {
	io.Reader
	io.ReaderAt
	io.Closer
	// Size is the file's length in bytes at open time.
	Size() int64
}

// Writer receives the bytes of a file being created. Nothing is visible at
// the final path until Commit returns nil: a local file is renamed into
// place, an S3 multipart upload is completed. Abort discards everything
// written; it is safe to call after Commit (it then does nothing) and more
// than once, so `defer w.Abort()` right after Create is the idiom.
type Writer interface {
	io.Writer
	Commit() error
	Abort() error
}

// Info describes one listed file.
type Info struct {
	Path string // full path, in the same form as the pattern (local path or s3://bucket/key)
	Size int64
}

// Backend implements storage for one scheme.
type Backend interface {
	// Open opens path for reading.
	Open(ctx context.Context, path string) (File, error)
	// List returns the files matching a glob pattern (path.Match syntax per
	// segment, plus "**" for any depth), sorted by path bytes so listings are
	// stable across runs and backends. A pattern without metacharacters
	// lists that one file if it exists, or every file under it if it is a
	// directory/prefix.
	List(ctx context.Context, pattern string) ([]Info, error)
	// Create starts writing path atomically (see Writer).
	Create(ctx context.Context, path string) (Writer, error)
	// Remove deletes a file; removing a missing file is not an error.
	Remove(ctx context.Context, path string) error
	// Stat returns the size of a file or an error wrapping ErrNotExist.
	Stat(ctx context.Context, path string) (Info, error)
}

var (
	mu       sync.RWMutex
	backends = map[string]Backend{}
)

// Register makes a backend available for a scheme such as "s3". It panics on
// a duplicate scheme: two backends for one scheme is a programming error.
func Register(scheme string, b Backend) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := backends[scheme]; dup {
		panic("storage: duplicate backend for scheme " + scheme)
	}
	backends[scheme] = b
}

// Scheme returns the URL scheme of path ("" for a local path).
func Scheme(path string) string {
	if i := strings.Index(path, "://"); i > 0 {
		return path[:i]
	}
	return ""
}

// For returns the backend serving path.
func For(path string) (Backend, error) {
	s := Scheme(path)
	mu.RLock()
	b, ok := backends[s]
	mu.RUnlock()
	if !ok {
		if s == "s3" {
			return nil, fmt.Errorf("storage: %s: the s3 backend is not linked into this binary", path)
		}
		return nil, fmt.Errorf("storage: %s: unsupported scheme %q", path, s)
	}
	return b, nil
}

// Open opens path with its backend.
func Open(ctx context.Context, path string) (File, error) {
	b, err := For(path)
	if err != nil {
		return nil, err
	}
	return b.Open(ctx, path)
}

// List lists a glob pattern with its backend; the result is sorted.
func List(ctx context.Context, pattern string) ([]Info, error) {
	b, err := For(pattern)
	if err != nil {
		return nil, err
	}
	infos, err := b.List(ctx, pattern)
	if err != nil {
		return nil, err
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Path < infos[j].Path })
	return infos, nil
}

// Create starts an atomic write of path with its backend.
func Create(ctx context.Context, path string) (Writer, error) {
	b, err := For(path)
	if err != nil {
		return nil, err
	}
	return b.Create(ctx, path)
}

// Remove deletes path with its backend.
func Remove(ctx context.Context, path string) error {
	b, err := For(path)
	if err != nil {
		return err
	}
	return b.Remove(ctx, path)
}

// Stat describes path with its backend.
func Stat(ctx context.Context, path string) (Info, error) {
	b, err := For(path)
	if err != nil {
		return Info{}, err
	}
	return b.Stat(ctx, path)
}

// ReadFile reads a whole (small) file: manifests, word lists, configs.
func ReadFile(ctx context.Context, path string) ([]byte, error) {
	f, err := Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// WriteFile writes data to path atomically.
func WriteFile(ctx context.Context, path string, data []byte) error {
	w, err := Create(ctx, path)
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Commit()
}

// Join joins a base path (local or URL) and a relative name with "/".
func Join(base string, elem ...string) string {
	p := strings.TrimRight(base, "/")
	for _, e := range elem {
		e = strings.Trim(e, "/")
		if e == "" {
			continue
		}
		if p == "" {
			p = e
		} else {
			p += "/" + e
		}
	}
	return p
}

// FixedPrefix returns the longest leading part of a glob pattern that holds
// no metacharacter, cut back to a '/' boundary. Document ids are formed
// relative to it, so a local run and an S3 run of the same files agree.
func FixedPrefix(pattern string) string {
	i := strings.IndexAny(pattern, "*?[{")
	if i < 0 {
		return pattern
	}
	j := strings.LastIndex(pattern[:i], "/")
	if j < 0 {
		return ""
	}
	return pattern[:j+1]
}

// RelativeTo returns path relative to the fixed prefix of pattern, used for
// document ids. When the pattern names a single file the base name is used.
func RelativeTo(pattern, path string) string {
	prefix := FixedPrefix(pattern)
	if prefix == pattern { // no glob: a single file or a directory
		if path == pattern {
			if j := strings.LastIndex(path, "/"); j >= 0 {
				return path[j+1:]
			}
			return path
		}
		prefix = strings.TrimRight(pattern, "/") + "/"
	}
	return strings.TrimPrefix(path, prefix)
}

// IsNotExist reports whether err says a path does not exist.
func IsNotExist(err error) bool { return errors.Is(err, ErrNotExist) }
