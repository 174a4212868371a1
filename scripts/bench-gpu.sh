#!/usr/bin/env bash
# The GPU variant of scripts/bench.sh, in two halves, for sessions lent a GPU host (PyTorch
# 2.11.0, no cargo). Absolute times on a GPU only: exo-tch against PyTorch eager (candle is built
# without CUDA here, and resident memory says nothing about a GPU, so the memory rows are skipped).
#
#   scripts/bench-gpu.sh build   # here: a CUDA-linked exo-bench into .gpu-bench/ (gitignored)
#   # then, with the device tool: run(command="scripts/bench-gpu.sh run", carry=[".gpu-bench"])
#   scripts/bench-gpu.sh run     # there: the comparison on cuda; results under $OUT (or bench/results)
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpu-bench

case "${1:-}" in
  build)
    export EXO_TCH_CUDA=1 CARGO_TARGET_DIR=target/gpu-bench
    # shellcheck source=scripts/libtorch-env.sh
    source scripts/libtorch-env.sh
    export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=symbols
    cargo build --release --locked -p exo-bench --bin exo-bench
    rm -rf "$out" && mkdir -p "$out"
    cp "target/gpu-bench/$CARGO_BUILD_TARGET/release/exo-bench" "$out/"
    du -sh "$out"
    ;;
  run)
    torch_lib="$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
    export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))'
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    implementations=pytorch,tch
    if ! python3 -c 'import transformers' 2>/dev/null; then
      echo "exo: no transformers on this host: exo-tch alone (no PyTorch reference)" >&2
      implementations=tch
    fi
    results="${OUT:-bench/results}"
    "$out/exo-bench" run --device cuda --python python3 --implementations "$implementations" \
      --threads 1 --gemm-n 8192 --out "$results" --label cuda "${@:2}"
    ;;
  *)
    echo "usage: scripts/bench-gpu.sh build|run" >&2
    exit 2
    ;;
esac
