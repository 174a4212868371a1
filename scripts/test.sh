#!/usr/bin/env bash
# The README's test command, and what CI runs (.ci/run): on a fresh machine it installs libtorch
# 2.11.0 into the gitignored .cache/torch (three PyPI wheels), then runs every check.
#
#   scripts/test.sh            # fmt, clippy, docs, all workspace tests (exo-tch included)
#   scripts/test.sh --quick    # tests only
#   EXO_CUDA_BUILD=1 scripts/test.sh   # and, in full mode, exo-candle's CUDA build
#                                      # (scripts/check-cuda-build.sh: 30 to 50 min, so opt-in)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/libtorch-env.sh
source scripts/libtorch-env.sh
# Open MPI and libclang for exo-mpi and the data-parallel tests (Debian packages, when missing).
# shellcheck source=scripts/mpi-env.sh
source scripts/mpi-env.sh

# GNU time (Debian package `time`): the model-folder catalogue (exo-cli/tests/runner/model_folders.rs)
# measures each run's CPU time and peak RSS with /usr/bin/time.
if [ ! -x /usr/bin/time ]; then
  echo "exo: installing GNU time (Debian package time)" >&2
  _exo_sudo=""
  if [ "$(id -u)" != 0 ]; then _exo_sudo="sudo"; fi
  $_exo_sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $_exo_sudo apt-get install -y -qq time >/dev/null
  unset _exo_sudo
fi

step() { printf '\n==> %s\n' "$*" >&2; }

if [ "${1:-}" != "--quick" ]; then
  step "cargo fmt --check"
  cargo fmt --all --check
  step "rust-version: every dependency's declared minimum is at most the workspace's"
  scripts/check-msrv.py
  step "cargo build without libtorch (the default members; exo-cli on candle alone)"
  env -u LIBTORCH cargo build --locked --quiet
  env -u LIBTORCH cargo build --locked --quiet -p exo-cli --no-default-features
  step "cargo clippy (all targets, warnings are errors)"
  cargo clippy --workspace --all-targets --locked --features exo-cli/test-hooks,exo-cli/mpi -- -D warnings
  step "cargo doc (warnings are errors)"
  RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --locked
  RUSTDOCFLAGS=-Dwarnings cargo doc -p exo-core --features testing --no-deps --locked
  if [ "${EXO_CUDA_BUILD:-}" = 1 ]; then
    step "exo-candle --features cuda: nvcc from PyPI, build, clippy, tests against link stubs"
    scripts/check-cuda-build.sh
  fi
fi
step "cargo test --workspace (exo-cli with its test hooks)"
cargo test --workspace --locked --features exo-cli/test-hooks,exo-cli/mpi
