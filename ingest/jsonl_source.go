package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/curatehq/curate/pipelines"
)

// chunkBytes is how much of a file one parallel job parses. It only sets
// the granularity of parallel work: a longer line makes a longer chunk.
const chunkBytes = 1 << 20

func init() {
	pipelines.RegisterSource(pipelines.Spec{
		Name: "jsonl",
		Doc:  "JSON Lines files (.jsonl, .jsonl.gz, .jsonl.zst), one document per line; other fields become columns",
		Fields: []pipelines.Field{
			{Name: "path", Type: pipelines.String, Required: true,
				Doc: "file, directory, glob (** for any depth) or s3:// URL; files are read in sorted order"},
			{Name: "domain", Type: pipelines.String, Default: "default", Doc: "the documents' domain column"},
			{Name: "text_field", Type: pipelines.String, Default: "text", Doc: "the field holding the text (a string)"},
			{Name: "id_field", Type: pipelines.String, Default: "id",
				Doc: "the field holding the id; without it a document's id is PATH:LINE (0-based line)"},
		},
	}, newJSONLSource)
}

// newJSONLSource builds the jsonl source. Each line is one JSON object; the
// text field must be a string. A line that is not a JSON object, or lacks a
// string text field, goes to the rejects with its 1-based line number.
func newJSONLSource(p pipelines.Params, env *pipelines.Env) (pipelines.Source, error) {
	cfg := jsonlConfig{
		domain:    p.String("domain"),
		textField: p.String("text_field"),
		idField:   p.String("id_field"),
	}
	if cfg.textField == cfg.idField {
		return nil, fmt.Errorf("jsonl: text_field and id_field are both %q", cfg.textField)
	}
	r := &parallelReader{env: env, name: "jsonl", pattern: env.Path(p.String("path")), chunkSize: chunkBytes}
	r.newParser = func() func(j *job) {
		jp := &jsonlParser{cfg: cfg, env: env, names: map[string]string{}}
		return jp.parse
	}
	return r, nil
}

type jsonlConfig struct {
	domain, textField, idField string
}

// jsonlParser is one worker's state.
type jsonlParser struct {
	cfg   jsonlConfig
	env   *pipelines.Env
	sc    scanner
	names map[string]string // interned column names of extra fields
	id    []byte
}

// reserved column names that an input field cannot take over: such a field
// is carried as "input_NAME".
func reservedColumn(name string) bool {
	switch name {
	case pipelines.ColID, pipelines.ColText, pipelines.ColSource, pipelines.ColDomain:
		return true
	}
	return false
}

func (p *jsonlParser) columnName(key []byte) string {
	if n, ok := p.names[string(key)]; ok {
		return n
	}
	k := string(key)
	n := k
	if !utf8.ValidString(n) {
		n = pipelines.ValidUTF8(n)
	}
	if reservedColumn(n) {
		n = "input_" + n
	}
	p.names[k] = n
	return n
}

// view returns b as a string without copying. It is used only for values
// that DocBuilder.Add copies into Arrow buffers before the chunk is dropped.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (p *jsonlParser) parse(j *job) {
	// The job counts into its own counters; Next adds them to the run's as
	// it hands the records out, so the run's byte count (which places
	// checkpoint barriers) never runs ahead of the records returned.
	jenv := *p.env
	jenv.Counters = &pipelines.Counters{}
	b := pipelines.NewDocBuilder(&jenv)
	defer b.Release()
	defer func() { j.invalidUTF8 = jenv.Counters.InvalidUTF8.Load() }()
	path := j.file.path
	err := forEachLine(j.chunk.data, func(line []byte, index int64, off int) error {
		lineNo := j.chunk.line + index // 0-based
		if lineNo == 0 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
		}
		if len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		reject := func(reason string) {
			j.rejects = append(j.rejects, pipelines.Reject{Path: path, Line: lineNo + 1,
				Offset: j.chunk.offset + int64(off), Reason: reason, Record: string(line[:min(len(line), 512)])})
		}
		members, err := p.sc.scan(line)
		if err != nil {
			reject(err.Error())
			return nil
		}
		text, id, src := -1, -1, -1
		for i := range members {
			switch k := view(members[i].Key); k {
			case p.cfg.textField:
				text = i
			case p.cfg.idField:
				id = i
			case pipelines.ColSource:
				src = i
			}
		}
		if text < 0 {
			reject(fmt.Sprintf("no %q field", p.cfg.textField))
			return nil
		}
		if k := members[text].Kind; k != kindString {
			reject(fmt.Sprintf("field %q is %s, want a string", p.cfg.textField, kindName(k)))
			return nil
		}
		var idStr string
		switch {
		case id >= 0 && members[id].Kind == kindString:
			idStr = view(members[id].Str)
		case id >= 0 && members[id].Kind == kindNumber:
			idStr = view(members[id].Raw)
		case id >= 0 && members[id].Kind != kindNull:
			reject(fmt.Sprintf("field %q is %s, want a string or a number", p.cfg.idField, kindName(members[id].Kind)))
			return nil
		default:
			p.id = append(append(append(p.id[:0], j.file.rel...), ':'), strconv.FormatInt(lineNo, 10)...)
			idStr = view(p.id)
		}
		source := j.file.rel
		if src >= 0 && members[src].Kind == kindString {
			source = view(members[src].Str)
			if !utf8.ValidString(source) {
				source = pipelines.ValidUTF8(source)
			}
		} else {
			src = -1 // a non-string source field is carried as input_source
		}
		row := b.Add(idStr, view(members[text].Str), source, p.cfg.domain)
		for i := range members {
			if i == text || i == id || i == src {
				continue
			}
			m := &members[i]
			k := view(m.Key)
			if k == p.cfg.textField || k == p.cfg.idField {
				continue // an earlier duplicate of the key: the last one wins
			}
			b.SetExtra(row, p.columnName(m.Key), extraValue(m))
		}
		if b.Full() {
			j.recs = append(j.recs, b.Build())
		}
		return nil
	})
	if err != nil {
		j.err = err
	}
	if b.Len() > 0 {
		j.recs = append(j.recs, b.Build())
	}
}

// extraValue converts a member to what DocBuilder.SetExtra takes. Strings
// are copied: the builder keeps them until Build.
func extraValue(m *member) any {
	switch m.Kind {
	case kindString:
		if !utf8.Valid(m.Str) {
			return pipelines.ValidUTF8(string(m.Str))
		}
		return string(m.Str)
	case kindNumber:
		return parseNumber(m.Raw)
	case kindBool:
		return m.Bool
	case kindNested:
		raw := m.Raw
		if !utf8.Valid(raw) {
			return json.RawMessage(pipelines.ValidUTF8(string(raw)))
		}
		return json.RawMessage(bytes.Clone(raw))
	}
	return nil
}

func kindName(k byte) string {
	switch k {
	case kindString:
		return "a string"
	case kindNumber:
		return "a number"
	case kindBool:
		return "a boolean"
	case kindNull:
		return "null"
	}
	return "an object or array"
}

// unsafeBytes returns s's bytes without copying; the caller must not write them.
func unsafeBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
