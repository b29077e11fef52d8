package ingest

import (
	"context"
	"math/rand"
	"reflect"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/curatehq/curate/pipelines/storage"
	_ "github.com/curatehq/curate/pipelines/storage/s3"
	"github.com/curatehq/curate/pipelines/storage/s3/s3test"
)

// The parquet source reads an object in MinIO (ranged reads of the footer
// and pages) exactly as it reads the same file on local disk: ids,
// columns, nested values and rejects.
func TestParquetSourceS3MatchesLocal(t *testing.T) {
	srv := s3test.Start(t)
	srv.Env(t)
	bucket := srv.Bucket("parquet-in")
	data := writeParquet(t, randomWide(rand.New(rand.NewSource(3)), 3000),
		parquet.PageBufferSize(8<<10), parquet.MaxRowsPerRowGroup(700))
	dir := t.TempDir()
	writeFile(t, dir, "in/w.parquet", data)
	if err := storage.WriteFile(context.Background(), bucket+"/in/w.parquet", data); err != nil {
		t.Fatal(err)
	}
	lenv, senv := checkedEnv(t, dir, 1), checkedEnv(t, dir, 1)
	local := readAll(t, newSource(t, "parquet", lenv, map[string]any{"path": "in/*.parquet"}))
	remote := readAll(t, newSource(t, "parquet", senv, map[string]any{"path": bucket + "/in/*.parquet"}))
	if len(local) < 2000 || !reflect.DeepEqual(local, remote) {
		t.Fatalf("local %d rows, s3 %d rows; equal %v", len(local), len(remote), reflect.DeepEqual(local, remote))
	}
	lr, sr := lenv.Rejects.List(), senv.Rejects.List()
	if len(lr) == 0 || len(lr) != len(sr) {
		t.Fatalf("rejects: local %d, s3 %d", len(lr), len(sr))
	}
	for i := range lr { // the paths differ: local file and s3:// URL
		if lr[i].Line != sr[i].Line || lr[i].Reason != sr[i].Reason {
			t.Errorf("reject %d: local %+v, s3 %+v", i, lr[i], sr[i])
		}
	}
}
