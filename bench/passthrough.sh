#!/usr/bin/env bash
# bench/passthrough.sh: a jsonl -> jsonl passthrough through `curate run`
# against the jsonl-copy peer (encoding/json decode + encode of {id,text}),
# side by side on the same machine, and the peak memory of the streaming
# pipeline as the input grows.
#
# Corpus: SIZE_MB (40) of JSONL {"id","text"} built by passthrough_gen.go
# from ../shared/data/text (blocks of 40 lines: prose, Genesis in eight
# languages, speeches, web text).
#
#   speed:   jsonl-copy against `curate run --workers W` for W in WORKERS
#            (1 2). Goal: ours at one worker >= 1.0x the peer (aim 2x), and
#            more workers faster.
#   memory:  peak RSS (/usr/bin/time -v) of `curate run --workers 2` over
#            SIZE_MB and 10 x SIZE_MB. Goal: within 10%. BIG=0 skips it.
#
# Each run is repeated REPEAT (3) times and the fastest wall time kept (the
# machine is shared); CPU seconds (user+sys) are printed too.
#
# Env: SIZE_MB (40), WORKERS ("1 2"), REPEAT (3), BIG (1), DATA
#      (../shared/data), PEERS (/tmp/peers), WORK (temporary folder,
#      removed unless given).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MB=${SIZE_MB:-40}
WORKERS=${WORKERS:-1 2}
REPEAT=${REPEAT:-3}
BIG=${BIG:-1}
DATA=${DATA:-$ROOT/../shared/data}
PEERS=${PEERS:-/tmp/peers}
if [[ -z "${WORK:-}" ]]; then
	WORK=$(mktemp -d /tmp/passthrough-bench.XXXXXX)
	trap 'rm -rf "$WORK"' EXIT
fi
cd "$ROOT"

if [[ ! -x "$PEERS/jsonl-copy" ]]; then
	(cd "$DATA/../peers" && go build -o "$PEERS/" ./cmd/jsonl-copy)
fi
go build -o "$WORK/curate" ./cmd/curate

corpus="$WORK/corpus.jsonl"
[[ -s "$corpus" ]] || go run bench/passthrough_gen.go -data "$DATA/text" -out "$corpus" -mb "$SIZE_MB"

# best NAME CMD...: runs CMD REPEAT times; prints "wall cpu maxrss_kb" of the fastest run
best() {
	local name=$1
	shift
	local bw="" bc="" bm=""
	for ((i = 0; i < REPEAT; i++)); do
		rm -rf "$WORK/out-$name" "$WORK/$name.jsonl"
		/usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" ||
			{ cat "$WORK/$name.err" >&2; exit 1; }
		read -r w u s m <"$WORK/time"
		c=$(awk -v u="$u" -v s="$s" 'BEGIN{print u+s}')
		if [[ -z "$bw" ]] || awk -v a="$w" -v b="$bw" 'BEGIN{exit !(a<b)}'; then bw=$w bc=$c bm=$m; fi
	done
	echo "$bw $bc $bm"
}

# pipeline NAME INPUT: writes the passthrough pipeline
pipeline() {
	cat >"$WORK/$1.yaml" <<YAML
sources:
  - jsonl: {path: $2}
sinks:
  - jsonl: {path: out-$1}
YAML
}

mb=$(du -m "$corpus" | cut -f1)
echo "corpus: $mb MB, $(wc -l <"$corpus") documents; best of $REPEAT; $(nproc) cores"
read -r pw pc _ < <(best peer "$PEERS/jsonl-copy" -in "$corpus" -out "$WORK/peer.jsonl")
echo "jsonl-copy:            wall ${pw}s cpu ${pc}s  ($(cat "$WORK/peer.out"))"
first=""
for w in $WORKERS; do
	pipeline "w$w" corpus.jsonl
	read -r ow oc _ < <(best "w$w" "$WORK/curate" run --workers "$w" "$WORK/w$w.yaml")
	n=$(cat "$WORK"/out-w$w/part-*.jsonl | wc -l)
	echo "curate --workers $w:    wall ${ow}s cpu ${oc}s  ($n documents out, $(awk -v mb="$mb" -v w="$ow" 'BEGIN{printf "%.0f", mb/w}') MB/s)"
	awk -v pw="$pw" -v ow="$ow" -v pc="$pc" -v oc="$oc" -v w="$w" 'BEGIN{r = pw/ow; printf "  ratio (peer wall / ours wall) at %d workers: %.2fx%s; cpu ratio (peer cpu / ours cpu) %.2fx\n", w, r,
		(w == 1 ? (r >= 1.0 ? " (goal >= 1.0x): PASS" : " (goal >= 1.0x): FAIL") : ""), pc/oc }'
	if [[ -z "$first" ]]; then first=$ow; else
		awk -v a="$first" -v b="$ow" -v w="$w" 'BEGIN{printf "  scaling: %d workers %.2fx the first\n", w, a/b}'
	fi
done

if [[ $BIG == 1 ]]; then
	big="$WORK/big.jsonl"
	[[ -s "$big" ]] || for ((i = 0; i < 10; i++)); do cat "$corpus"; done >"$big"
	pipeline small corpus.jsonl
	pipeline large big.jsonl
	read -r _ _ sm < <(REPEAT=1 best small "$WORK/curate" run --workers 2 "$WORK/small.yaml")
	read -r lw _ lm < <(REPEAT=1 best large "$WORK/curate" run --workers 2 "$WORK/large.yaml")
	echo "peak RSS --workers 2: ${mb} MB input $((sm / 1024)) MiB; $((mb * 10)) MB input $((lm / 1024)) MiB (wall ${lw}s)"
	awk -v s="$sm" -v l="$lm" 'BEGIN{r = l/s; printf "  RSS ratio (large / small): %.2f (goal <= 1.10): %s\n", r, (r <= 1.10 ? "PASS" : "FAIL") }'
	rm -f "$big"
fi
