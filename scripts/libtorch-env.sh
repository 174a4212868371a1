# shellcheck shell=bash
# Source this file: it installs libtorch 2.11.0 (for tch 0.24.0) into the gitignored .cache/torch
# when missing, then exports LIBTORCH and LD_LIBRARY_PATH for building and running exo-tch.
#
#   source scripts/libtorch-env.sh
#
# Only three wheels from PyPI are needed for CPU use (about 540 MB download, 1.2 GB on disk):
# see ci/torch-requirements.txt. Set EXO_LIBTORCH to use a libtorch 2.11.0 you already have
# (a folder with lib/ and include/, e.g. site-packages/torch of a torch==2.11.0 install).

_exo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${EXO_LIBTORCH:-}" ]; then
  export LIBTORCH="$EXO_LIBTORCH"
else
  _exo_torch_dir="$_exo_root/.cache/torch"
  if [ ! -f "$_exo_torch_dir/torch/lib/libtorch_cpu.so" ]; then
    echo "exo: installing libtorch 2.11.0 (3 wheels from PyPI) into $_exo_torch_dir" >&2
    rm -rf "$_exo_torch_dir"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --require-hashes --target "$_exo_torch_dir" -r "$_exo_root/ci/torch-requirements.txt"
  fi
  export LIBTORCH="$_exo_torch_dir/torch"
fi
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# CUDA builds (EXO_TCH_CUDA=1 before sourcing this): link libtorch with --no-as-needed, so that
# libtorch_cuda.so is loaded and libtorch sees the GPU (tch-rs issues #907 and #980). Only for CUDA
# builds: on a CPU-only libtorch the extra NEEDED entry pulls in CUDA libraries that are absent. With
# an explicit build target, RUSTFLAGS reach only the target's artifacts, not build scripts or proc
# macros. This is the one place exo sets libtorch's link flags; programs find libtorch through
# LD_LIBRARY_PATH (above), so the scripts run them after sourcing this file.
if [ "${EXO_TCH_CUDA:-}" = 1 ]; then
  export CARGO_BUILD_TARGET="${CARGO_BUILD_TARGET:-x86_64-unknown-linux-gnu}"
  export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-L native=$LIBTORCH/lib -C link-arg=-Wl,--no-as-needed -C link-arg=-ltorch -C link-arg=-Wl,--as-needed"
fi
unset _exo_root _exo_torch_dir
