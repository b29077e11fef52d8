package pipelines

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Pipeline is a loaded, validated pipeline file.
type Pipeline struct {
	File    string // the file as given
	Dir     string // its folder: relative paths resolve against it
	Source  []byte // the file's bytes (hashed by the run journal)
	Sources []Component
	Stages  []Component
	Sinks   []Component
	// Train is the training config named by the optional train: block
	// (resolved against Dir), or "".
	Train string
}

// Component is one entry of a pipeline's sources, stages or sinks.
type Component struct {
	Kind      Kind
	Name      string
	Index     int
	Line, Col int
	Params    Params
}

// Spec returns the component's spec.
func (c Component) Spec() *Spec { return c.Params.spec }

// ConfigError is one problem in a pipeline file.
type ConfigError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e ConfigError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// ConfigErrors is every problem found in a file, in file order.
type ConfigErrors []ConfigError

func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// IsConfigError reports whether err is a configuration problem (exit 2).
func IsConfigError(err error) bool {
	var es ConfigErrors
	var e ConfigError
	return errors.As(err, &es) || errors.As(err, &e)
}

// LoadFile reads and validates a pipeline file.
func LoadFile(path string) (*Pipeline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, ConfigErrors{{File: path, Line: 1, Col: 1, Msg: err.Error()}}
	}
	return Load(path, data)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Load validates a pipeline from its bytes; file names it in messages and
