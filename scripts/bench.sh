#!/usr/bin/env bash
# The side-by-side benchmark of issue 7 (bench/README.md has the latest results):
#
#   scripts/bench.sh                 # exo-candle, exo-tch and PyTorch eager, tiny + large, exo + dpo
#   scripts/bench.sh --sizes tiny    # any `exo-bench run` flag is passed through (--help lists them)
#   scripts/bench.sh --criterion     # the criterion benches instead (cargo bench -p exo-bench)
#
# On a fresh machine it installs what it needs: libtorch 2.11.0 (scripts/libtorch-env.sh) and a
# Python venv in the gitignored .cache/bench-venv with torch 2.11.0 and transformers 5.24.0
# (bench/requirements.txt; about 3 GB once). EXO_BENCH_PYTHON=/path/to/python uses a Python that
# already has both instead.
# Results: bench/results/<label>.{json,md}. Run it on a quiet machine: every worker is a fresh
# process with the same thread count (default 1; --threads N).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/libtorch-env.sh
source scripts/libtorch-env.sh

if [ "${1:-}" = "--criterion" ]; then
  shift
  exec cargo bench -p exo-bench --locked "$@"
fi

python="${EXO_BENCH_PYTHON:-}"
if [ -z "$python" ]; then
  venv=.cache/bench-venv
  python="$venv/bin/python"
  if [ ! -x "$python" ] || ! "$python" -c 'import torch, transformers' 2>/dev/null; then
    echo "exo: creating $venv (torch 2.11.0, transformers 5.24.0; about 3 GB once)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
  fi
fi
"$python" -c 'import torch, transformers; assert torch.__version__.startswith("2.11.0"), torch.__version__' \
  || { echo "exo: $python cannot import torch 2.11.0 and transformers" >&2; exit 1; }

cargo build --release --locked -p exo-bench --bin exo-bench
exec target/release/exo-bench run --python "$python" "$@"
