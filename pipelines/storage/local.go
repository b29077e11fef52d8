package storage

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

func init() { Register("", Local{}) }

// Local is the local filesystem backend. Writes go to a hidden temporary
// file in the destination folder and are renamed into place on Commit, so a
// reader never sees a half-written file and a crash leaves only a
// ".curate-tmp-*" file that the next Create of the same folder ignores.
type Local struct{}

type localFile struct {
	*os.File
	size int64
}

func (f localFile) Size() int64 { return f.size }

// Open implements Backend.
func (Local) Open(_ context.Context, p string) (File, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("open %s: is a directory", p)
	}
	return localFile{f, st.Size()}, nil
}

// Stat implements Backend.
func (Local) Stat(_ context.Context, p string) (Info, error) {
	st, err := os.Stat(p)
	if err != nil {
		return Info{}, err
	}
	return Info{Path: p, Size: st.Size()}, nil
}

// Remove implements Backend.
func (Local) Remove(_ context.Context, p string) error {
	err := os.Remove(p)
	if err != nil && os.IsNotExist(err) {
		return nil
	}
	return err
}

// List implements Backend.
func (Local) List(_ context.Context, pattern string) ([]Info, error) {
	if !strings.ContainsAny(pattern, "*?[") {
		st, err := os.Stat(pattern)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			return []Info{{Path: pattern, Size: st.Size()}}, nil
		}
		return walk(pattern, func(string) bool { return true })
	}
	root := strings.TrimSuffix(FixedPrefix(pattern), "/")
	if root == "" {
		root = "."
	}
	if _, err := os.Stat(root); err != nil {
		return nil, err
	}
	return walk(root, func(p string) bool { return MatchGlob(pattern, p) })
}

func walk(root string, keep func(string) bool) ([]Info, error) {
	var out []Info
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(name, ".curate-tmp-") {
			return nil
		}
		if root == "." {
			p = "./" + p
			p = strings.TrimPrefix(p, "./")
		}
		if !keep(filepath.ToSlash(p)) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, Info{Path: filepath.ToSlash(p), Size: info.Size()})
		return nil
	})
	return out, err
}

// MatchGlob matches a slash-separated path against a pattern whose segments
// use path.Match syntax, with "**" matching any number of segments.
func MatchGlob(pattern, name string) bool {
	return matchSegs(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegs(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchSegs(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

// RemoveStaleTemp removes the ".curate-tmp-*" files a killed process left
// in a local folder (and its subfolders): writes that never committed. It
// does nothing for remote paths, where an uncommitted multipart upload
// leaves no object. Call it only when no other process writes there.
func RemoveStaleTemp(dir string) error {
	if Scheme(dir) != "" {
		return nil
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a missing folder has nothing stale in it
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), ".curate-tmp-") {
			return os.Remove(p)
		}
		return nil
	})
	if os.IsNotExist(err) {
		return nil
	}
	return err
}

// Create implements Backend.
func (Local) Create(_ context.Context, p string) (Writer, error) {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, ".curate-tmp-*")
	if err != nil {
		return nil, err
	}
	return &localWriter{f: f, final: p}, nil
}

type localWriter struct {
	f     *os.File
	final string
	done  bool
}

func (w *localWriter) Write(b []byte) (int, error) { return w.f.Write(b) }

func (w *localWriter) Commit() error {
	if w.done {
		return fmt.Errorf("commit %s: already finished", w.final)
	}
	w.done = true
	if err := w.f.Sync(); err != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		return fmt.Errorf("commit %s: %w", w.final, err)
	}
	// CreateTemp makes 0600 files; outputs are for other users and tools too.
	if err := w.f.Chmod(0o644); err != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		return fmt.Errorf("commit %s: %w", w.final, err)
	}
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("commit %s: %w", w.final, err)
	}
	if err := os.Rename(w.f.Name(), w.final); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("commit %s: %w", w.final, err)
	}
	return nil
}

func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}
