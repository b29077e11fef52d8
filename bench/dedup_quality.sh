#!/usr/bin/env bash
# bench/dedup_quality.sh: the full near-duplicate quality check of
# dedup.minhash (the test suite runs a small version: TestMinHashQuality).
#
# Builds a labelled corpus from ../shared/data/text (dedupbench gen:
# originals plus variants of earlier documents with random word edits at
# rates 0.5%..50%, added boilerplate, truncation to 50..100%, exact copies),
# computes each document's exact shingle Jaccard with its best earlier
# match, runs dedup.minhash (both signature schemes, and verify: shingles,
# each also with a spilling index for one_permutation and verify: shingles)
# and the minhash-ref peer, and prints for each:
#   removed share of documents whose best earlier match has J >= 0.85 (goal >= 0.97)
#   kept share of documents whose best earlier match has J < 0.6     (goal >= 0.995)
#
# Env: SIZE_MB (40), WORKERS (2), SEED (1), DATA (../shared/data),
#      PEERS (/tmp/peers), WORK (temporary folder, removed unless given).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MB=${SIZE_MB:-40}
WORKERS=${WORKERS:-2}
SEED=${SEED:-1}
DATA=${DATA:-$ROOT/../shared/data}
PEERS=${PEERS:-/tmp/peers}
if [[ -z "${WORK:-}" ]]; then
	WORK=$(mktemp -d /tmp/dedup-quality.XXXXXX)
	trap 'rm -rf "$WORK"' EXIT
fi
cd "$ROOT"

if [[ ! -x "$PEERS/minhash-ref" ]]; then
	(cd "$DATA/../peers" && go build -o "$PEERS/" ./cmd/minhash-ref)
fi
go build -o "$WORK/dedupbench" ./dedup/internal/dedupbench
corpus="$WORK/quality.jsonl"
"$WORK/dedupbench" gen -data "$DATA/text" -out "$corpus" -mb "$SIZE_MB" -seed "$SEED"
"$WORK/dedupbench" run -in "$corpus" -stage minhash -workers "$WORKERS" -out "$WORK/one_permutation.ids"
"$WORK/dedupbench" run -in "$corpus" -stage minhash -signature classic -workers "$WORKERS" -out "$WORK/classic.ids"
"$WORK/dedupbench" run -in "$corpus" -stage minhash -verify shingles -workers "$WORKERS" -out "$WORK/verify_shingles.ids"
"$WORK/dedupbench" run -in "$corpus" -stage minhash -verify shingles -memory 512KiB -workers "$WORKERS" -out "$WORK/verify_shingles_spilled.ids"
cmp -s "$WORK/verify_shingles.ids" "$WORK/verify_shingles_spilled.ids" || { echo "FAIL: verify: shingles output differs when the index spills" >&2; exit 1; }
"$WORK/dedupbench" run -in "$corpus" -stage minhash -memory 512KiB -workers "$WORKERS" -out "$WORK/spilled.ids"
cmp -s "$WORK/one_permutation.ids" "$WORK/spilled.ids" || { echo "FAIL: output differs when the index spills" >&2; exit 1; }
"$PEERS/minhash-ref" -in "$corpus" -out "$WORK/minhash-ref.ids" -workers "$WORKERS"
cd "$WORK"
./dedupbench quality -in "$corpus" -kept one_permutation.ids -kept classic.ids -kept verify_shingles.ids -kept minhash-ref.ids | tee quality.txt
! grep -q FAIL quality.txt
