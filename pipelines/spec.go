package pipelines

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Type is the type of a spec field.
type Type int

// Field types.
const (
	String   Type = iota // a string; Enum restricts it
	Int                  // an integer; Min/Max bound it
	Float                // a number; Min/Max bound it
	Bool                 // true or false
	Size                 // bytes: 4096, "64MiB", "2GB"
	Duration             // "30s", "5m"
	Strings              // a list of strings (a single string is a list of one)
	FloatMap             // a mapping of names to numbers (mixer weights)
	Any                  // any YAML value, checked by the component
)

func (t Type) String() string {
	switch t {
	case String:
		return "string"
	case Int:
		return "int"
	case Float:
		return "float"
	case Bool:
		return "bool"
	case Size:
		return "size"
	case Duration:
		return "duration"
	case Strings:
		return "list of strings"
	case FloatMap:
		return "map of numbers"
	}
	return "any"
}

// Field describes one parameter of a component.
type Field struct {
	Name     string
	Type     Type
	Default  any // in the field's Go type (string, int, float64, bool, int64, time.Duration, []string, map[string]float64)
	Required bool
	Enum     []string // allowed values of a String or of each item of Strings
	Min, Max *float64 // inclusive bounds of an Int, Float or Size
	Doc      string
}

// Bound returns a pointer to v, for Field.Min and Field.Max.
func Bound(v float64) *float64 { return &v }

// Spec describes a component: its registered name, one-line doc, fields and,
// for stateful stages, an estimate of memory per document.
type Spec struct {
	Name   string
	Doc    string
	Fields []Field
	// Filter marks a stage that can drop or edit documents; it gets the
	// common annotate_only field.
	Filter bool
	// MemoryPerDoc, when set, estimates the bytes of state the component
	// holds per input document with these parameters (shown by validate).
	MemoryPerDoc func(p Params) int64
}

