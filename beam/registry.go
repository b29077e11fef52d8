package curatebeam

import (
	"fmt"
	"unsafe"

	"github.com/curatehq/curate/pipelines"
)

// The engine's registry exports specs but not constructors, and curate-beam
// must build every component with its registered constructor (the same code
// as the local engine). Until the pipelines package exports a constructor
// lookup, this file reaches the unexported one. entry mirrors
// pipelines.entry field for field; TestRegistryBridge checks the mirror
// against pipelines.LookupSpec so a drift fails the tests, not a run.

//go:linkname lookupEntry github.com/curatehq/curate/pipelines.lookup
func lookupEntry(kind pipelines.Kind, name string) (unsafe.Pointer, bool)

type entry struct {
	kind    pipelines.Kind
	spec    *pipelines.Spec
	source  pipelines.SourceFunc
	stage   pipelines.StageFunc
	barrier pipelines.BarrierFunc
	sink    pipelines.SinkFunc
}

func lookup(kind pipelines.Kind, name string) (*entry, error) {
	p, ok := lookupEntry(kind, name)
	if !ok || p == nil {
		return nil, fmt.Errorf("no %s named %q is registered", kind, name)
	}
	e := (*entry)(p)
	if spec, _ := pipelines.LookupSpec(kind, name); e.spec != spec || e.kind != kind {
		return nil, fmt.Errorf("curate-beam was built against another version of the pipelines registry")
	}
	return e, nil
}
