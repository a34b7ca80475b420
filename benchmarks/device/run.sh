#!/usr/bin/env bash
# One prepared run on a lent GPU machine (no network there). From the repo root:
#   bash benchmarks/device/run.sh            # writes $OUT/kernels.json, $OUT/kernels.md, $OUT/run.log
# Installs carried wheels from benchmarks/device/wheels/ (if any) into /tmp/site, checks kernel
# dispatch, then correctness + timings (time-boxed: BENCH_BUDGET seconds of measurements, default
# 420, so the whole run stays under 8 minutes with install and imports).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/kernels-out}"; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/lib${PYTHONPATH:+:$PYTHONPATH}" TOKENIZERS_PARALLELISM=false
PY=python3
{
  echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)"
  WHEELS=benchmarks/device/wheels
  if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    echo "== installing carried wheels: $(ls "$WHEELS" | tr '\n' ' ')"
    timeout 120 $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site --find-links "$WHEELS" "$WHEELS"/*.whl && export PYTHONPATH="/tmp/site:$PYTHONPATH" \
      || echo "!! wheel install failed; continuing with what the image has"
  fi
  $PY - <<'PY'
import torch, transformers
from loraplace.models import dispatch
print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)
for b in dispatch.kernel_dispatch():
    print(f"  {b.architecture:9} {b.kernel:34} {b.implementation:14} {b.reason}")
gpu = torch.cuda.is_available()
warn = dispatch.check_fast_path(dispatch.kernel_dispatch(), allow_slow_path=True, on_gpu=gpu)
print("\n".join(warn) if warn else ("fast path: all fused" if gpu else "no CUDA device: reference path expected"))
PY
  timeout 480 $PY benchmarks/device/bench_gpu.py --out "$OUT" --budget "${BENCH_BUDGET:-420}"
  echo "== exit $? at $(date -u +%FT%TZ)"
} 2>&1 | tee "$OUT/run.log"
