#!/usr/bin/env bash
# bench/beam.sh: the overhead of curate-beam on Prism (in-process, one
# machine) versus the local engine (`curate run`, the peer here) for the
# same pipeline on the same corpus: wall seconds of each, CPU seconds of
# each, and the ratios beam/local. Both outputs are compared: the kept
# documents must be identical (byte for byte, as the tests require).
#
# Corpus: SIZE_MB (20) of JSONL {"id","text"} from bench/passthrough_gen.go
# (the shared public text corpora, cycled: later cycles are exact
# duplicates), split into FILES (8) files. Pipeline: filter.clean,
# dedup.exact, filter.gopher_quality, filter.pii, dedup.minhash, jsonl sink.
#
# With MIXER=1 the first half of the files is domain web, the rest books,
# and tokenize.encode (gpt2) and mixer.weights (web 0.3, books 0.7: web
# downsampled, books upsampled) follow the dedup stages.
# With PARAGRAPH=1 dedup.paragraph (defaults) follows dedup.exact; with
# TOKENS=1 a tokens sink (gpt2, val_fraction 0.05) is written beside the
# jsonl one and compared too.
#
# Env: SIZE_MB (20), FILES (8), WORKERS (0 = one per core), REPEAT (1), MIXER,
#      PARAGRAPH, TOKENS,
#      DATA (../shared/data), WORK (temporary folder, removed unless given).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MB=${SIZE_MB:-20}
FILES=${FILES:-8}
WORKERS=${WORKERS:-0}
REPEAT=${REPEAT:-1}
DATA=${DATA:-$ROOT/../shared/data}
if [[ -z "${WORK:-}" ]]; then
	WORK=$(mktemp -d /tmp/beam-bench.XXXXXX)
	trap 'rm -rf "$WORK"' EXIT
fi
cd "$ROOT"
go build -o "$WORK/curate" ./cmd/curate
(cd beam && go build -o "$WORK/curate-beam" ./cmd/curate-beam)

mkdir -p "$WORK/in"
if [[ ! -s "$WORK/in/part-00.jsonl" ]]; then
	go run bench/passthrough_gen.go -data "$DATA/text" -out "$WORK/corpus.jsonl" -mb "$SIZE_MB"
	split -d -n "l/$FILES" --additional-suffix=.jsonl "$WORK/corpus.jsonl" "$WORK/in/part-"
	rm "$WORK/corpus.jsonl"
fi

pipeline() {
	if [[ -n "${MIXER:-}" ]]; then
		cat <<YAML
sources:
  - jsonl: {path: "in/part-0[0-3].jsonl", domain: web}
  - jsonl: {path: "in/part-0[4-9].jsonl", domain: books}
YAML
	else
		cat <<YAML
sources:
  - jsonl: {path: "in/*.jsonl", domain: web}
YAML
	fi
	cat <<YAML
stages:
  - filter.clean: {}
  - dedup.exact: {}
YAML
	if [[ -n "${PARAGRAPH:-}" ]]; then
		echo "  - dedup.paragraph: {}"
	fi
	cat <<YAML
  - filter.gopher_quality: {}
  - filter.pii: {}
  - dedup.minhash: {}
YAML
	if [[ -n "${MIXER:-}" ]]; then
		cat <<YAML
  - tokenize.encode: {tokenizer: gpt2}
  - mixer.weights: {weights: {web: 0.3, books: 0.7}, max_repeats: 6}
YAML
	fi
	cat <<YAML
sinks:
  - jsonl: {path: $1}
YAML
	if [[ -n "${TOKENS:-}" ]]; then
		echo "  - tokens: {path: $1-tokens, tokenizer: gpt2, val_fraction: 0.05}"
	fi
}
pipeline out-local >"$WORK/local.yaml"
pipeline out-beam >"$WORK/beam.yaml"

# measure NAME CMD...: best wall and CPU seconds of REPEAT runs.
measure() {
	local name=$1 best_wall="" best_cpu=""
	shift
	for _ in $(seq 1 "$REPEAT"); do
		/usr/bin/time -f "%e %U %S" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/$name.log" || {
			cat "$WORK/$name.log" >&2
			exit 1
		}
		read -r wall user sys <"$WORK/time"
		cpu=$(echo "$user + $sys" | bc)
		if [[ -z "$best_wall" ]] || (($(echo "$wall < $best_wall" | bc))); then best_wall=$wall; fi
		if [[ -z "$best_cpu" ]] || (($(echo "$cpu < $best_cpu" | bc))); then best_cpu=$cpu; fi
	done
	echo "$best_wall $best_cpu"
}

read -r lw lc < <(measure local "$WORK/curate" run --workers "$WORKERS" "$WORK/local.yaml")
read -r bw bc_ < <(measure beam "$WORK/curate-beam" run "$WORK/beam.yaml")

if ! cmp -s <(cat "$WORK"/out-local/*) <(cat "$WORK"/out-beam/*); then
	echo "FAIL: curate-beam output differs from curate run's" >&2
	exit 1
fi
if [[ -n "${TOKENS:-}" ]] && ! diff -r "$WORK/out-local-tokens" "$WORK/out-beam-tokens" >/dev/null; then
	echo "FAIL: curate-beam's token store differs from curate run's" >&2
	exit 1
fi
docs=$(cat "$WORK"/out-local/* | wc -l)
in_mb=$(du -sm "$WORK/in" | cut -f1)
printf '%-28s %10s %10s\n' "corpus ${in_mb} MB, kept $docs docs" "wall s" "cpu s"
printf '%-28s %10.2f %10.2f\n' "curate run (local engine)" "$lw" "$lc"
printf '%-28s %10.2f %10.2f\n' "curate-beam run (Prism)" "$bw" "$bc_"
printf '%-28s %9.2fx %9.2fx\n' "ratio beam/local" "$(echo "$bw / $lw" | bc -l)" "$(echo "$bc_ / $lc" | bc -l)"
echo "outputs identical: yes"
