// Package s3 is the storage backend for s3:// paths (AWS S3, MinIO or any
// S3-compatible store), on github.com/minio/minio-go/v7. Importing it
// registers the backend.
//
// Configuration comes from the environment, as the AWS tools read it:
// AWS_ENDPOINT_URL or S3_ENDPOINT (a URL; http:// means plain HTTP; a custom
// endpoint uses path-style addressing), AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (else the AWS shared credentials file and
// AWS_PROFILE), AWS_REGION (default us-east-1).
//
// Reads stream (GetObject, no whole-object download) and random reads are
// ranged requests, so Parquet reads only its footer and the column chunks it
// needs; small ranged reads (footers, index files) go through a read cache.
// Writes are multipart uploads completed on Commit: until then no object is
// visible, and Abort (or a failure) leaves nothing behind. minio-go retries
// transient failures with backoff; permanent ones (no such bucket, access
// denied) come back as errors naming the bucket and key.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/curatehq/curate/pipelines/storage"
)

func init() { storage.Register("s3", &Backend{fromEnv: true}) }

// PartSize is the multipart upload part size: the memory one open writer
// holds.
const PartSize = 16 << 20

// Backend implements storage.Backend for s3:// paths. The zero value reads
// its configuration from the environment on first use.
type Backend struct {
	fromEnv bool

	mu     sync.Mutex
	envSig string
	client *minio.Client
	err    error
	cache  *ristretto.Cache[string, []byte]
}

// Config describes how to reach the object store.
type Config struct {
	Endpoint  string // host:port
	Secure    bool
	Region    string
	PathStyle bool
	Creds     *credentials.Credentials
}

// ConfigFromEnv reads the endpoint, region and credentials from the
// environment (see the package doc).
func ConfigFromEnv() (Config, error) {
	c := Config{Endpoint: "s3.amazonaws.com", Secure: true, Region: os.Getenv("AWS_REGION")}
	if c.Region == "" {
		c.Region = os.Getenv("AWS_DEFAULT_REGION")
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	ep := os.Getenv("AWS_ENDPOINT_URL")
	if ep == "" {
		ep = os.Getenv("S3_ENDPOINT")
	}
	if ep != "" {
		if !strings.Contains(ep, "://") {
			ep = "https://" + ep
		}
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" {
			return c, fmt.Errorf("s3: bad endpoint %q in AWS_ENDPOINT_URL/S3_ENDPOINT", ep)
		}
		c.Endpoint, c.Secure, c.PathStyle = u.Host, u.Scheme == "https", true
	}
	c.Creds = credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{},
	})
	return c, nil
}

// New returns a backend for a given configuration (tests use it to reach a
// second server; the registered backend reads the environment).
func New(c Config) (*Backend, error) {
	b := &Backend{}
	b.client, b.cache, b.err = connect(c)
	return b, b.err
}

func connect(c Config) (*minio.Client, *ristretto.Cache[string, []byte], error) {
	lookup := minio.BucketLookupAuto
	if c.PathStyle {
		lookup = minio.BucketLookupPath
	}
	cl, err := minio.New(c.Endpoint, &minio.Options{Creds: c.Creds, Secure: c.Secure, Region: c.Region, BucketLookup: lookup})
	if err != nil {
		return nil, nil, fmt.Errorf("s3: connecting to %s: %w", c.Endpoint, err)
	}
	cache, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters: 1 << 14, MaxCost: 64 << 20, BufferItems: 64})
	if err != nil {
		return nil, nil, err
	}
	return cl, cache, nil
}

// envVars are the variables the registered backend reads; it reconnects
// when they change (tests point it at one server after another).
var envVars = []string{"AWS_ENDPOINT_URL", "S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE"}

func (b *Backend) init() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.fromEnv {
		return b.err
	}
	var sig strings.Builder
	for _, v := range envVars {
		sig.WriteString(os.Getenv(v))
		sig.WriteByte(0)
	}
	if b.client != nil && sig.String() == b.envSig {
		return nil
	}
	b.envSig = sig.String()
	c, err := ConfigFromEnv()
	if err != nil {
		b.client, b.err = nil, err
		return err
	}
	b.client, b.cache, b.err = connect(c)
	return b.err
}

// split turns s3://bucket/key into its parts.
func split(path string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(path, "s3://")
	if !ok {
		return "", "", fmt.Errorf("s3: %q is not an s3:// path", path)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("s3: %q names no bucket", path)
	}
	return bucket, key, nil
}

