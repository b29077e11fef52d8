package curatebeam

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/curatehq/curate/curriculum"
	"github.com/curatehq/curate/dedup"
	"github.com/curatehq/curate/mixer"
	"github.com/curatehq/curate/pipelines"
)

// ErrUnsupported marks a pipeline feature curate-beam cannot run (the
// command exits 2 for it, as for a bad config): dedup.minhash's verify:
// shingles, whose exact Jaccard check only the local engine's Sequence
// implements.
var ErrUnsupported = errors.New("not supported by curate-beam")

// Load reads and validates a pipeline file for Translate.
func Load(path string) (Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Config{}, err
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{File: abs, YAML: data}
	if _, err := cfg.load(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Translate builds the Beam graph of a pipeline into p:
//
//   - each source lists its files (a pipelines.FileSplitter); the files
//     are reshuffled and each is read on its own by the source's own
//     reader, every document keeping its input order (source, file,
//     record); a source that cannot be split is read whole;
//   - consecutive streaming stages are one ParDo calling each one's
//     Process on each batch in turn;
//   - dedup.exact and dedup.minhash are keys -> GroupByKey -> verify ->
//     CoGroupByKey with the batches;
//   - curriculum.order without phases is a range-partitioned sort by its
//     key (see sortByKey); with phases, two (see phasedOrder);
//   - mixer.weights is aggregations of per-domain totals, the stage's own
//     per-document decisions and a sort by the interleaved place, or, with
//     a curriculum.order right after it, one sort by that stage's key (see
//     mixWeights);
//   - dedup.paragraph is unit hash counts -> GroupByKey on hash ->
//     verdicts joined back to the batches (see paragraphDedup);
//   - any other stage that needs global order (a barrier or sequencer
//     registered outside curate) runs on one worker over all batches
//     sorted into input order;
//   - the jsonl and parquet sinks (see writeSharded) and the tokens sink
//     (see writeTokens) write their shards in parallel; any other sink
//     writes all batches in order on one worker.
func Translate(p *beam.Pipeline, cfg Config) error {
	pl, err := cfg.load()
	if err != nil {
		return err
	}
	s := p.Root()
	impulse := beam.Impulse(s)
	if len(pl.Sources) > maxSources {
		return fmt.Errorf("%d sources: curate-beam orders documents of at most %d", len(pl.Sources), maxSources)
	}
	var lists []beam.PCollection
	for i, c := range pl.Sources {
		if _, err := lookup(pipelines.KindSource, c.Name); err != nil {
			return err
		}
		lists = append(lists, beam.ParDo(s.Scope(fmt.Sprintf("list %d %s", i, c.Name)), &listFn{Config: cfg, Source: i}, impulse))
	}
	files := beam.Reshuffle(s, beam.Flatten(s, lists...))
	docs := beam.ParDo(s.Scope("read"), &readFn{Config: cfg}, files)
	var chain []int // consecutive streaming stages, run as one ParDo
	flush := func() {
		if len(chain) > 0 {
			docs = beam.ParDo(s.Scope(fmt.Sprintf("stages %d-%d", chain[0], chain[len(chain)-1])),
				&stageFn{Config: cfg, Stages: chain}, docs)
			chain = nil
		}
	}
	for i := 0; i < len(pl.Stages); i++ {
		c := pl.Stages[i]
		ss := s.Scope(fmt.Sprintf("stage %d %s", i, c.Name))
		comp, stage, barrier, err := buildStage(cfg, i)
		if err != nil {
			return err
		}
		switch b := barrier.(type) {
		case *curriculum.Order:
			closeComponent(barrier)
			flush()
			if phases := b.Config().Phases; phases == 0 {
				docs = sortByKey(ss, cfg, i, impulse, docs)
			} else {
				docs = phasedOrder(ss, cfg, i, phases, impulse, docs)
			}
			comp.close()
			continue
		case *dedup.Paragraph:
			flush()
			docs = paragraphDedup(ss, cfg, i, b, docs)
			closeComponent(barrier)
			comp.close()
			continue
		case *mixer.Weights:
			nd := len(b.Domains())
			closeComponent(barrier)
			comp.close()
			flush()
			curr := -1
			if i+1 < len(pl.Stages) && pl.Stages[i+1].Name == "curriculum.order" {
				curr = i + 1 // the local engine fuses the two: one sort
				ss = s.Scope(fmt.Sprintf("stages %d-%d %s+%s", i, i+1, c.Name, pl.Stages[i+1].Name))
			}
			if docs, err = mixWeights(ss, cfg, i, nd, curr, impulse, docs); err != nil {
				return err
			}
			if curr >= 0 {
				i++
			}
			continue
		}
		switch {
		case barrier != nil:
			closeComponent(barrier)
			flush()
			docs = beam.ParDo(ss, &gatherFn{Config: cfg, Stage: i}, impulse, beam.SideInput{Input: docs})
		case isShuffled(stage):
			if m, ok := stage.(*dedup.MinHash); ok && m.Verify() != "signature" {
				err = fmt.Errorf("stage %s (line %d): verify: %s: %w", c.Name, c.Line, m.Verify(), ErrUnsupported)
				break
			}
			flush()
			docs, err = shuffle(ss, cfg, i, stage, docs)
		default:
			if _, seq := stage.(pipelines.Sequencer); seq {
				flush()
				docs = beam.ParDo(ss, &gatherFn{Config: cfg, Stage: i}, impulse, beam.SideInput{Input: docs})
			} else {
				chain = append(chain, i)
			}
		}
		closeComponent(stage)
		comp.close()
		if err != nil {
			return err
		}
	}
	flush()
	for i, c := range pl.Sinks {
		if _, err := lookup(pipelines.KindSink, c.Name); err != nil {
			return err
		}
		ss := s.Scope(fmt.Sprintf("sink %d %s", i, c.Name))
		switch c.Name {
		case "jsonl", "parquet":
			writeSharded(ss, cfg, i, c.Name, impulse, docs)
			continue
		case "tokens":
			writeTokens(ss, cfg, i, impulse, docs)
			continue
		}
		beam.ParDo0(ss, &sinkFn{Config: cfg, Sink: i}, impulse, beam.SideInput{Input: docs})
	}
	return nil
}

func isShuffled(s pipelines.Stage) bool {
	switch s.(type) {
	case *dedup.Exact, *dedup.MinHash:
		return true
	}
	return false
}

// shuffle translates dedup.exact or dedup.minhash.
func shuffle(s beam.Scope, cfg Config, i int, stage pipelines.Stage, docs beam.PCollection) (beam.PCollection, error) {
	minEqual, reason, index := 0, dedup.ReasonDuplicate, false
	switch st := stage.(type) {
	case *dedup.Exact:
		index = st.IndexPath() != ""
	case *dedup.MinHash:
		index = st.IndexPath() != ""
		_, _, minEqual = st.Shape()
		minEqual = max(minEqual, 1)
		reason = dedup.ReasonNearDuplicate
	}
	members, batches := beam.ParDo2(s, &keysFn{Config: cfg, Stage: i}, docs)
	if index {
		members = beam.Flatten(s, members, beam.ParDo(s.Scope("read index"), &indexReadFn{Config: cfg, Stage: i}, beam.Impulse(s)))
	}
	verdicts, entries := beam.ParDo2(s, &verifyFn{MinEqual: minEqual, Index: index}, beam.GroupByKey(s, members))
	if index {
		beam.ParDo0(s.Scope("write index"), &indexWriteFn{Config: cfg, Stage: i}, beam.Impulse(s), beam.SideInput{Input: entries})
	}
	joined := beam.CoGroupByKey(s, batches, verdicts)
	return beam.ParDo(s, &joinFn{envFn: envFn{Config: cfg, Stage: i}, Reason: reason}, joined), nil
}
