#!/usr/bin/env bash
# The quickstart: installs what is missing, builds curate, then generates a
# small multi-domain corpus, curates it into token shards and trains a small
# model on them (all under ./quickstart). Flags go to `curate quickstart`.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/deps.sh
mkdir -p bin
go build -o bin/curate ./cmd/curate
exec bin/curate quickstart --dir quickstart "$@"