// its folder anchors relative paths. It returns every problem at once as
// ConfigErrors.
func Load(file string, data []byte) (*Pipeline, error) {
	p := &Pipeline{File: file, Dir: filepath.Dir(file), Source: data}
	l := &loader{file: file, badLists: map[*yaml.Node]bool{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		for _, msg := range strings.Split(err.Error(), "\n") {
			msg = strings.TrimSpace(strings.TrimPrefix(msg, "yaml: unmarshal errors:"))
			if msg == "" {
				continue
			}
			line := 1
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				line, _ = strconv.Atoi(m[1])
				msg = m[2]
			} else {
				msg = strings.TrimPrefix(msg, "yaml: ")
			}
			l.errs = append(l.errs, ConfigError{File: file, Line: line, Col: 1, Msg: "invalid YAML: " + msg})
		}
		return nil, l.errs
	}
	if len(doc.Content) == 0 {
		return nil, ConfigErrors{{File: file, Line: 1, Col: 1, Msg: "empty pipeline: it needs sources and sinks"}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		l.add(root, "a pipeline is a mapping with sources, stages and sinks, got %s", kindName(root))
		return nil, l.errs
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			l.add(k, "duplicate key %q (first at line %d)", k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		switch k.Value {
		case "sources", "stages", "sinks":
			before := len(l.errs)
			list := l.components(Kind(strings.TrimSuffix(k.Value, "s")), k, v)
			l.badLists[k] = len(l.errs) > before
			switch k.Value {
			case "sources":
				p.Sources = list
			case "stages":
				p.Stages = list
			default:
				p.Sinks = list
			}
		case "train":
			p.Train = l.train(v, p.Dir)
		default:
			l.add(k, "unknown key %q%s; a pipeline has sources, stages, sinks and train", k.Value,
				suggest(k.Value, []string{"sources", "stages", "sinks", "train"}))
		}
	}
	if seen["sources"] == nil {
		l.add(root, "missing sources: a pipeline needs at least one source")
	} else if len(p.Sources) == 0 && !l.hasErrorIn(seen["sources"]) {
		l.add(seen["sources"], "sources is empty: a pipeline needs at least one source")
	}
	if seen["sinks"] == nil {
		l.add(root, "missing sinks: a pipeline needs at least one sink")
	} else if len(p.Sinks) == 0 && !l.hasErrorIn(seen["sinks"]) {
		l.add(seen["sinks"], "sinks is empty: a pipeline needs at least one sink")
	}
	if len(l.errs) > 0 {
		sort.SliceStable(l.errs, func(i, j int) bool {
			if l.errs[i].Line != l.errs[j].Line {
				return l.errs[i].Line < l.errs[j].Line
			}
			return l.errs[i].Col < l.errs[j].Col
		})
		return nil, l.errs
	}
	return p, nil
}

type loader struct {
	file     string
	errs     ConfigErrors
	badLists map[*yaml.Node]bool
}

func (l *loader) add(n *yaml.Node, format string, args ...any) {
	l.errs = append(l.errs, ConfigError{File: l.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
}

// hasErrorIn reports whether a problem was already found inside the list
// under key (so "is empty" would only repeat it).
func (l *loader) hasErrorIn(key *yaml.Node) bool {
	return l.badLists[key]
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}

func (l *loader) components(kind Kind, key, v *yaml.Node) []Component {
	plural := string(kind) + "s"
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		l.add(v, "%s must be a list (each item \"- name: {params}\"), got %s", plural, kindName(v))
		return nil
	}
	var out []Component
	for i, item := range v.Content {
		if item.Kind != yaml.MappingNode || len(item.Content) != 2 {
			n := item
			if item.Kind == yaml.MappingNode && len(item.Content) > 2 {
				n = item.Content[2]
				l.add(n, "each %s item has exactly one key (its name); put %q in a new \"- \" item", string(kind), n.Value)
				continue
			}
			l.add(n, "each %s item is a mapping \"name: {params}\", got %s", string(kind), kindName(item))
			continue
		}
		name, body := item.Content[0], item.Content[1]
		e, ok := lookup(kind, name.Value)
		if !ok {
			msg := fmt.Sprintf("unknown %s %q%s", kind, name.Value, suggest(name.Value, names(kind)))
			if _, other := otherNamespace(kind, name.Value); other != "" {
				msg += fmt.Sprintf("; %q is a %s, not a %s", name.Value, other, kind)
			}
			l.add(name, "%s", msg)
			continue
		}
		params, ok := l.params(e.spec, name, body)
		if !ok {
			continue
		}
		out = append(out, Component{Kind: kind, Name: name.Value, Index: i, Line: name.Line, Col: name.Column, Params: params})
	}
	return out
}

func otherNamespace(kind Kind, name string) (Kind, string) {
	for _, k := range []Kind{KindSource, KindStage, KindSink} {
		if k == kind {
			continue
		}
		if _, ok := lookup(k, name); ok {
			return k, string(k)
		}
	}
	return "", ""
}

func (l *loader) params(spec *Spec, name, body *yaml.Node) (Params, bool) {
	p := Params{spec: spec, values: map[string]any{}, set: map[string]bool{}}
	fields := spec.allFields()
	for _, f := range fields {
		if f.Default != nil {
			p.values[f.Name] = f.Default
		}
	}
	ok := true
	switch {
	case body.Kind == yaml.ScalarNode && body.Tag == "!!null":
	case body.Kind != yaml.MappingNode:
		l.add(body, "%s: parameters must be a mapping ({} for none), got %s", spec.Name, kindName(body))
		return p, false
	default:
		var known []string
		for _, f := range fields {
			known = append(known, f.Name)
		}
		for i := 0; i+1 < len(body.Content); i += 2 {
			k, v := body.Content[i], body.Content[i+1]
			f, found := spec.Field(k.Value)
			if !found {
				l.add(k, "%s: unknown field %q%s", spec.Name, k.Value, suggest(k.Value, known))
				ok = false
				continue
			}
			if p.set[k.Value] {
				l.add(k, "%s: duplicate field %q", spec.Name, k.Value)
				ok = false
				continue
			}
			var raw any
			if err := v.Decode(&raw); err != nil {
				l.add(v, "%s: %s: %v", spec.Name, k.Value, err)
				ok = false
				continue
			}
			cv, err := convert(f, raw)
			if err != nil {
				l.add(v, "%s: %s: %v", spec.Name, k.Value, err)
				ok = false
				continue
			}
			p.values[k.Value] = cv
			p.set[k.Value] = true
		}
	}
	for _, f := range fields {
		if f.Required && !p.set[f.Name] {
			l.add(name, "%s: missing required field %q (%s)", spec.Name, f.Name, f.Doc)
			ok = false
		}
	}
	return p, ok
}

func (l *loader) train(v *yaml.Node, dir string) string {
	if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
		return resolve(dir, v.Value)
	}
	if v.Kind != yaml.MappingNode {
		l.add(v, "train must be a mapping {config: FILE}, got %s", kindName(v))
		return ""
	}
	cfg := ""
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		if k.Value != "config" {
			l.add(k, "train: unknown field %q%s", k.Value, suggest(k.Value, []string{"config"}))
			continue
		}
		if val.Kind != yaml.ScalarNode || val.Tag != "!!str" {
			l.add(val, "train: config: want a file name, got %s", kindName(val))
			continue
		}
		cfg = resolve(dir, val.Value)
	}
	if cfg == "" {
		l.add(v, "train: missing required field \"config\" (the training config file)")
	}
	return cfg
}

func resolve(dir, p string) string {
	if strings.Contains(p, "://") || filepath.IsAbs(p) || dir == "" || dir == "." {
		return p
	}
	return filepath.Join(dir, p)
}
