#!/usr/bin/env bash
# bench/langid.sh: filter.language's detector against the langid-ref peer
# (lingua-go v1.4.0, all languages, high-accuracy mode, models preloaded),
# side by side on the same machine and core count.
#
# Corpora, built by langid-bench corpus from ../shared/data/langid with no
# sentence used twice (text that does not repeat):
#   long:       documents of 25-40 sentences of one language, 3-6 KB
#   paragraphs: 4 sentences of one language
# Goals: long >= 5x langid-ref, paragraphs >= 1.0x.
#
# Both sides read the whole corpus, load their models (reported apart as
# "load") and then time detection alone ("elapsed") on WORKERS goroutines
# sharing one detector. langid-ref preloads every model (~2.7 GB); ours
# preloads the trigram models, plus the high-accuracy ones for the
# paragraphs (some are under 120 letters, where lingua uses them). Each side
# runs REPEAT times, interleaved, and its fastest detection time counts (the
# machine is shared); detection CPU seconds are printed for ours as well.
#
# Env: WORKERS (2), REPEAT (3), DATA (../shared/data), PEERS (/tmp/peers),
#      WORK (temporary folder, removed unless given).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORKERS=${WORKERS:-2}
REPEAT=${REPEAT:-3}
DATA=${DATA:-$ROOT/../shared/data}
PEERS=${PEERS:-/tmp/peers}
if [[ -z "${WORK:-}" ]]; then
	WORK=$(mktemp -d /tmp/langid-bench.XXXXXX)
	trap 'rm -rf "$WORK"' EXIT
fi
cd "$ROOT"

if [[ ! -x "$PEERS/langid-ref" ]]; then
	(cd "$DATA/../peers" && go build -o "$PEERS/" ./cmd/langid-ref)
fi
go build -o "$WORK/langid-bench" ./filter/language/cmd/langid-bench
LB="$WORK/langid-bench"

"$LB" corpus -data "$DATA/langid" -kind long -min-bytes 3000 -max-bytes 6000 -out "$WORK/long.jsonl"
"$LB" corpus -data "$DATA/langid" -kind paragraphs -out "$WORK/paragraphs.jsonl"

# field NAME LINE: the value after NAME in a summary line
field() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' <<<"$2"; }

# min A B: the smaller number
min() { awk -v a="$1" -v b="$2" 'BEGIN{print (b == "" || a < b) ? a : b}'; }

printf "%-11s %6s %9s %9s %9s %9s %9s %7s\n" corpus docs ref_load ref_det our_load our_det our_cpu ratio
for corpus in long paragraphs; do
	in="$WORK/$corpus.jsonl"
	preload=low
	[[ $corpus == paragraphs ]] && preload=high
	ref="" ours="" cpu="" rload="" oload=""
	for ((i = 0; i < REPEAT; i++)); do
		line=$("$PEERS/langid-ref" -in "$in" -out "$WORK/ref-$corpus.jsonl" -workers "$WORKERS")
		e=$(field elapsed "$line")
		if [[ -z "$ref" ]] || awk -v a="$e" -v b="$ref" 'BEGIN{exit !(a<b)}'; then
			rload=$(field load "$line")
		fi
		ref=$(min "$e" "$ref")
		docs=$(field docs "$line")
		line=$("$LB" detect -in "$in" -out "$WORK/ours-$corpus.jsonl" -workers "$WORKERS" -preload "$preload")
		e=$(field elapsed "$line")
		if [[ -z "$ours" ]] || awk -v a="$e" -v b="$ours" 'BEGIN{exit !(a<b)}'; then
			cpu=$(field cpu "$line") oload=$(field load "$line")
		fi
		ours=$(min "$e" "$ours")
	done
	ratio=$(awk -v r="$ref" -v o="$ours" 'BEGIN{printf "%.2f", r / o}')
	printf "%-11s %6s %9s %9s %9s %9s %9s %6sx\n" "$corpus" "$docs" "$rload" "$ref" "$oload" "$ours" "$cpu" "$ratio"
done
echo "(seconds; ratio = langid-ref detection time / ours, workers=$WORKERS, best of $REPEAT)"
