#!/usr/bin/env bash
# The test command: installs what is missing, starts a real MinIO server on
# 127.0.0.1 for the S3 tests, vets, runs every test, then runs each fuzzer
# briefly. Usage: ./test.sh [go test flags, e.g. -short]
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh

# A MinIO server for this run only, on a free loopback port.
MINIO=$(minio_bin)
S3_DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 19000)
export MINIO_ROOT_USER=curate-test MINIO_ROOT_PASSWORD=curate-test-secret
"$MINIO" server --quiet --address "127.0.0.1:$PORT" --console-address 127.0.0.1:0 "$S3_DIR" >"$S3_DIR.log" 2>&1 &
MINIO_PID=$!
cleanup() { kill "$MINIO_PID" 2>/dev/null || true; wait "$MINIO_PID" 2>/dev/null || true; rm -rf "$S3_DIR" "$S3_DIR.log" "$S3_DIR.fuzz"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/minio/health/live" >/dev/null 2>&1 && break
  sleep 0.2
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD AWS_REGION=us-east-1
export CURATE_TEST_S3=1 CURATE_MINIO_BIN="$MINIO"

echo "== go vet" >&2
go vet ./...
echo "== go test" >&2
go test -timeout 30m "$@" ./...

if [ -x scripts/test-beam.sh ]; then
  echo "== beam module" >&2
  scripts/test-beam.sh
fi

echo "== fuzzers (briefly)" >&2
FUZZTIME=${FUZZTIME:-2s}
grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./beam/' | sort | while read -r f; do
  dir=$(dirname "$f")
  for fz in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "fuzz $dir $fz" >&2
    # A crasher the fuzzer finds is saved under testdata/fuzz and fails the
    # retry too; the retry only absorbs the fuzzing engine's own "context
    # deadline exceeded" when its baseline outlasts a short -fuzztime.
    if ! go test -run='^$' -fuzz="^$fz\$" -fuzztime="$FUZZTIME" "$dir" >"$S3_DIR.fuzz" 2>&1; then
      grep -v '^fuzz: elapsed' "$S3_DIR.fuzz" | tail -40 >&2
      echo "retrying $fz once, for longer" >&2
      go test -run='^$' -fuzz="^$fz\$" -fuzztime=10s "$dir" >"$S3_DIR.fuzz" 2>&1 || { cat "$S3_DIR.fuzz" >&2; exit 1; }
    fi
  done
done
echo "all tests passed" >&2
