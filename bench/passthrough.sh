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
#   parquet: the same documents as Parquet (id, text; snappy; written by
#            passthrough_gen.go -parquet) -> jsonl at one worker, against
#            the jsonl -> jsonl run: the parquet source's cost. PARQUET=0
#            skips it.
#   scaling: a passthrough is I/O- and encoder-bound, and at one worker its
#            reader, parser and writer already run in a pipeline across both
#            cores of a 2-core machine, so more workers add little (so does
#            a chain of cheap filters: each stage is its own pipeline step).
#            Scaling is shown where one stage is the limit: a CPU-bound
#            streaming stage (SCALE_STAGE, GPT-2 tokenize.encode: three
#            quarters of the run's CPU) over the first SCALE_DOCS documents
#            (all) at --workers 1 and 2: the speed-up, and the cores each run
#            kept busy (CPU seconds / wall seconds). (filter.language is
#            heavier still, e.g. SCALE_STAGE=filter.language SCALE_DOCS=1000.)
#            Since other jobs share the machine, the cores a 2-process CPU
#            spin gets just before is printed too: the speed-up cannot
#            exceed it. SCALE=0 skips it.
#   memory:  peak RSS (/usr/bin/time) of `curate run --workers 2` over
#            SIZE_MB and 10 x SIZE_MB, the median of REPEAT runs each.
#            Goal: within 10%. BIG=0 skips it.
#
# Each run is repeated REPEAT (3) times and the fastest wall time kept (the
# machine is shared); CPU seconds (user+sys) are printed too.
#
# Env: SIZE_MB (40), WORKERS ("1 2"), REPEAT (3), PARQUET (1), SCALE (1),
#      SCALE_STAGE ("tokenize.encode: {tokenizer: gpt2}"), SCALE_DOCS (all),
#      BIG (1), DATA
#      (../shared/data), PEERS (/tmp/peers), WORK (temporary folder,
#      removed unless given).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MB=${SIZE_MB:-40}
WORKERS=${WORKERS:-1 2}
REPEAT=${REPEAT:-3}
BIG=${BIG:-1}
PARQUET=${PARQUET:-1}
SCALE=${SCALE:-1}
SCALE_STAGE=${SCALE_STAGE:-tokenize.encode: {tokenizer: gpt2\}}
SCALE_DOCS=${SCALE_DOCS:-}
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
pqcorpus="$WORK/corpus.parquet"
if [[ ! -s "$corpus" || ! -s "$pqcorpus" ]]; then
	go run bench/passthrough_gen.go -data "$DATA/text" -out "$corpus" -parquet "$pqcorpus" -mb "$SIZE_MB"
fi

# best NAME CMD...: runs CMD REPEAT times; prints "wall cpu maxrss_kb" of the fastest run
best() {
	local name=$1
	shift
	local bw="" bc="" bm=""
	for ((i = 0; i < REPEAT; i++)); do
		rm -rf "$WORK/out-$name" "$WORK/out-$name.state" "$WORK/$name.jsonl"
		/usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" ||
			{ cat "$WORK/$name.err" >&2; exit 1; }
		read -r w u s m <"$WORK/time"
		c=$(awk -v u="$u" -v s="$s" 'BEGIN{print u+s}')
		if [[ -z "$bw" ]] || awk -v a="$w" -v b="$bw" 'BEGIN{exit !(a<b)}'; then bw=$w bc=$c bm=$m; fi
	done
	echo "$bw $bc $bm"
}

# pipeline NAME INPUT [SOURCE [STAGE]]: writes the passthrough pipeline
# (SOURCE jsonl by default), with STAGE ("name" or "name: {params}")
# between source and sink if given
pipeline() {
	{
		echo "sources:"
		echo "  - ${3:-jsonl}: {path: $2}"
		if [[ "${4:-}" == *:* ]]; then
			printf 'stages:\n  - %s\n' "$4"
		elif [[ -n "${4:-}" ]]; then
			printf 'stages:\n  - %s: {}\n' "$4"
		fi
		echo "sinks:"
		echo "  - jsonl: {path: out-$1}"
	} >"$WORK/$1.yaml"
}

mb=$(du -m "$corpus" | cut -f1)
echo "corpus: $mb MB, $(wc -l <"$corpus") documents; best of $REPEAT; $(nproc) cores"
read -r pw pc _ < <(best peer "$PEERS/jsonl-copy" -in "$corpus" -out "$WORK/peer.jsonl")
echo "jsonl-copy:            wall ${pw}s cpu ${pc}s  ($(cat "$WORK/peer.out"))"
first=""
for w in $WORKERS; do
	pipeline "w$w" corpus.jsonl
	read -r ow oc _ < <(best "w$w" "$WORK/curate" run --workers "$w" "$WORK/w$w.yaml")
	if [[ $w == 1 ]]; then w1w=$ow w1c=$oc; fi
	n=$(cat "$WORK"/out-w$w/part-*.jsonl | wc -l)
	echo "curate --workers $w:    wall ${ow}s cpu ${oc}s  ($n documents out, $(awk -v mb="$mb" -v w="$ow" 'BEGIN{printf "%.0f", mb/w}') MB/s)"
	awk -v pw="$pw" -v ow="$ow" -v pc="$pc" -v oc="$oc" -v w="$w" 'BEGIN{r = pw/ow; printf "  ratio (peer wall / ours wall) at %d workers: %.2fx%s; cpu ratio (peer cpu / ours cpu) %.2fx\n", w, r,
		(w == 1 ? (r >= 1.0 ? " (goal >= 1.0x): PASS" : " (goal >= 1.0x): FAIL") : ""), pc/oc }'
	if [[ -z "$first" ]]; then first=$ow; else
		awk -v a="$first" -v b="$ow" -v w="$w" 'BEGIN{printf "  scaling: %d workers %.2fx the first\n", w, a/b}'
	fi
