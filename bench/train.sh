#!/usr/bin/env bash
# bench/train.sh — curate train vs the PyTorch reference trainer
# (../shared/peers/torch/llama_ref.py), same model, data, batch, steps,
# fp32, AdamW, both pinned to THREADS threads, run one after the other on a
# byte-level tinyshakespeare store. Prints both tokens/s, their ratio (goal
# >= 1.0) and both final validation losses (goal: within 0.1).
#
#   bench/train.sh                 # defaults below
#   STEPS=300 DIM=256 CONTEXT=256 bench/train.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-$(cd .. && pwd)/shared}
[ -d "$SHARED/peers" ] || SHARED=/work/shared
TEXT=${TEXT:-$SHARED/data/text/tinyshakespeare_train90.txt}
PEER=${PEER:-$SHARED/peers/torch/llama_ref.py}
PY=${PY:-/usr/bin/python3}
THREADS=${THREADS:-2}
CONTEXT=${CONTEXT:-128} LAYERS=${LAYERS:-4} HEADS=${HEADS:-4} KV_HEADS=${KV_HEADS:-4} DIM=${DIM:-128}
BATCH=${BATCH:-16} STEPS=${STEPS:-150} LR=${LR:-1.0e-3} WARMUP=${WARMUP:-20} EVAL_BATCHES=${EVAL_BATCHES:-40}
WORK=${WORK:-/tmp/curate-bench-train}

"$PY" -c 'import torch' 2>/dev/null || { echo "train.sh: $PY has no torch (apt-get install -y python3-torch)" >&2; exit 1; }
mkdir -p "$WORK"
go build -o "$WORK/curate" ./cmd/curate
if [ ! -f "$WORK/store/val/manifest.json" ]; then
  rm -rf "$WORK/store"
  go run bench/train_store.go -in "$TEXT" -out "$WORK/store"
fi
cat > "$WORK/train.yaml" <<YAML
data: $WORK/store
val_data: $WORK/store/val
out: $WORK/out
device: cpu
model: {context: $CONTEXT, layers: $LAYERS, heads: $HEADS, kv_heads: $KV_HEADS, dim: $DIM}
train: {batch_size: $BATCH, steps: $STEPS, lr: $LR, warmup: $WARMUP, seed: 1, eval_batches: $EVAL_BATCHES, threads: $THREADS, log_every: 10}
YAML
echo "model: context $CONTEXT, $LAYERS layers, $HEADS/$KV_HEADS heads, dim $DIM; batch $BATCH, $STEPS steps, $THREADS threads" >&2

echo "== peer: llama_ref.py" >&2
OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS \
  "$PY" "$PEER" "$WORK/train.yaml" --threads "$THREADS" --val-batches "$EVAL_BATCHES" --log-every 50 \
  >"$WORK/peer.out" 2>"$WORK/peer.err" || { cat "$WORK/peer.err" >&2; exit 1; }
grep -m1 'blas' "$WORK/peer.err" >&2 || true
echo "== curate train" >&2
GOMAXPROCS=$THREADS "$WORK/curate" train "$WORK/train.yaml" >"$WORK/curate.out" 2>"$WORK/curate.err" \
  || { tail "$WORK/curate.err" >&2; exit 1; }
head -1 "$WORK/curate.err" >&2

"$PY" - "$WORK/peer.out" "$WORK/curate.out" <<'PYEOF'
import json, sys
peer = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
cur = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
ratio = cur["tokens_per_sec"] / peer["tokens_per_sec"]
dv = cur["val_loss"] - peer["val_loss"]
print(f"tokens/s   curate {cur['tokens_per_sec']:.0f}  peer {peer['tokens_per_sec']:.0f}  ratio {ratio:.2f}x (goal >= 1.0)")
print(f"val_loss   curate {cur['val_loss']:.4f}  peer {peer['val_loss']:.4f}  diff {dv:+.4f} (goal |diff| <= 0.1)")
print(f"params     curate {cur['params']}  peer {peer['params']}  kernel {cur['kernel']}")
PYEOF
