#!/usr/bin/env bash
# bench/langid_accuracy.sh: filter.language's accuracy against lingua-go's
# default detector (the langid-ref peer: all languages, high accuracy) on
# the same texts, built from ../shared/data/langid (75 languages):
#   sentences:  every sentence alone
#   paragraphs: 4 consecutive sentences of one language
#   long:       25-40 sentences of one language, ROUNDS rounds (round 0 in
#               file order, the others over seeded shuffles) for more documents
# Goal: no more than 0.5 points below langid-ref, macro-averaged over all
# languages and for each of en zh es ar hi pt ru ja de fr. Prints the
# accuracy table (every language where the two differ is listed) and
# PASS, or fails naming what is below.
#
# Memory: both sides load the high-accuracy models (~2.5 GB each, one at a
# time).
#
# Env: WORKERS (2), ROUNDS (4), DATA (../shared/data), PEERS (/tmp/peers),
#      WORK (temporary folder, removed unless given).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORKERS=${WORKERS:-2}
ROUNDS=${ROUNDS:-4}
DATA=${DATA:-$ROOT/../shared/data}
PEERS=${PEERS:-/tmp/peers}
if [[ -z "${WORK:-}" ]]; then
	WORK=$(mktemp -d /tmp/langid-accuracy.XXXXXX)
	trap 'rm -rf "$WORK"' EXIT
fi
cd "$ROOT"

if [[ ! -x "$PEERS/langid-ref" ]]; then
	(cd "$DATA/../peers" && go build -o "$PEERS/" ./cmd/langid-ref)
fi
go build -o "$WORK/langid-bench" ./filter/language/cmd/langid-bench
LB="$WORK/langid-bench"

"$LB" corpus -data "$DATA/langid" -kind sentences -out "$WORK/sentences.jsonl"
"$LB" corpus -data "$DATA/langid" -kind paragraphs -out "$WORK/paragraphs.jsonl"
"$LB" corpus -data "$DATA/langid" -kind long -rounds "$ROUNDS" -out "$WORK/long.jsonl"

status=0
for corpus in sentences paragraphs long; do
	in="$WORK/$corpus.jsonl"
	echo "== $corpus"
	"$PEERS/langid-ref" -in "$in" -out "$WORK/ref-$corpus.jsonl" -workers "$WORKERS"
	"$LB" detect -in "$in" -out "$WORK/ours-$corpus.jsonl" -workers "$WORKERS" -preload none
	"$LB" score -in "$in" -check 0.5 lingua="$WORK/ref-$corpus.jsonl" filter.language="$WORK/ours-$corpus.jsonl" || status=1
done
exit $status
