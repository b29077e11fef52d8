#!/usr/bin/env bash
# bench/tokens_sink.sh: what the tokens sink adds to the encoder's time.
#
# On SIZE_MB of JSONL paragraphs from the shared public text:
#  1. Go benchmarks on one goroutine (tokenize/tokens): the encoder alone
#     (BenchmarkEncode), the sink encoding and writing the store
#     (BenchmarkSink) and the sink given tokenize.encode's ids
#     (BenchmarkSinkTokens: packing, checksums, writes, fsync). Prints the
#     sink's share of the encoder's time (goal: <= 20%).
#  2. Side by side with the peer ../shared/peers bpe-ref (tiktoken-go,
#     r50k_base, one worker, writes the uint16 .bin bytes): `curate run
#     --workers 1` of jsonl -> tokens, the time ratio, and whether the
#     store's .bin is byte-identical to the peer's.
#
#   bench/tokens_sink.sh              # 32 MB
#   SIZE_MB=4 bench/tokens_sink.sh    # a quick check
# Env: SIZE_MB (32), COUNT (benchmark repetitions, 3), DATA
#      (../shared/data), PEERS (../shared/peers), WORK (a temporary folder,
#      removed at the end unless given).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MB=${SIZE_MB:-32}
COUNT=${COUNT:-3}
DATA=${DATA:-$ROOT/../shared/data}
PEERS=${PEERS:-$ROOT/../shared/peers}
if [[ -z "${WORK:-}" ]]; then
	WORK=$(mktemp -d /tmp/tokens-sink.XXXXXX)
	trap 'rm -rf "$WORK"' EXIT
fi
cd "$ROOT"

go build -o "$WORK/curate" ./cmd/curate
(cd "$PEERS" && go build -o "$WORK/" ./cmd/bpe-ref)
if [[ ! -s "$WORK/corpus.jsonl" ]]; then
	go run bench/tokens_sink_gen.go -data "$DATA" -size "$SIZE_MB" -out "$WORK/corpus.jsonl"
fi
echo "input: $(du -m "$WORK/corpus.jsonl" | cut -f1) MB of JSONL, $(wc -l <"$WORK/corpus.jsonl") documents"

echo "== 1. encoder vs encoder + tokens sink (one goroutine, best of $COUNT, runs interleaved)"
go test -c -o "$WORK/tokens.test" ./tokenize/tokens
: >"$WORK/bench.txt"
for _ in $(seq "$COUNT"); do
	for b in Encode Sink SinkTokens; do
		(cd tokenize/tokens && CURATE_BENCH_JSONL="$WORK/corpus.jsonl" "$WORK/tokens.test" -test.run '^$' \
			-test.bench "^Benchmark$b\$" -test.benchtime 2x) | grep '^Benchmark' | tee -a "$WORK/bench.txt"
	done
done
awk '/^Benchmark/ { n = $1; sub(/-[0-9]+$/, "", n); v = $3 + 0; if (!(n in best) || v < best[n]) best[n] = v }
END {
	e = best["BenchmarkEncode"]; s = best["BenchmarkSink"]; t = best["BenchmarkSinkTokens"]
	if (e == 0 || s == 0 || t == 0) { print "benchmarks missing"; exit 1 }
	add = (s - e) / e * 100; own = t / e * 100
	printf "encoder %.3f s, encoder+sink %.3f s: the sink adds %.1f%% (goal <= 20%%: %s)\n", e / 1e9, s / 1e9, add, (add <= 20 ? "ok" : "MISSED")
	printf "sink alone on precomputed ids: %.3f s = %.1f%% of the encoder time\n", t / 1e9, own
}' "$WORK/bench.txt"

echo "== 2. side by side with bpe-ref (one worker, JSONL in, uint16 .bin out)"
/usr/bin/time -f "%e" -o "$WORK/ref.time" "$WORK/bpe-ref" -in "$WORK/corpus.jsonl" -out "$WORK/ref.bin" -workers 1 >"$WORK/ref.out"
echo "bpe-ref: $(cat "$WORK/ref.out")"
if ! "$WORK/curate" stages | grep -qE '^  jsonl( |$)'; then
	echo "curate has no jsonl source linked yet: skipping the end-to-end run"
	exit 0
fi
cat >"$WORK/tokens.yaml" <<YAML
sources:
  - jsonl: {path: corpus.jsonl}
sinks:
  - tokens: {path: out, tokenizer: gpt2, shard_tokens: 2000000000}
YAML
/usr/bin/time -f "%e" -o "$WORK/curate.time" "$WORK/curate" run --quiet --workers 1 "$WORK/tokens.yaml" >/dev/null
ref_s=$(cat "$WORK/ref.time")
cur_s=$(cat "$WORK/curate.time")
awk -v r="$ref_s" -v c="$cur_s" 'BEGIN { printf "wall: bpe-ref %.2f s, curate run (jsonl -> tokens) %.2f s: %.2fx the peer speed\n", r, c, r / c }'
if cmp -s "$WORK/ref.bin" "$WORK/out/shard_00000.bin"; then
	echo "store .bin is byte-identical to bpe-ref's output ($(stat -c %s "$WORK/ref.bin") bytes)"
else
	echo "store .bin DIFFERS from bpe-ref's output: $(cmp "$WORK/ref.bin" "$WORK/out/shard_00000.bin" 2>&1 | head -1)"
	exit 1
fi
"$WORK/curate" shards verify "$WORK/out"
