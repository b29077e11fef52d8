// Package s3test runs a real MinIO server on 127.0.0.1 for tests. The server
// binary comes from $CURATE_MINIO_BIN or the cache test.sh builds it into
// ($CURATE_CACHE/bin/minio, default ~/.cache/curate/bin/minio). Without one,
// tests skip, unless CURATE_TEST_S3=1 (set by test.sh and CI) says the S3
// tests must run, in which case they fail.
package s3test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// User and Password are the test server's root credentials.
const (
	User     = "curate-test"
	Password = "curate-test-secret"
)

// Server is a running MinIO server owned by one test.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	Addr string // 127.0.0.1:PORT
	cmd  *exec.Cmd
}

func binary() string {
	if b := os.Getenv("CURATE_MINIO_BIN"); b != "" {
		return b
	}
	cache := os.Getenv("CURATE_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "curate")
	}
	return filepath.Join(cache, "bin", "minio")
}

// Start starts a server with an empty data folder; it stops with the test.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binary()
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CURATE_TEST_S3") == "1" {
			t.Fatalf("CURATE_TEST_S3=1 but no MinIO server at %s", bin)
		}
		t.Skipf("no MinIO server at %s (run ./test.sh, which builds it)", bin)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Server{t: t, bin: bin, dir: t.TempDir(), Addr: addr}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Stop kills the server (its data stays for Restart).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server again on the same address and data.
func (s *Server) Restart() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "server", "--quiet", "--address", s.Addr, "--console-address", "127.0.0.1:0", s.dir)
	s.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+User, "MINIO_ROOT_PASSWORD="+Password, "MINIO_BROWSER=off")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting minio: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + s.Addr + "/minio/health/live")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("minio did not start on %s", s.Addr)
}

// Env sets the AWS_* variables so s3:// paths reach this server for the
// rest of the test.
func (s *Server) Env(t testing.TB) {
	t.Setenv("AWS_ENDPOINT_URL", "http://"+s.Addr)
	t.Setenv("AWS_ACCESS_KEY_ID", User)
	t.Setenv("AWS_SECRET_ACCESS_KEY", Password)
	t.Setenv("AWS_REGION", "us-east-1")
}

// Client returns a client for setting up and checking buckets directly.
func (s *Server) Client() *minio.Client {
	c, err := minio.New(s.Addr, &minio.Options{Creds: credentials.NewStaticV4(User, Password, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// Bucket creates a bucket and returns "s3://NAME".
func (s *Server) Bucket(name string) string {
	if err := s.Client().MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		s.t.Fatalf("make bucket %s: %v", name, err)
	}
	return fmt.Sprintf("s3://%s", name)
}
