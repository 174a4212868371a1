#!/usr/bin/env bash
# The GPU variant of the benchmarks, in two halves, for sessions lent a GPU host (PyTorch 2.11.0,
# transformers, no cargo, no registry):
#
#   scripts/bench-gpu.sh build [--eager]   # here: CUDA-linked `exo` (both backends) and the
#                                          # wheels the host lacks (TRL, datasets...) into .gpu-bench/
#   # then, with the device tool: run(command="scripts/bench-gpu.sh run ARGS", carry=[".gpu-bench"])
#   scripts/bench-gpu.sh run ARGS          # there: bench/real_shape.py all --device cuda:0 ARGS
#   scripts/bench-gpu.sh eager ARGS        # there: issue 7's exo-bench (exo-tch vs PyTorch eager)
#
# `run` is issues 13 and 14's comparison on the GPU: exo (tch and candle on cuda:0) against TRL's
# DPOTrainer and transformers' generate on the same GPU, fresh process each, on random-weight
# models of real shapes written there with transformers' config classes. ARGS are
# bench/real_shape.py's `all` options (--shape, --label, --steps, --objectives, --settings, ...);
# results go to $OUT (or bench/results). Peak memory is the device's (NVML), for both sides.
# The wheels are bench/requirements.txt's versions of the packages the host's image lacks (or has
# in another version): trl, datasets, peft, transformers 5.24.0 (the host has 5.17), dill,
# multiprocess and regex; with the host's own torch 2.11.0, the stack is the CPU runs' (bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/gpu-env.sh
source scripts/gpu-env.sh
out=.gpu-bench
wheels=(trl datasets peft transformers)

case "${1:-}" in
  build)
    exo_gpu_build_env
    cargo build --release --locked -p exo-cli --features cuda --bin exo
    if [ "${2:-}" = --eager ]; then
      cargo build --release --locked -p exo-bench --bin exo-bench
    fi
    rm -rf "$out" && mkdir -p "$out/whl"
    for bin in exo exo-bench; do
      if [ "$bin" = exo ] || [ "${2:-}" = --eager ]; then
        xz -T0 -6 -c "target/$CARGO_BUILD_TARGET/release/$bin" >"$out/$bin.xz"
      fi
    done
    # dill and multiprocess: datasets' needs that the host's image lacks; regex: transformers
    # 5.24 checks regex >= 2025.10.22 at import, and the host's version is not known here. At
    # the bench venv's versions (pip resolved them for bench/requirements.txt).
    pins=()
    for name in "${wheels[@]}"; do
      pins+=("$(grep -i "^$name==" bench/requirements.txt)")
    done
    pins+=(dill==0.4.1 multiprocess==0.70.19 regex==2026.11.19)
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$out/whl" "${pins[@]}"
    du -sh "$out" "$out"/*
    ;;
  run)
    exo_gpu_run_env
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/exo-site "$out"/whl/*.whl
    export PYTHONPATH="/tmp/exo-site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
    python3 -c 'import torch, transformers, trl, datasets, peft; print("torch", torch.__version__, "transformers", transformers.__version__, "trl", trl.__version__, "datasets", datasets.__version__, "peft", peft.__version__)'
    exo_gpu_unxz "$out/exo.xz" /tmp/exo-gpu
    python3 bench/real_shape.py all --exo /tmp/exo-gpu --device cuda:0 \
      --results "${OUT:-bench/results}" "${@:2}"
    ;;
  eager)
    exo_gpu_run_env
    exo_gpu_unxz "$out/exo-bench.xz" /tmp/exo-bench
    implementations=pytorch,tch
    if ! python3 -c 'import transformers' 2>/dev/null; then
      echo "exo: no transformers on this host: exo-tch alone (no PyTorch reference)" >&2
      implementations=tch
    fi
    /tmp/exo-bench run --device cuda --python python3 --implementations "$implementations" \
      --threads 1 --gemm-n 8192 --out "${OUT:-bench/results}" --label cuda "${@:2}"
    ;;
  *)
    echo "usage: scripts/bench-gpu.sh build [--eager] | run ARGS | eager ARGS" >&2
    exit 2
    ;;
esac
