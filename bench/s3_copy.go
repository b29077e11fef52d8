//go:build ignore

// s3_copy copies files to (or from) s3:// through curate's storage layer:
// go run bench/s3_copy.go SRC... DSTDIR
package main

import (
	"context"
	"log"
	"os"
	"path"

	"github.com/curatehq/curate/pipelines/storage"
	_ "github.com/curatehq/curate/pipelines/storage/s3"
)

func main() {
	args := os.Args[1:]
	if len(args) < 2 {
		log.Fatal("usage: s3_copy SRC... DSTDIR")
	}
	ctx := context.Background()
	dst := args[len(args)-1]
	for _, src := range args[:len(args)-1] {
		b, err := storage.ReadFile(ctx, src)
		if err != nil {
			log.Fatal(err)
		}
		if err := storage.WriteFile(ctx, storage.Join(dst, path.Base(src)), b); err != nil {
			log.Fatal(err)
		}
	}
}