done

if [[ $PARQUET == 1 ]]; then
	pipeline pq corpus.parquet parquet
	[[ -n "${w1w:-}" ]] || { pipeline w1 corpus.jsonl; read -r w1w w1c _ < <(best w1 "$WORK/curate" run --workers 1 "$WORK/w1.yaml"); }
	read -r qw qc _ < <(best pq "$WORK/curate" run --workers 1 "$WORK/pq.yaml")
	n=$(cat "$WORK"/out-pq/part-*.jsonl | wc -l)
	# the same documents as the jsonl run's but for the source column
	same=$(cmp -s <(cat "$WORK"/out-pq/part-*.jsonl | sed 's/"source":"corpus.parquet"/"source":"corpus.jsonl"/') \
		<(cat "$WORK"/out-w1/part-*.jsonl) && echo "same documents as jsonl -> jsonl" || echo "DOCUMENTS DIFFER from jsonl -> jsonl")
	echo "parquet -> jsonl --workers 1: wall ${qw}s cpu ${qc}s  ($n documents, $(du -m "$pqcorpus" | cut -f1) MB of Parquet, $(awk -v mb="$mb" -v w="$qw" 'BEGIN{printf "%.0f", mb/w}') MB/s of text; $same)"
	awk -v a="$w1w" -v b="$qw" -v c="$w1c" -v d="$qc" 'BEGIN{printf "  vs jsonl -> jsonl at 1 worker: wall %.2fx, cpu %.2fx (above 1: Parquet is cheaper to read)\n", a/b, c/d}'
fi

if [[ $SCALE == 1 ]]; then
	if [[ -n "$SCALE_DOCS" ]]; then head -n "$SCALE_DOCS" "$corpus"; else cat "$corpus"; fi >"$WORK/scale.jsonl"
	# free cores: the wall time of one CPU-bound process against two at once
	spin() { awk 'BEGIN{for(i=0;i<3e7;i++)x+=i}'; }
	free_cores() {
		local one two
		one=$({ /usr/bin/time -f %e bash -c "$(declare -f spin); spin" >/dev/null; } 2>&1)
		two=$({ /usr/bin/time -f %e bash -c "$(declare -f spin); spin & spin & wait" >/dev/null; } 2>&1)
		awk -v a="$one" -v b="$two" 'BEGIN{printf "%.2f", 2*a/b}'
	}
	echo "scaling where one stage is the limit: jsonl -> ${SCALE_STAGE%%:*} -> jsonl, $(wc -l <"$WORK/scale.jsonl") documents ($(du -m "$WORK/scale.jsonl" | cut -f1) MB); cores free for a 2-process spin just before: $(free_cores) of $(nproc)"
	sw1="" sc1=""
	for w in 1 2; do
		pipeline "s$w" scale.jsonl jsonl "$SCALE_STAGE"
		read -r sw sc _ < <(best "s$w" "$WORK/curate" run --workers "$w" "$WORK/s$w.yaml")
		echo "  --workers $w: wall ${sw}s cpu ${sc}s, $(awk -v c="$sc" -v w="$sw" 'BEGIN{printf "%.2f", c/w}') cores busy ($(cat "$WORK"/out-s$w/part-*.jsonl | wc -l) documents out)"
		if [[ -z "$sw1" ]]; then sw1=$sw sc1=$sc; fi
	done
	cmp -s <(cat "$WORK"/out-s1/part-*.jsonl) <(cat "$WORK"/out-s2/part-*.jsonl) || echo "  OUTPUT DIFFERS between 1 and 2 workers"
	awk -v a="$sw1" -v b="$sw" 'BEGIN{printf "  scaling: --workers 2 runs %.2fx as fast as --workers 1 (wall)\n", a/b}'
	echo "  cores free for a 2-process spin just after: $(free_cores) of $(nproc)"
fi

if [[ $BIG == 1 ]]; then
	big="$WORK/big.jsonl"
	[[ -s "$big" ]] || for ((i = 0; i < 10; i++)); do cat "$corpus"; done >"$big"
	pipeline small corpus.jsonl
	pipeline large big.jsonl
	# A run's peak RSS samples the garbage collector's timing (the heap
	# swings by ~15% between collections), so each size is run REPEAT times,
	# alternating, and the median peak compared.
	sms=() lms=()
	for ((r = 0; r < REPEAT; r++)); do
		read -r _ _ m < <(REPEAT=1 best small "$WORK/curate" run --workers 2 "$WORK/small.yaml")
		sms+=("$m")
		read -r lw _ m < <(REPEAT=1 best large "$WORK/curate" run --workers 2 "$WORK/large.yaml")
		lms+=("$m")
	done
	median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
	sm=$(median "${sms[@]}") lm=$(median "${lms[@]}")
	echo "peak RSS --workers 2, median of $REPEAT: ${mb} MB input $((sm / 1024)) MiB; $((mb * 10)) MB input $((lm / 1024)) MiB (wall ${lw}s; all runs KiB: ${sms[*]} / ${lms[*]})"
	awk -v s="$sm" -v l="$lm" 'BEGIN{r = l/s; printf "  RSS ratio (large / small): %.2f (goal <= 1.10): %s\n", r, (r <= 1.10 ? "PASS" : "FAIL") }'
	rm -f "$big"
fi
