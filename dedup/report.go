package dedup

import (
	"fmt"
	"math/bits"
)

// maxTrackedClusters bounds the memory of the cluster histogram.
const maxTrackedClusters = 1 << 20

// dedupStats counts documents and duplicate clusters for the report. A
// cluster is a document plus the later documents whose dup_of names it.
type dedupStats struct {
	docs, dropped int64
	indexed       int64
	spilled       int
	clusters      map[uint32]uint32 // first document -> duplicates naming it
	truncated     bool
}

func newDedupStats() dedupStats { return dedupStats{clusters: map[uint32]uint32{}} }

func (s *dedupStats) dup(of uint32) {
	s.dropped++
	if _, ok := s.clusters[of]; ok || len(s.clusters) < maxTrackedClusters {
		s.clusters[of]++
	} else {
		s.truncated = true
	}
}

// report returns the histogram of cluster sizes in power-of-two buckets
// ("2", "3-4", "5-8", ...).
func (s *dedupStats) report() map[string]any {
	hist := map[string]int64{}
	largest := uint32(0)
	for _, c := range s.clusters {
		size := c + 1
		largest = max(largest, size)
		hist[sizeBucket(size)]++
	}
	return map[string]any{
		"documents":          s.docs,
		"duplicates":         s.dropped,
		"clusters":           len(s.clusters),
		"largest_cluster":    largest,
		"cluster_sizes":      hist,
		"clusters_truncated": s.truncated,
		"index_documents":    s.indexed,
		"spilled_segments":   s.spilled,
	}
}

func sizeBucket(n uint32) string {
	if n <= 2 {
		return "2"
	}
	hi := uint32(1) << bits.Len32(n-1)
	return fmt.Sprintf("%d-%d", hi/2+1, hi)
}
