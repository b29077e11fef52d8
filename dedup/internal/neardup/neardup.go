// Package neardup builds labelled near-duplicate corpora for dedup's quality
// test and benchmark: originals cut from real prose, and variants of earlier
// documents with random word edits at known rates, added boilerplate and
// truncation. The ground truth of each document is its exact shingle
// Jaccard with its best match among the earlier documents.
package neardup

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/curatehq/curate/dedup/minhash"
)

// Doc is one generated document.
type Doc struct {
	ID   string
	Text string
	Kind string // "original", "edit-0.05", "boilerplate", "truncate", "exact", ...
}

// Sentences reads every .txt file under dir (sorted) and splits it into
// sentences of at least 4 words.
func Sentences(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".txt") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("neardup: %w", err)
	}
	sort.Strings(files)
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("neardup: %w", err)
		}
		words := strings.Fields(strings.ToValidUTF8(string(b), "\uFFFD"))
		start := 0
		for i, w := range words {
			if strings.HasSuffix(w, ".") || strings.HasSuffix(w, "!") || strings.HasSuffix(w, "?") || i-start >= 40 {
				if i+1-start >= 4 {
					out = append(out, strings.Join(words[start:i+1], " "))
				}
				start = i + 1
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("neardup: no sentences under %s", dir)
	}
	return out, nil
}

var editRates = []float64{0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.3, 0.5}

var boilerplate = []string{
	"Home | About us | Contact | Privacy policy | Terms of use",
	"Copyright 2024 Example Media Group. All rights reserved. Subscribe to our newsletter for more stories like this one.",
	"Share this article on Facebook Twitter LinkedIn Email Print",
	"Click here to read more articles from our archive and sign up for updates.",
}

// Generate makes n documents from sentences with a seeded generator:
// roughly half originals (runs of 8 to 40 consecutive sentences from a
// random place) and half variants of a random earlier document.
func Generate(sentences []string, n int, seed uint64) []Doc {
	rng := rand.New(rand.NewPCG(seed, seed^0x5EED))
	docs := make([]Doc, 0, n)
	vocab := strings.Fields(strings.Join(sentences[:min(len(sentences), 2000)], " "))
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("doc-%06d", i)
		if len(docs) == 0 || rng.Float64() < 0.5 {
			k := 8 + rng.IntN(33)
			s := rng.IntN(max(1, len(sentences)-k))
			docs = append(docs, Doc{ID: id, Text: strings.Join(sentences[s:min(len(sentences), s+k)], " "), Kind: "original"})
			continue
		}
		src := docs[rng.IntN(len(docs))]
		words := strings.Fields(src.Text)
		var kind string
		switch c := rng.IntN(10); {
		case c < 5:
			r := editRates[rng.IntN(len(editRates))]
			words = edit(rng, words, r, vocab)
			kind = fmt.Sprintf("edit-%g", r)
		case c < 7:
			b := boilerplate[rng.IntN(len(boilerplate))]
			if rng.IntN(2) == 0 {
				words = append(strings.Fields(b), words...)
			} else {
				words = append(words, strings.Fields(b)...)
			}
			kind = "boilerplate"
		case c < 9:
			keep := 0.5 + 0.5*rng.Float64()
			words = words[:max(1, int(float64(len(words))*keep))]
			kind = fmt.Sprintf("truncate-%.1f", keep)
		default:
			kind = "exact"
		}
		docs = append(docs, Doc{ID: id, Text: strings.Join(words, " "), Kind: kind})
	}
	return docs
}

// edit changes each word with probability rate: replaced, deleted or
// followed by an inserted word.
func edit(rng *rand.Rand, words []string, rate float64, vocab []string) []string {
	out := make([]string, 0, len(words)+8)
	for _, w := range words {
		if rng.Float64() >= rate {
			out = append(out, w)
			continue
		}
		switch rng.IntN(3) {
		case 0:
			out = append(out, vocab[rng.IntN(len(vocab))])
		case 1:
		default:
			out = append(out, w, vocab[rng.IntN(len(vocab))])
		}
	}
	if len(out) == 0 {
		out = append(out, words[0])
	}
	return out
}

// BestEarlier returns, for every document, the exact Jaccard of its
// shingle set (the tokens and n-grams of package minhash) with its most
// similar earlier document (0 for the first).
func BestEarlier(docs []Doc, ngram int) []float64 {
	var s minhash.Scratch
	postings := map[uint64][]int32{}
	sizes := make([]int, len(docs))
	best := make([]float64, len(docs))
	counts := map[int32]int{}
	for i, d := range docs {
		set := map[uint64]struct{}{}
		minhash.Shingles(s.Tokens(d.Text), ngram, func(h uint64) { set[h] = struct{}{} })
		sizes[i] = len(set)
		clear(counts)
		for h := range set {
			for _, j := range postings[h] {
				counts[j]++
			}
		}
		for j, inter := range counts {
			jac := float64(inter) / float64(sizes[i]+sizes[j]-inter)
			best[i] = max(best[i], jac)
		}
		for h := range set {
			postings[h] = append(postings[h], int32(i))
		}
	}
	return best
}
