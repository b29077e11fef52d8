package curatebeam

import (
	"fmt"

	"github.com/curatehq/curate/pipelines"
)

// lookup returns a component's registered constructors: curate-beam builds
// every component with them, the same code as the local engine.
func lookup(kind pipelines.Kind, name string) (*pipelines.Constructors, error) {
	c, ok := pipelines.LookupConstructors(kind, name)
	if !ok {
		return nil, fmt.Errorf("no %s named %q is registered", kind, name)
	}
	return &c, nil
}
