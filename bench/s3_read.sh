#!/usr/bin/env bash
# bench/s3_read.sh: reading JSONL from a MinIO server on loopback against
# reading the same files from local disk, through `curate run` (jsonl source
# -> jsonl sink on local disk, no stages). Goal: S3 at >= 70% of local speed.
#
# Corpus: SIZE_MB (40) of JSONL in FILES (8) files, built by
# passthrough_gen.go from ../shared/data/text. MinIO comes from the cache
# test.sh builds (scripts/deps.sh). Each run is repeated REPEAT (3) times and
# the fastest kept.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE_MB=${SIZE_MB:-40}
FILES=${FILES:-8}
REPEAT=${REPEAT:-3}
WORKERS=${WORKERS:-2}
DATA=${DATA:-$ROOT/../shared/data}
WORK=$(mktemp -d /tmp/s3-bench.XXXXXX)
cd "$ROOT"
source scripts/deps.sh
MINIO=$(minio_bin)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MINIO_ROOT_USER=bench MINIO_ROOT_PASSWORD=bench-secret "$MINIO" server --quiet --address "127.0.0.1:$PORT" --console-address 127.0.0.1:0 "$WORK/minio" >/dev/null 2>&1 &
MPID=$!
trap 'kill $MPID 2>/dev/null; wait $MPID 2>/dev/null; rm -rf "$WORK"' EXIT
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret
for _ in $(seq 1 100); do curl -fs "$AWS_ENDPOINT_URL/minio/health/live" >/dev/null 2>&1 && break; sleep 0.2; done
mkdir -p "$WORK/minio/bench" "$WORK/local"   # a folder in MinIO's data dir is a bucket

go build -o "$WORK/curate" ./cmd/curate
go run bench/passthrough_gen.go -data "$DATA/text" -out "$WORK/corpus.jsonl" -mb "$SIZE_MB" >/dev/null
lines=$(wc -l <"$WORK/corpus.jsonl")
split -d -a 2 --additional-suffix=.jsonl -l $(((lines + FILES - 1) / FILES)) "$WORK/corpus.jsonl" "$WORK/local/part-"
go run bench/s3_copy.go "$WORK"/local/part-*.jsonl s3://bench/in

run() { # run NAME PATH: prints the fastest wall time
	local best=""
	for ((i = 0; i < REPEAT; i++)); do
		rm -rf "$WORK/out"
		cat >"$WORK/$1.yaml" <<YAML
sources: [{jsonl: {path: "$2"}}]
sinks: [{jsonl: {path: "$WORK/out"}}]
YAML
		local t0 t1
		t0=$(date +%s.%N)
		"$WORK/curate" run --quiet --workers "$WORKERS" "$WORK/$1.yaml" 2>"$WORK/$1.err" || { cat "$WORK/$1.err"; exit 1; }
		t1=$(date +%s.%N)
		local w
		w=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')
		if [[ -z "$best" ]] || awk -v a="$w" -v b="$best" 'BEGIN{exit !(a<b)}'; then best=$w; fi
	done
	echo "$best"
}
local_s=$(run local "$WORK/local/*.jsonl")
s3_s=$(run s3 "s3://bench/in/*.jsonl")
mb=$(du -m "$WORK/corpus.jsonl" | cut -f1)
awk -v l="$local_s" -v s="$s3_s" -v mb="$mb" -v w="$WORKERS" 'BEGIN{
  printf "jsonl read, %d MB, %d workers: local %.2fs (%.1f MB/s), s3 %.2fs (%.1f MB/s)\n", mb, w, l, mb/l, s, mb/s;
  printf "s3/local speed ratio: %.2f (goal >= 0.70)\n", l/s }'
