package mixer

import "os"

func pipelinetestDirEntries(dir string) int {
	es, _ := os.ReadDir(dir)
	return len(es)
}
