// Package e2e holds curate's end-to-end tests: txtar cases under testdata/
// (a pipeline.yaml, its input files and the output it must produce, byte for
// byte, at any worker count), and the same pipeline run on local paths and
// on a real MinIO server.
package e2e
