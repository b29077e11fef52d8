package ingest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodeMembers turns scanned members into what encoding/json gives for the
// same line decoded into map[string]any (last duplicate wins).
func decodeMembers(t testing.TB, ms []member) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		var v any
		switch m.Kind {
		case kindString:
			v = string(m.Str)
		case kindNumber:
			v = parseNumber(m.Raw)
		case kindBool:
			v = m.Bool
		case kindNull:
			v = nil
		case kindNested:
			if err := json.Unmarshal(m.Raw, &v); err != nil {
				t.Fatalf("nested value %q does not decode: %v", m.Raw, err)
			}
		}
		out[string(m.Key)] = v
	}
	return out
}

func TestScanMatchesEncodingJSON(t *testing.T) {
	lines := []string{
		`{}`,
		` { "a" : 1 } `,
		`{"text":"hello","id":"x1"}`,
		`{"text":"tab\there \"quoted\" back\\slash \/ \b\f\n\r","n":-1.5e3}`,
		`{"u":"\u00e9\u4e2d\ud83d\ude00","lone":"\ud800x","bad":"\udc00\ud800"}`,
		`{"a":true,"b":false,"c":null,"d":[1,{"e":[]},"x"],"f":{"g":{}}}`,
		`{"dup":1,"dup":"two"}`,
		`{"big":1e400,"small":-0,"frac":0.125,"exp":2E-3}`,
		`{"long":"` + strings.Repeat("abcdefgh", 1000) + `"}`,
		`{"a\"key\\":"v"}`,
	}
	var s scanner
	for _, line := range lines {
		ms, err := s.scan([]byte(line))
		if err != nil {
			if strings.Contains(line, "1e400") {
				continue // encoding/json rejects out-of-range numbers into any; we keep them as ±Inf
			}
			t.Errorf("scan(%q): %v", line, err)
			continue
		}
		got := decodeMembers(t, ms)
		var want map[string]any
		if err := json.Unmarshal([]byte(line), &want); err != nil {
			if strings.Contains(line, "1e400") {
				continue
			}
			t.Fatalf("encoding/json rejects %q: %v", line, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("scan(%q)\n got  %#v\n want %#v", line, got, want)
		}
	}
}

func TestScanRejects(t *testing.T) {
	bad := []struct{ line, want string }{
		{``, "empty line"},
		{`[1,2]`, "not a JSON object"},
		{`"text"`, "not a JSON object"},
		{`{"a":1`, "unexpected end"},
		{`{"a":1,}`, "want a string key"},
		{`{"a" 1}`, "want ':'"},
		{`{"a":01}`, "want ',' or '}'"},
		{`{"a":1.}`, "invalid number"},
		{`{"a":-}`, "invalid number"},
		{`{"a":tru}`, "invalid literal"},
		{`{"a":"x}`, "unterminated string"},
		{`{"a":"\x"}`, "invalid escape"},
		{`{"a":"\u12g4"}`, "invalid \\u escape"},
		{"{\"a\":\"line\nbreak\"}", "control character"},
		{`{"a":1} x`, "text after the object"},
		{`{"a":[1,2}`, "want ',' or ']'"},
		{`{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, "nested too deeply"},
		{`{'a':1}`, "want a string key"},
	}
	var s scanner
	for _, tc := range bad {
		_, err := s.scan([]byte(tc.line))
		if err == nil {
			t.Errorf("scan(%.40q): no error, want %q", tc.line, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("scan(%.40q) = %v, want %q", tc.line, err, tc.want)
		}
		if json.Valid([]byte(tc.line)) && tc.want != "not a JSON object" {
			t.Errorf("test bug: %.40q is valid JSON", tc.line)
		}
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", "with \"quotes\" and \\ and /", "\x00\x01\x1f\x7f", "tab\tnl\nret\r\b\f",
		"<html>&amp;</html>", "é中😀", "\u2028\u2029", "bad \xff\xfe utf8 \xc3", strings.Repeat("0123456789", 100),
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		got := string(appendString(nil, s)) + "\n"
		if got != want.String() {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want.String())
		}
	}
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 0.1, 1e-7, 1.5e-6, 123456789, 1e20, 1e21, 1.7976931348623157e308, 5e-324, -2.5e-10} {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f, 64); string(got) != string(want) {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

// FuzzJSONL checks the scanner against encoding/json on arbitrary lines:
// it never panics, accepts every valid object and decodes it the same way.
func FuzzJSONL(f *testing.F) {
	for _, s := range []string{
		`{"text":"hello","id":"x1"}`, `{"a":[1,{"b":null}],"c":"\u00e9"}`, `{"text":"x\ud83d\ude00"}`,
		`{"n":-0.5e+10,"t":true}`, `not json`, `{"text":1}`, `{}`, `{"a":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var s scanner
		ms, err := s.scan(line)
		var want map[string]any
		werr := json.Unmarshal(line, &want)
		trimmed := bytes.TrimSpace(line)
		isObject := len(trimmed) > 0 && trimmed[0] == '{'
		if werr == nil && isObject {
			if err != nil {
				t.Fatalf("scan(%q): %v; encoding/json accepts it", line, err)
			}
			got := decodeMembers(t, ms)
			if utf8.Valid(line) && !reflect.DeepEqual(got, want) {
				t.Fatalf("scan(%q)\n got  %#v\n want %#v", line, got, want)
			}
			return
		}
		if err == nil && !strings.Contains(werr.Error(), "out of range") && utf8.Valid(line) {
			t.Fatalf("scan(%q) accepted a line encoding/json rejects: %v", line, werr)
		}
	})
}