// wrap turns a minio error into one that names the object and, for a
// missing object, wraps fs.ErrNotExist.
func wrap(op, bucket, key string, err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	where := fmt.Sprintf("s3://%s/%s", bucket, key)
	switch resp.Code {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%s %s: %w", op, where, fs.ErrNotExist)
	case "NoSuchBucket":
		return fmt.Errorf("%s %s: bucket %q does not exist: %w", op, where, bucket, fs.ErrNotExist)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch":
		return fmt.Errorf("%s %s: access denied (%s: %s); check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", op, where, resp.Code, resp.Message)
	}
	return fmt.Errorf("%s %s: %w", op, where, err)
}

// Open implements storage.Backend.
func (b *Backend) Open(ctx context.Context, path string) (storage.File, error) {
	if err := b.init(); err != nil {
		return nil, err
	}
	bucket, key, err := split(path)
	if err != nil {
		return nil, err
	}
	info, err := b.client.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return nil, wrap("open", bucket, key, err)
	}
	return &file{b: b, ctx: ctx, bucket: bucket, key: key, size: info.Size, etag: info.ETag}, nil
}

// file streams with one GET from the current offset, re-opened after a
// failure mid-stream, and serves ReadAt with ranged GETs (cached when small).
type file struct {
	b           *Backend
	ctx         context.Context
	bucket, key string
	size        int64
	etag        string
	body        io.ReadCloser
	off         int64
}

func (f *file) Size() int64 { return f.size }

func (f *file) get(off, n int64) (io.ReadCloser, error) {
	opts := minio.GetObjectOptions{}
	opts.SetMatchETag(f.etag) // a changed object fails rather than mixing versions
	if n > 0 {
		if err := opts.SetRange(off, off+n-1); err != nil {
			return nil, err
		}
	} else if off > 0 {
		if err := opts.SetRange(off, 0); err != nil {
			return nil, err
		}
	}
	core := minio.Core{Client: f.b.client}
	body, _, _, err := core.GetObject(f.ctx, f.bucket, f.key, opts)
	if err != nil {
		return nil, wrap("read", f.bucket, f.key, err)
	}
	return body, nil
}

// Read streams the object; a connection dropped mid-object is resumed from
// the current offset a few times before the error is returned.
func (f *file) Read(p []byte) (int, error) {
	if f.off >= f.size {
		return 0, io.EOF
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if f.body == nil {
			body, err := f.get(f.off, 0)
			if err != nil {
				lastErr = err
				if !retryable(err) || f.ctx.Err() != nil {
					return 0, err
				}
				sleep(f.ctx, attempt)
				continue
			}
			f.body = body
		}
		n, err := f.body.Read(p)
		f.off += int64(n)
		if err == nil || (err == io.EOF && f.off >= f.size) {
			if err == io.EOF {
				f.body.Close()
				f.body = nil
			}
			return n, err
		}
		f.body.Close()
		f.body = nil
		lastErr = err
		if n > 0 {
			return n, nil
		}
		if f.ctx.Err() != nil {
			return 0, f.ctx.Err()
		}
		sleep(f.ctx, attempt)
	}
	return 0, fmt.Errorf("read s3://%s/%s at %d: %w", f.bucket, f.key, f.off, lastErr)
}

func retryable(err error) bool {
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp.StatusCode >= 500 || resp.StatusCode == 0
	}
	return !errors.Is(err, fs.ErrNotExist) && !strings.Contains(err.Error(), "access denied")
}

func sleep(ctx context.Context, attempt int) {
	t := time.NewTimer(time.Duration(100<<attempt) * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// cacheMax is the largest ranged read kept in the read cache.
const cacheMax = 1 << 20

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, io.EOF
	}
	want := int64(len(p))
	short := false
	if off+want > f.size {
		want, short = f.size-off, true
	}
	ck := fmt.Sprintf("%s/%s@%s:%d+%d", f.bucket, f.key, f.etag, off, want)
	if want <= cacheMax {
		if v, ok := f.b.cache.Get(ck); ok && int64(len(v)) == want {
			copy(p, v)
			if short {
				return int(want), io.EOF
			}
			return int(want), nil
		}
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		body, err := f.get(off, want)
		if err == nil {
			n, rerr := io.ReadFull(body, p[:want])
			body.Close()
			if rerr == nil {
				if want <= cacheMax {
					f.b.cache.Set(ck, append([]byte(nil), p[:want]...), want)
				}
				if short {
					return n, io.EOF
				}
				return n, nil
			}
			err = rerr
		}
		lastErr = err
		if !retryable(err) || f.ctx.Err() != nil {
			break
		}
		sleep(f.ctx, attempt)
	}
	return 0, fmt.Errorf("read s3://%s/%s [%d,+%d): %w", f.bucket, f.key, off, want, lastErr)
}

func (f *file) Close() error {
	if f.body != nil {
		f.body.Close()
		f.body = nil
	}
	return nil
}

