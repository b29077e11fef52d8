// Package quickstart holds curate's embedded default: a pipeline, a training
// config and a generator for the small multi-domain corpus they run on. The
// corpus is made by code (seeded, so always the same bytes): web pages with
// navigation and cookie boilerplate, exact and near duplicates, personal data
// to redact, a few documents in other languages, and long-form "books" text.
package quickstart

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// words of a small English grammar; sentences built from them read like
// plain prose and give a language model real structure to learn.
var (
	subjects   = []string{"the river", "a farmer", "the old city", "our team", "the committee", "a young engineer", "the village", "the market", "my neighbour", "the library", "a traveller", "the council", "the school", "the harbour", "a small bakery", "the north road"}
	verbs      = []string{"builds", "watches", "repairs", "remembers", "describes", "follows", "opens", "carries", "measures", "welcomes", "protects", "crosses", "plans", "finds", "prepares", "studies"}
	objects    = []string{"a wooden bridge", "the morning light", "the long winter", "a new garden", "the stone wall", "the summer harvest", "an empty house", "the quiet street", "a broken clock", "the tall tower", "the evening train", "a green field", "the narrow path", "the last letter", "a fresh loaf of bread", "the open sea"}
	adverbials = []string{"before dawn", "every spring", "with great care", "after the storm", "in the afternoon", "without a word", "near the water", "for many years", "at the end of the week", "under a grey sky", "by the old mill", "once again"}
	connectors = []string{"Later,", "Meanwhile,", "In the end,", "Even so,", "That year,", "Soon after,", "Because of this,", "At first,"}
	topics     = []string{"gardening", "bridges", "bread", "harbours", "clocks", "rivers", "trains", "libraries", "villages", "markets"}
)

func sentence(r *rand.Rand) string {
	s := fmt.Sprintf("%s %s %s %s.", pick(r, subjects), pick(r, verbs), pick(r, objects), pick(r, adverbials))
	if r.IntN(3) == 0 {
		s = pick(r, connectors) + " " + s
	} else {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}

func paragraph(r *rand.Rand, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = sentence(r)
	}
	return strings.Join(parts, " ")
}

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

var navigation = "Home | About us | Products | Blog | Contact\nSign in  Register  Search"
var cookieBanner = "This website uses cookies to improve your experience. By continuing you agree to our cookie policy. Accept all cookies"
var footer = "Copyright 2024 Example Media Group. All rights reserved. Terms of use | Privacy policy"

var foreign = []struct{ lang, text string }{
	{"de", "Der kleine Bäcker öffnet seinen Laden jeden Morgen vor Sonnenaufgang. Die Nachbarn kommen früh, um frisches Brot zu kaufen, und sie erzählen einander die Neuigkeiten aus dem Dorf. Im Winter ist es draußen noch dunkel, aber im Laden riecht es warm und süß."},
	{"fr", "Le vieux pont de pierre traverse la rivière depuis plus de trois siècles. Chaque printemps, les habitants du village se réunissent sur la place pour célébrer la fin de l'hiver, et les enfants courent le long des quais en riant."},
	{"es", "La biblioteca del pueblo abre sus puertas todas las tardes. Los estudiantes llegan con sus cuadernos y se sientan junto a las ventanas, donde la luz es mejor para leer. La bibliotecaria conoce el nombre de cada uno de ellos."},
}

// Write generates the corpus into dir: web/pages-000.jsonl.gz (web pages,
// one JSON object a line with id, text and url) and books/*.txt.
func Write(dir string, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	if err := os.MkdirAll(filepath.Join(dir, "web"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "books"), 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	var pages []string
	for i := 0; i < 1200; i++ {
		topic := topics[i%len(topics)]
		var b strings.Builder
		if r.IntN(2) == 0 {
			b.WriteString(navigation + "\n\n")
		}
		fmt.Fprintf(&b, "A short guide to %s\n\n", topic)
		for p := 0; p < 3+r.IntN(4); p++ {
			b.WriteString(paragraph(r, 3+r.IntN(4)) + "\n\n")
		}
		switch r.IntN(8) {
		case 0:
			fmt.Fprintf(&b, "Questions? Write to %s.%s@example.org or call +44 20 7946 %04d.\n\n", pick(r, []string{"anna", "tom", "li", "sara"}), pick(r, []string{"smith", "jones", "chen"}), r.IntN(10000))
		case 1:
			b.WriteString("Our server at 203.0.113.42 will be down for maintenance on 12 March 2024 between 02:00 and 04:00.\n\n")
		}
		if r.IntN(2) == 0 {
			b.WriteString(cookieBanner + "\n")
		}
		b.WriteString(footer)
		text := b.String()
		switch {
		case i > 50 && r.IntN(12) == 0: // an exact copy of an earlier page
			text = pages[r.IntN(len(pages))]
		case i > 50 && r.IntN(12) == 0: // a near copy: one sentence changed
			prev := pages[r.IntN(len(pages))]
			text = strings.Replace(prev, ".", ", as everyone knows.", 1)
		case r.IntN(40) == 0:
			f := foreign[r.IntN(len(foreign))]
			text = f.text + "\n\n" + f.text
		case r.IntN(30) == 0:
			// Spam long enough for trigram language ID (short texts would
			// make filter.language load its 2 GB high-accuracy models).
			text = strings.Repeat("Buy now! Best price ever! Click here for the deal of the year! ", 4)
		}
		pages = append(pages, text)
		if err := enc.Encode(map[string]string{"id": fmt.Sprintf("web-%05d", i), "text": text,
			"url": fmt.Sprintf("https://www.example-%d.org/%s/%d", i%37, topic, i)}); err != nil {
			return err
		}
	}
	if err := writeGzip(filepath.Join(dir, "web", "pages-000.jsonl.gz"), buf.Bytes()); err != nil {
		return err
	}
	for bk := 0; bk < 6; bk++ {
		var b strings.Builder
		fmt.Fprintf(&b, "Chapter %d\n\n", bk+1)
		for p := 0; p < 120; p++ {
			b.WriteString(paragraph(r, 4+r.IntN(5)) + "\n\n")
		}
		if err := os.WriteFile(filepath.Join(dir, "books", fmt.Sprintf("book-%02d.txt", bk)), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writeGzip(path string, data []byte) error {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