// Field returns the named field.
func (s *Spec) Field(name string) (Field, bool) {
	for _, f := range s.allFields() {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

var annotateOnly = Field{Name: "annotate_only", Type: Bool, Default: false,
	Doc: "keep every document unchanged; add the decision and reason as columns"}

func (s *Spec) allFields() []Field {
	if !s.Filter {
		return s.Fields
	}
	return append(append([]Field(nil), s.Fields...), annotateOnly)
}

// Params are a component's validated parameters with defaults filled in.
type Params struct {
	spec   *Spec
	values map[string]any
	set    map[string]bool
}

// NewParams builds params from Go values, filling defaults; it is for tests
// and programmatic use (YAML goes through Load, which reports positions).
func NewParams(spec *Spec, values map[string]any) (Params, error) {
	p := Params{spec: spec, values: map[string]any{}, set: map[string]bool{}}
	for _, f := range spec.allFields() {
		if f.Default != nil {
			p.values[f.Name] = f.Default
		}
	}
	for k, v := range values {
		f, ok := spec.Field(k)
		if !ok {
			return p, fmt.Errorf("%s: unknown field %q", spec.Name, k)
		}
		cv, err := convert(f, v)
		if err != nil {
			return p, fmt.Errorf("%s: %s: %v", spec.Name, k, err)
		}
		p.values[k] = cv
		p.set[k] = true
	}
	for _, f := range spec.allFields() {
		if f.Required && !p.set[f.Name] {
			return p, fmt.Errorf("%s: missing required field %q", spec.Name, f.Name)
		}
	}
	return p, nil
}

// IsSet reports whether the user gave the field (rather than its default).
func (p Params) IsSet(name string) bool { return p.set[name] }

// Spec returns the component's spec.
func (p Params) Spec() *Spec { return p.spec }

func (p Params) get(name string) any {
	if p.spec != nil {
		if _, ok := p.spec.Field(name); !ok {
			panic(fmt.Sprintf("pipelines: %s has no field %q", p.spec.Name, name))
		}
	}
	return p.values[name]
}

// String returns a String field.
func (p Params) String(name string) string { v, _ := p.get(name).(string); return v }

// Int returns an Int field.
func (p Params) Int(name string) int { v, _ := p.get(name).(int); return v }

// Float returns a Float field.
func (p Params) Float(name string) float64 { v, _ := p.get(name).(float64); return v }

// Bool returns a Bool field.
func (p Params) Bool(name string) bool { v, _ := p.get(name).(bool); return v }

// Size returns a Size field in bytes.
func (p Params) Size(name string) int64 { v, _ := p.get(name).(int64); return v }

// Duration returns a Duration field.
func (p Params) Duration(name string) time.Duration { v, _ := p.get(name).(time.Duration); return v }

// Strings returns a Strings field.
func (p Params) Strings(name string) []string { v, _ := p.get(name).([]string); return v }

// FloatMap returns a FloatMap field.
func (p Params) FloatMap(name string) map[string]float64 {
	v, _ := p.get(name).(map[string]float64)
	return v
}

// Any returns an Any field as decoded from YAML (maps, lists, scalars).
func (p Params) Any(name string) any { return p.get(name) }

// convert checks and converts a decoded YAML (or Go) value to the field's type.
func convert(f Field, v any) (any, error) {
	switch f.Type {
	case String:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %s", describe(v))
		}
		if len(f.Enum) > 0 && !contains(f.Enum, s) {
			return nil, fmt.Errorf("%q is not one of %s%s", s, strings.Join(f.Enum, ", "), suggest(s, f.Enum))
		}
		return s, nil
	case Int:
		var n int
		switch x := v.(type) {
		case int:
			n = x
		case int64:
			n = int(x)
		case uint64:
			n = int(x)
		case float64:
			if x != float64(int(x)) {
				return nil, fmt.Errorf("want an integer, got %v", x)
			}
			n = int(x)
		default:
			return nil, fmt.Errorf("want an integer, got %s", describe(v))
		}
		return n, checkRange(f, float64(n))
	case Float:
		var x float64
		switch y := v.(type) {
		case float64:
			x = y
		case int:
			x = float64(y)
		case int64:
			x = float64(y)
		case uint64:
			x = float64(y)
		default:
			return nil, fmt.Errorf("want a number, got %s", describe(v))
		}
		return x, checkRange(f, x)
	case Bool:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want true or false, got %s", describe(v))
		}
		return b, nil
	case Size:
		var n int64
		switch x := v.(type) {
		case int:
			n = int64(x)
		case int64:
			n = x
		case uint64:
			n = int64(x)
		case float64:
			n = int64(x)
		case string:
			var err error
			if n, err = ParseSize(x); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("want a size such as 64MiB, got %s", describe(v))
		}
		return n, checkRange(f, float64(n))
	case Duration:
		switch x := v.(type) {
		case time.Duration:
			return x, nil
		case string:
			d, err := time.ParseDuration(x)
			if err != nil {
				return nil, fmt.Errorf("want a duration such as 30s, got %q", x)
			}
			return d, nil
		}
		return nil, fmt.Errorf("want a duration such as 30s, got %s", describe(v))
	case Strings:
		var out []string
		switch x := v.(type) {
		case string:
			out = []string{x}
		case []string:
			out = append(out, x...)
		case []any:
			for i, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("item %d: want a string, got %s", i+1, describe(e))
				}
				out = append(out, s)
			}
		default:
			return nil, fmt.Errorf("want a list of strings, got %s", describe(v))
		}
		if len(f.Enum) > 0 {
			for _, s := range out {
				if !contains(f.Enum, s) {
					return nil, fmt.Errorf("%q is not one of %s%s", s, strings.Join(f.Enum, ", "), suggest(s, f.Enum))
				}
			}
		}
		return out, nil
	case FloatMap:
		out := map[string]float64{}
		switch x := v.(type) {
		case map[string]float64:
			for k, e := range x {
				out[k] = e
			}
		case map[string]any:
			for k, e := range x {
				c, err := convert(Field{Type: Float, Min: f.Min, Max: f.Max}, e)
				if err != nil {
					return nil, fmt.Errorf("%s: %v", k, err)
				}
				out[k] = c.(float64)
			}
		default:
			return nil, fmt.Errorf("want a mapping of names to numbers, got %s", describe(v))
		}
		return out, nil
	}
	return v, nil
}

