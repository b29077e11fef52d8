package bpe

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	ref "github.com/tiktoken-go/tokenizer"
)

func TestHFJSONRoundTrip(t *testing.T) {
	texts := append([]string{}, trickyTexts...)
	for _, s := range sharedTexts(t) {
		texts = append(texts, s[:min(len(s), 20000)])
	}
	for _, name := range []string{"gpt2", "cl100k_base"} {
		tok := mustLoad(t, name)
		start := time.Now()
		js, err := tok.HFJSON()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: tokenizer.json %d bytes in %v", name, len(js), time.Since(start))
		path := filepath.Join(t.TempDir(), "tokenizer.json")
		if err := os.WriteFile(path, js, 0o644); err != nil {
			t.Fatal(err)
		}
		back, err := Load(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		if back.VocabSize() != tok.VocabSize() || back.EOT() != tok.EOT() || back.Name() != path {
			t.Errorf("%s: loaded back vocab %d eot %d name %q", name, back.VocabSize(), back.EOT(), back.Name())
		}
		for _, text := range texts {
			if got, want := back.Encode(nil, text), tok.Encode(nil, text); !slices.Equal(got, want) {
				t.Fatalf("%s: tokenizer.json encodes %q differently", name, truncate(text, 50))
			}
		}
		if again, _ := back.HFJSON(); string(again) != string(js) {
			t.Errorf("%s: HFJSON of a loaded tokenizer.json is not the file", name)
		}
	}
}

const tinyHF = `{
 "version": "1.0", "added_tokens": [{"id": 6, "content": "<|endoftext|>", "special": true}],
 "normalizer": null,
 "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
 "decoder": {"type": "ByteLevel"},
 "model": {"type": "BPE", "vocab": VOCAB, "merges": MERGES}
}`

func tinyVocab() string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 256; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"` + strings.ReplaceAll(strings.ReplaceAll(string(byteToRune[i]), `\`, `\\`), `"`, `\"`) + `":` + strconv.Itoa(i+7))
	}
	b.WriteString(`,"ab":0,"abc":1,"Ġa":2,"Ġab":3,"bc":4,"cc":5}`)
	return b.String()
}

func TestFromHFJSON(t *testing.T) {
	vocab := tinyVocab()
	js := strings.ReplaceAll(strings.ReplaceAll(tinyHF, "VOCAB", vocab), "MERGES", `["a b", ["ab", "c"], "Ġ a", "Ġa b", "b c", "c c"]`)
	tok, err := FromHFJSON([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if tok.EOT() != 6 || tok.VocabSize() != 263 {
		t.Errorf("eot %d vocab %d", tok.EOT(), tok.VocabSize())
	}
	// merges apply by rank: "abc" is a+b (rank 0), then ab+c (rank 1)
	for _, tc := range []struct {
		text string
		want []int32
	}{
		{"abc", []int32{1}},
		{"ab", []int32{0}},
		{" abcc", []int32{int32(' ') + 7, 1, int32('c') + 7}}, // a+b outranks Ġ+a
		{" ab", []int32{int32(' ') + 7, 0}},
		{" a", []int32{2}},
		{"bcc", []int32{4, int32('c') + 7}},
		{"<|endoftext|>", nil},
	} {
		got := tok.Encode(nil, tc.text)
		if tc.want != nil && !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
		}
		if tok.Decode(got) != tc.text {
			t.Errorf("Decode(Encode(%q)) = %q", tc.text, tok.Decode(got))
		}
	}
}

func TestFromHFJSONErrors(t *testing.T) {
	vocab := tinyVocab()
	good := strings.ReplaceAll(strings.ReplaceAll(tinyHF, "VOCAB", vocab), "MERGES", `["a b"]`)
	for _, tc := range []struct {
		name, json, want string
	}{
		{"empty", ``, "not a valid tokenizer.json"},
		{"not json", `{"model": `, "not a valid tokenizer.json"},
		{"no model", `{}`, "no model"},
		{"wordpiece", `{"model": {"type": "WordPiece", "vocab": {}}}`, "WordPiece"},
		{"normalizer", strings.Replace(good, `"normalizer": null`, `"normalizer": {"type": "NFC"}`, 1), "normalizer"},
		{"prefix space", strings.Replace(good, `"add_prefix_space": false`, `"add_prefix_space": true`, 1), "add_prefix_space"},
		{"metaspace", strings.Replace(good, `"type": "ByteLevel", "add_prefix_space"`, `"type": "Metaspace", "add_prefix_space"`, 1), "Metaspace"},
		{"bad merge", strings.Replace(good, `["a b"]`, `["a b c"]`, 1), "merge"},
		{"unknown merge", strings.Replace(good, `["a b"]`, `["x y"]`, 1), "missing from the vocab"},
		{"not byte level", strings.Replace(good, `"ab":0`, `"ab":0,"日本":300`, 1), "byte-level"},
		{"huge special id", strings.Replace(good, `"id": 6,`, `"id": 600000000,`, 1), "outside"},
		{"duplicate id", strings.Replace(good, `"ab":0`, `"ab":0,"ba":0`, 1), "id 0"},
		{"no bytes", strings.ReplaceAll(strings.ReplaceAll(tinyHF, "VOCAB", `{"a":0,"b":1,"ab":2}`), "MERGES", `["a b"]`), "byte 0x00"},
		{"null pre", strings.Replace(good, `"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}`, `"pre_tokenizer": null`, 1), "pre_tokenizer"},
		{"odd regex", strings.Replace(good, `"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}`,
			`"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}`, 1), "not supported"},
	} {
		_, err := FromHFJSON([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := FromHFJSON([]byte(good)); err != nil {
		t.Errorf("good file: %v", err)
	}
	if _, err := Load(context.Background(), "gpt-7"); err == nil || !strings.Contains(err.Error(), "not a built-in") {
		t.Errorf("Load(gpt-7): %v", err)
	}
}

func FuzzFromHFJSON(f *testing.F) {
	vocab := tinyVocab()
	f.Add(strings.ReplaceAll(strings.ReplaceAll(tinyHF, "VOCAB", vocab), "MERGES", `["a b", ["ab", "c"]]`))
	f.Add(`{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`)
	f.Add(`{"model": {"type": "BPE", "vocab": {"a": -1}, "merges": [["a", "a"]]}}`)
	f.Fuzz(func(t *testing.T, js string) {
		tok, err := FromHFJSON([]byte(js))
		if err != nil {
			return
		}
		for _, s := range []string{"hello world", "abc", "", "中文 😀"} {
			if got := tok.Decode(tok.Encode(nil, s)); got != s {
				t.Fatalf("Decode(Encode(%q)) = %q", s, got)
			}
		}
	})
}

// TestLegacyCL100KPattern loads cl100k_base's tokenizer.json with the older
// pattern (Hugging Face conversions, Llama 3), which tiktoken-go also
// implements: ids equal tiktoken-go's wherever its backtracking fault (see
// refDiverges) does not apply, including white space at the end of text.
func TestLegacyCL100KPattern(t *testing.T) {
	js, err := mustLoad(t, "cl100k_base").HFJSON()
	if err != nil {
		t.Fatal(err)
	}
	newPat, _ := json.Marshal(patternsCL100K[0])
	oldPat, _ := json.Marshal(patternsCL100KLegacy[0])
	if !bytes.Contains(js, newPat) {
		t.Fatal("tokenizer.json does not hold the cl100k pattern")
	}
	tok, err := FromHFJSON(bytes.Replace(js, newPat, oldPat, 1))
	if err != nil {
		t.Fatal(err)
	}
	c := refCodec(t, ref.Cl100kBase)
	texts := append([]string{"a\n  ", "end \n\n  ", "x\n\t"}, trickyTexts...)
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1000; i++ {
		texts = append(texts, randomText(r, r.IntN(60)))
	}
	checked := 0
	for _, text := range texts {
		if strings.IndexByte(text, 0x7f) >= 0 || firstNewlineDiffers(text) {
			continue
		}
		checked++
		if got, want := tok.Encode(nil, text), refIDs(t, c, text); !slices.Equal(got, want) {
			t.Fatalf("Encode(%q)\n got %v\nwant %v", text, got, want)
		}
	}
	if checked < 500 {
		t.Errorf("only %d texts checked", checked)
	}
	if got := tok.Encode(nil, "a\n  "); !slices.Equal(got, []int32{64, 198, 256}) {
		t.Errorf("legacy end-of-text white space: %v, want a, \\n, two spaces", got)
	}
}

// firstNewlineDiffers reports a run of white space whose first group of
// newlines does not end at its last newline.
func firstNewlineDiffers(text string) bool {
	for i := 0; i < len(text); {
		k, w := classAt(text, i)
		if k != space {
			i += w
			continue
		}
		end, _, lastNL := spaceRun(text, i)
		if lastNL >= 0 {
			e := strings.IndexAny(text[i:end], "\r\n") + i
			for e < end && (text[e] == '\r' || text[e] == '\n') {
				e++
			}
			if e != lastNL+1 {
				return true
			}
		}
		i = end
	}
	return false
}
