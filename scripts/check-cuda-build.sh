#!/usr/bin/env bash
# Builds exo-candle with candle's CUDA backend (`--features cuda`), here, without a GPU: nvcc 13.0
# from PyPI wheels (scripts/cuda-toolkit.sh), kernels for the H200 (CUDA_COMPUTE_CAP=90), and link
# stubs for the CUDA libraries. Then runs its CUDA tests against the stubs, where they find no
# device and say so (the GPU run is scripts/gpu-check.sh's).
#
#   scripts/check-cuda-build.sh            # or: EXO_CUDA_BUILD=1 scripts/test.sh
#
# Opt-in, not part of scripts/test.sh by default: from a fresh target dir on the 2-core developer
# machine it took 25 min for `cargo build -p exo-candle --features cuda` (about 13 of them in
# candle-kernels' build script, nvcc compiling its PTX and its MoE/GGUF kernels), 7 min more for
# `cargo test --no-run`, and 17 min for the clippy step, whose check build runs candle-kernels'
# build script (nvcc) once more. All measured while other builds shared the machine (load 3 to 7),
# so a quiet machine is faster, but still far past the 6 min that CI can spare. The toolkit is 5
# wheels, 105 MB to download and 270 MB on disk (pip takes seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cuda-toolkit.sh
source scripts/cuda-toolkit.sh

step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo build -p exo-candle --features cuda (nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p'), sm_$CUDA_COMPUTE_CAP)"
cargo build --locked -p exo-candle --features cuda
step "cargo clippy -p exo-candle --features cuda (all targets, warnings are errors)"
cargo clippy --locked -p exo-candle --features cuda --all-targets -- -D warnings
step "cargo test -p exo-candle --features cuda --test cuda (against the link stubs: no device)"
LD_LIBRARY_PATH="$CUDA_HOME/lib/stubs:$CUDA_HOME/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  cargo test --locked -p exo-candle --features cuda --test cuda -- --nocapture
step "cargo test -p exo-candle --features cuda --no-run (every test target builds)"
cargo test --locked -p exo-candle --features cuda --no-run
