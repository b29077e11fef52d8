package mixer

import (
	"os"
	"testing"

	"github.com/curatehq/curate/curriculum"
	"github.com/curatehq/curate/pipelines"
)

func pipelinetestDirEntries(dir string) int {
	es, _ := os.ReadDir(dir)
	return len(es)
}

func mustSpec(tb testing.TB, name string) *pipelines.Spec {
	s, ok := pipelines.LookupSpec(pipelines.KindStage, name)
	if !ok {
		tb.Fatalf("%s is not registered", name)
	}
	return s
}

func mustOrder(tb testing.TB, p pipelines.Params, env *pipelines.Env) *curriculum.Order {
	o, err := curriculum.NewOrder(p, env)
	if err != nil {
		tb.Fatal(err)
	}
	return o
}
