package curatebeam

// SetBucketDocs sets the documents a sort bucket aims at, for tests that
// need several buckets; it returns a function that restores the default.
func SetBucketDocs(n int) func() {
	old := bucketDocs
	bucketDocs = n
	return func() { bucketDocs = old }
}