func checkRange(f Field, x float64) error {
	if f.Min != nil && x < *f.Min {
		return fmt.Errorf("%v is below the minimum %v", x, *f.Min)
	}
	if f.Max != nil && x > *f.Max {
		return fmt.Errorf("%v is above the maximum %v", x, *f.Max)
	}
	return nil
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// ParseSize parses a byte size such as 512, "64KiB", "2GiB", "1.5GB".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suf string
		mul float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}}
	mul := 1.0
	for _, u := range units {
		if len(t) > len(u.suf) && strings.EqualFold(t[len(t)-len(u.suf):], u.suf) {
			mul = u.mul
			t = strings.TrimSpace(t[:len(t)-len(u.suf)])
			break
		}
	}
	x, err := strconv.ParseFloat(t, 64)
	if err != nil || x < 0 {
		return 0, fmt.Errorf("want a size such as 64MiB, got %q", s)
	}
	return int64(x * mul), nil
}

// Kind is one of the registry's three namespaces.
type Kind string

// Namespaces.
const (
	KindSource Kind = "source"
	KindStage  Kind = "stage"
	KindSink   Kind = "sink"
)

// Constructors.
type (
	SourceFunc  func(p Params, env *Env) (Source, error)
	StageFunc   func(p Params, env *Env) (Stage, error)
	BarrierFunc func(p Params, env *Env) (Barrier, error)
	SinkFunc    func(p Params, env *Env) (Sink, error)
)

type entry struct {
	kind    Kind
	spec    *Spec
	source  SourceFunc
	stage   StageFunc
	barrier BarrierFunc
	sink    SinkFunc
}

var (
	regMu    sync.RWMutex
	registry = map[Kind]map[string]*entry{KindSource: {}, KindStage: {}, KindSink: {}}
)

func register(kind Kind, e *entry) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[kind][e.spec.Name]; dup {
		panic(fmt.Sprintf("pipelines: duplicate %s %q", kind, e.spec.Name))
	}
	e.kind = kind
	registry[kind][e.spec.Name] = e
}

// RegisterSource adds a source; call it from init(). Duplicates panic.
func RegisterSource(spec Spec, f SourceFunc) { register(KindSource, &entry{spec: &spec, source: f}) }

// RegisterStage adds a streaming stage; call it from init().
func RegisterStage(spec Spec, f StageFunc) { register(KindStage, &entry{spec: &spec, stage: f}) }

// RegisterBarrier adds a barrier stage; call it from init().
func RegisterBarrier(spec Spec, f BarrierFunc) { register(KindStage, &entry{spec: &spec, barrier: f}) }

// RegisterSink adds a sink; call it from init().
func RegisterSink(spec Spec, f SinkFunc) { register(KindSink, &entry{spec: &spec, sink: f}) }

func lookup(kind Kind, name string) (*entry, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	e, ok := registry[kind][name]
	return e, ok
}

// Specs returns the specs of one namespace sorted by name.
func Specs(kind Kind) []*Spec {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []*Spec
	for _, e := range registry[kind] {
		out = append(out, e.spec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupSpec returns the spec registered under name in a namespace.
func LookupSpec(kind Kind, name string) (*Spec, bool) {
	e, ok := lookup(kind, name)
	if !ok {
		return nil, false
	}
	return e.spec, true
}

// IsBarrier reports whether the stage registered under name is a barrier.
func IsBarrier(name string) bool {
	e, ok := lookup(KindStage, name)
	return ok && e.barrier != nil
}

func names(kind Kind) []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []string
	for n := range registry[kind] {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// suggest returns ` (did you mean "x"?)` for the closest candidate, if close.
func suggest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := levenshtein(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" && (bestD <= 2 || bestD <= len(s)/3) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// Constructors are a registered component's constructors, for engines other
// than Run that build components themselves (curate-beam). Exactly one is
// set for a source or sink; Stage or Barrier for a stage.
type Constructors struct {
	Spec    *Spec
	Source  SourceFunc
	Stage   StageFunc
	Barrier BarrierFunc
	Sink    SinkFunc
}

// LookupConstructors returns the constructors registered under name.
func LookupConstructors(kind Kind, name string) (Constructors, bool) {
	e, ok := lookup(kind, name)
	if !ok {
		return Constructors{}, false
	}
	return Constructors{Spec: e.spec, Source: e.source, Stage: e.stage, Barrier: e.barrier, Sink: e.sink}, true
}
