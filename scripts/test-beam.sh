#!/usr/bin/env bash
# scripts/test-beam.sh: builds, vets and tests the curate-beam module (beam/,
# its own Go module so the core binary never carries the Beam SDK).
#
# The first build compiles the Beam SDK (~12 minutes on 2 cores); the go
# build cache makes every later one take seconds. The tests write their
# pipelines' output, which go test never caches, so this script caches the
# result itself: a pass is recorded under the hash of the test binary (which
# changes with any Go source of curate or of the Beam module) and the
# arguments, and a re-run with the same hash skips the tests.
#
# Usage: scripts/test-beam.sh [go test flags, e.g. -short]
# Env: CURATE_BEAM_NOCACHE=1 runs the tests even when a pass is recorded.
set -euo pipefail
cd "$(dirname "$0")/../beam"

echo "== curate-beam: go vet" >&2
go vet ./...
echo "== curate-beam: go build" >&2
go build -o /dev/null ./cmd/curate-beam

cache=${XDG_CACHE_HOME:-$HOME/.cache}/curate-beam-test
mkdir -p "$cache"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go test -c -o "$bin/beam.test" .
stamp=$cache/$( { sha256sum "$bin/beam.test" | cut -d' ' -f1; echo "$*"; } | sha256sum | cut -c1-32)
if [[ -z "${CURATE_BEAM_NOCACHE:-}" && -f "$stamp" ]]; then
	echo "== curate-beam: go test (cached: this build passed $(cat "$stamp"))" >&2
	exit 0
fi
echo "== curate-beam: go test" >&2
go test -timeout 20m "$@" ./...
date -u +%Y-%m-%dT%H:%M:%SZ >"$stamp"
