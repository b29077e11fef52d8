#!/usr/bin/env bash
# bench/mix_curriculum.sh: the cost of mixing and curriculum ordering.
#
# Runs, under the same --memory budget, on SIZE_MB of three-domain JSONL:
#   base:  jsonl -> tokenize.encode                                   -> tokens
#   mixed: jsonl -> tokenize.encode -> mixer.weights -> curriculum.order -> tokens
# and prints each run's wall time and peak RSS and the speed ratio
# base_seconds / mixed_seconds (goal: >= 0.50), plus the achieved mix.
#
#   bench/mix_curriculum.sh                 # 1 GB, --memory 512MB
#   SIZE_MB=100 bench/mix_curriculum.sh     # a quick check
# Env: SIZE_MB (1024), MEMORY (512MB), WORKERS (0 = one per core), RUNS (1:
#      pairs of runs, alternating; the ratio uses each pipeline's best),
#      DATA (../shared/data), WORK (a temporary folder, removed at the end
#      unless given).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MB=${SIZE_MB:-1024}
MEMORY=${MEMORY:-512MB}
WORKERS=${WORKERS:-0}
RUNS=${RUNS:-1}
DATA=${DATA:-$ROOT/../shared/data}
if [[ -z "${WORK:-}" ]]; then
	WORK=$(mktemp -d /tmp/mix-curriculum.XXXXXX)
	trap 'rm -rf "$WORK"' EXIT
fi
cd "$ROOT"

go build -o "$WORK/curate" ./cmd/curate
missing=""
stages=$("$WORK/curate" stages)
for c in jsonl tokenize.encode mixer.weights curriculum.order tokens; do
	grep -qE "^  $c( |$)" <<<"$stages" || missing="$missing $c"
done
if [[ -n "$missing" ]]; then
	echo "mix_curriculum: curate lacks:$missing (not yet linked in pipelines/all?)" >&2
	exit 1
fi

if [[ ! -s "$WORK/data/speeches.jsonl" ]]; then
	go run bench/mix_curriculum_gen.go -data "$DATA" -size "$SIZE_MB" -out "$WORK/data"
fi
echo "input: $(du -sm "$WORK/data" | cut -f1) MB in $(cat "$WORK"/data/*.jsonl | wc -l) documents; --memory $MEMORY --workers $WORKERS"

sources='sources:
  - jsonl: {path: data/web.jsonl, domain: web}
  - jsonl: {path: data/books.jsonl, domain: books}
  - jsonl: {path: data/speeches.jsonl, domain: speeches}'
cat >"$WORK/base.yaml" <<YAML
$sources
stages:
  - tokenize.encode: {tokenizer: gpt2}
sinks:
  - tokens: {path: out-base, tokenizer: gpt2}
YAML
cat >"$WORK/mixed.yaml" <<YAML
$sources
stages:
  - tokenize.encode: {tokenizer: gpt2}
  - mixer.weights: {weights: {web: 0.4, books: 0.35, speeches: 0.25}, max_repeats: 4, seed: 1}
  - curriculum.order: {by: difficulty, order: ascending, phases: 4}
sinks:
  - tokens: {path: out-mixed, tokenizer: gpt2}
YAML

run() { # name -> prints "seconds peak_rss_kb cpu_seconds"
	rm -rf "$WORK/out-$1"
	/usr/bin/time -f "%e %M %U %S" -o "$WORK/$1.time" \
		"$WORK/curate" run --quiet --memory "$MEMORY" --workers "$WORKERS" --report "$WORK/$1.report.json" "$WORK/$1.yaml" >/dev/null
	awk '{ print $1, $2, $3 + $4 }' "$WORK/$1.time"
}

# RUNS pairs, alternating; the ratio line uses each pipeline's best run.
: >"$WORK/runs"
for ((i = 1; i <= RUNS; i++)); do
	read -r base_s base_kb base_cpu < <(run base)
	read -r mixed_s mixed_kb mixed_cpu < <(run mixed)
	[[ $RUNS -gt 1 ]] && echo "run $i:"
	printf '%-6s %8.1f s  cpu %8.1f s  peak RSS %6d MB\n' base "$base_s" "$base_cpu" $((base_kb / 1024)) mixed "$mixed_s" "$mixed_cpu" $((mixed_kb / 1024))
	echo "$base_s $mixed_s $base_cpu $mixed_cpu" >>"$WORK/runs"
done
awk -v n="$RUNS" '
	NR == 1 || $1 < a { a = $1 }
	NR == 1 || $2 < b { b = $2 }
	NR == 1 || $3 < ca { ca = $3 }
	NR == 1 || $4 < cb { cb = $4 }
	END {
		r = a / b
		printf "ratio (base/mixed speed%s): %.2f  goal >= 0.50: %s   (cpu-time ratio %.2f)\n", (n > 1 ? ", best of " n : ""), r, (r >= 0.5 ? "ok" : "MISSED"), ca / cb }' "$WORK/runs"
echo "achieved mix (mixer.weights report):"
if command -v python3 >/dev/null; then
	python3 - "$WORK/mixed.report.json" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
print("  budget reserved peak: %.0f MB" % (rep.get("memory_reserved_peak", 0) / 2**20))
for st in rep["stages"]:
    if st["name"] == "mixer.weights":
        for dom, d in sorted(st["details"]["domains"].items()):
            print("  %-9s weight %.3f  share %.4f  tokens %d of %d available  documents %d" % (
                dom, d["weight"], d["share"], d["tokens"], d["available_tokens"], d["documents"]))
PY
else
	grep -o '"mixer.weights".*' "$WORK/mixed.report.json" | head -c 2000
	echo
fi
