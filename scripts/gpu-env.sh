# shellcheck shell=bash
# The two environments of the GPU checks, in one place (scripts/gpu-check.sh and
# scripts/bench-gpu.sh source this file):
#
#   exo_gpu_build_env   # here, before cargo: CUDA-linked, stripped release builds
#   exo_gpu_run_env     # there, on the GPU host: find the host's libtorch, CUDA and NCCL libraries
#
# Builds: nvcc from scripts/cuda-toolkit.sh (candle's kernels for the H200), libtorch linked with
# --no-as-needed (EXO_TCH_CUDA=1, scripts/libtorch-env.sh) so that libtorch_cuda.so is loaded, and
# one explicit target (x86_64-unknown-linux-gnu) for every CUDA build, so that candle-kernels' nvcc
# step (about 13 minutes on 2 cores) runs once for the test binaries and the `exo` binary alike.
# Release builds without debug info or symbols, to fit the 64 MiB that a device call can carry.

exo_gpu_build_env() {
  # shellcheck source=scripts/cuda-toolkit.sh
  source scripts/cuda-toolkit.sh || return 1
  export EXO_TCH_CUDA=1
  # shellcheck source=scripts/libtorch-env.sh
  source scripts/libtorch-env.sh
  export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=symbols
}

# The host has PyTorch 2.11.0 (cu130) but no cargo: its torch/lib is libtorch (CUDA build), and
# the CUDA libraries that candle's build links (cudart, cuBLAS, cuRAND, NVRTC) are PyTorch's
# site-packages/nvidia/cu13/lib. cudarc dlopens libnccl.so, and the nvidia-nccl-cu13 wheel ships
# only libnccl.so.2, so it is linked under that name first on the path, and EXO_NCCL_REQUIRE=1
# makes the NCCL tests fail rather than skip if NCCL does not load.
exo_gpu_run_env() {
  local torch_lib site nccl_so nccl_link
  torch_lib="$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')" || return 1
  site="$(dirname "$(dirname "$torch_lib")")"
  export LD_LIBRARY_PATH="$torch_lib:$site/nvidia/cu13/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  nccl_so="$(ls "$site"/nvidia/nccl/lib/libnccl.so.2 "$site"/nvidia/cu13/lib/libnccl.so.2 2>/dev/null | head -n 1 || true)"
  if [ -n "$nccl_so" ]; then
    nccl_link="$(mktemp -d)"
    ln -s "$nccl_so" "$nccl_link/libnccl.so"
    export LD_LIBRARY_PATH="$nccl_link:$(dirname "$nccl_so"):$LD_LIBRARY_PATH" EXO_NCCL_REQUIRE=1
  else
    echo "no libnccl.so.2 under $site/nvidia: the exo-nccl tests will skip" >&2
  fi
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
}

# Unpacks an .xz file (Python's lzma, in case the host has no xz) to an executable in $2.
exo_gpu_unxz() {
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2" &&
    chmod +x "$2"
}
