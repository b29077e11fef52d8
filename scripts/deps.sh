#!/usr/bin/env bash
# Installs what curate's build, tests and quickstart need, when missing, and
# is quick when everything is present. Sourced by run.sh and test.sh.
#   - Debian packages: libopenblas-dev (the trainer's BLAS), zstd
#   - the MinIO server for the S3 tests, built with `go install` into a
#     cache folder (CURATE_CACHE, default ~/.cache/curate)
set -euo pipefail

CURATE_CACHE=${CURATE_CACHE:-$HOME/.cache/curate}
export CURATE_CACHE
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

need_apt=()
[ -e /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ] || [ -e /usr/include/openblas/cblas.h ] \
  || ls /usr/lib/x86_64-linux-gnu/libopenblas.so* >/dev/null 2>&1 || need_apt+=(libopenblas-dev)
command -v zstd >/dev/null 2>&1 || need_apt+=(zstd)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "deps: installing ${need_apt[*]}" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "deps: please install ${need_apt[*]} (the trainer falls back to pure Go without OpenBLAS)" >&2
  fi
fi

# minio_bin prints the path of the MinIO server, building it once.
minio_bin() {
  local bin="$CURATE_CACHE/bin/minio"
  if [ ! -x "$bin" ]; then
    echo "deps: building the MinIO server into $bin (once; takes several minutes)" >&2
    mkdir -p "$CURATE_CACHE/bin"
    (cd /tmp && GOBIN="$CURATE_CACHE/bin" GOFLAGS=-mod=mod go install "github.com/minio/minio@$MINIO_VERSION") >&2
  fi
  echo "$bin"
}