// Stat implements storage.Backend.
func (b *Backend) Stat(ctx context.Context, path string) (storage.Info, error) {
	if err := b.init(); err != nil {
		return storage.Info{}, err
	}
	bucket, key, err := split(path)
	if err != nil {
		return storage.Info{}, err
	}
	info, err := b.client.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return storage.Info{}, wrap("stat", bucket, key, err)
	}
	return storage.Info{Path: path, Size: info.Size}, nil
}

// Remove implements storage.Backend.
func (b *Backend) Remove(ctx context.Context, path string) error {
	if err := b.init(); err != nil {
		return err
	}
	bucket, key, err := split(path)
	if err != nil {
		return err
	}
	err = b.client.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code == "NoSuchKey" {
		return nil
	}
	return wrap("remove", bucket, key, err)
}

// List implements storage.Backend: a paginated listing (minio-go pages
// through ListObjectsV2) under the pattern's fixed prefix, filtered by the
// glob and sorted by key.
func (b *Backend) List(ctx context.Context, pattern string) ([]storage.Info, error) {
	if err := b.init(); err != nil {
		return nil, err
	}
	bucket, keyPat, err := split(pattern)
	if err != nil {
		return nil, err
	}
	exists, err := b.client.BucketExists(ctx, bucket)
	if err != nil {
		return nil, wrap("list", bucket, keyPat, err)
	}
	if !exists {
		return nil, fmt.Errorf("list s3://%s/%s: bucket %q does not exist: %w", bucket, keyPat, bucket, fs.ErrNotExist)
	}
	glob := strings.ContainsAny(keyPat, "*?[")
	prefix := keyPat
	if glob {
		prefix = storage.FixedPrefix(keyPat)
	}
	var out []storage.Info
	for obj := range b.client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, wrap("list", bucket, prefix, obj.Err)
		}
		if strings.HasSuffix(obj.Key, "/") {
			continue
		}
		full := "s3://" + bucket + "/" + obj.Key
		switch {
		case glob:
			if !storage.MatchGlob(pattern, full) {
				continue
			}
		case obj.Key != keyPat && !strings.HasPrefix(obj.Key, strings.TrimSuffix(keyPat, "/")+"/") && keyPat != "":
			continue // "a/b" lists a/b itself or a/b/..., not a/bc
		}
		out = append(out, storage.Info{Path: full, Size: obj.Size})
	}
	if len(out) == 0 && !glob {
		return nil, fmt.Errorf("list %s: %w", pattern, fs.ErrNotExist)
	}
	return out, nil
}

// Create implements storage.Backend with a streaming multipart upload.
func (b *Backend) Create(ctx context.Context, path string) (storage.Writer, error) {
	if err := b.init(); err != nil {
		return nil, err
	}
	bucket, key, err := split(path)
	if err != nil {
		return nil, err
	}
	if key == "" || strings.HasSuffix(key, "/") {
		return nil, fmt.Errorf("create %s: not an object key", path)
	}
	pr, pw := io.Pipe()
	uctx, cancel := context.WithCancel(ctx)
	w := &writer{pw: pw, cancel: cancel, done: make(chan struct{}), bucket: bucket, key: key}
	go func() {
		defer close(w.done)
		_, err := b.client.PutObject(uctx, bucket, key, pr, -1, minio.PutObjectOptions{PartSize: PartSize,
			ContentType: "application/octet-stream", DisableContentSha256: true})
		w.err = wrap("write", bucket, key, err)
		pr.CloseWithError(err) // unblock a writer if the upload failed early
	}()
	return w, nil
}

type writer struct {
	pw          *io.PipeWriter
	cancel      context.CancelFunc
	done        chan struct{}
	err         error
	bucket, key string
	finished    bool
}

func (w *writer) Write(p []byte) (int, error) {
	n, err := w.pw.Write(p)
	if err != nil {
		<-w.done
		if w.err != nil {
			return n, w.err
		}
		return n, fmt.Errorf("write s3://%s/%s: %w", w.bucket, w.key, err)
	}
	return n, nil
}

// Commit completes the multipart upload: only now does the object appear.
func (w *writer) Commit() error {
	if w.finished {
		return fmt.Errorf("commit s3://%s/%s: already finished", w.bucket, w.key)
	}
	w.finished = true
	w.pw.Close()
	<-w.done
	w.cancel()
	return w.err
}

// Abort cancels the upload; minio-go aborts the multipart upload, so no
// object and no stray parts remain.
func (w *writer) Abort() error {
	if w.finished {
		return nil
	}
	w.finished = true
	w.cancel()
	w.pw.CloseWithError(errAborted)
	<-w.done
	return nil
}

var errAborted = errors.New("upload aborted")
