#!/usr/bin/env bash
# GPU checks in two halves, for sessions lent a GPU host (which has PyTorch 2.11.0 but no cargo):
#
#   scripts/gpu-check.sh build   # here: build CUDA-linked test binaries into .gpu/ (gitignored)
#   # then, with the device tool: run(command="scripts/gpu-check.sh run", carry=[".gpu"])
#   scripts/gpu-check.sh run     # there: run the CUDA suites against the host's libtorch
#
# The libtorch binaries link libtorch with --no-as-needed (EXO_TCH_CUDA=1, see libtorch-env.sh) so
# that libtorch_cuda.so is loaded and libtorch sees the GPU. exo-candle's CUDA suites (the
# conformance suite on cuda:0 and tests/cuda.rs, CUDA against CPU) are built with the `cuda`
# feature: nvcc comes from scripts/cuda-toolkit.sh, the kernels are compiled for the H200
# (CUDA_COMPUTE_CAP=90), and the binaries link against stubs of libcuda, cuBLAS, cuRAND and NVRTC;
# there they load the driver's libcuda.so.1 and PyTorch cu130's nvidia/cu13/lib. All are release
# builds without debug info, to fit the 64 MiB that a device call can carry.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpu

case "${1:-}" in
  build)
    # Copies the test binaries of the `cargo test --no-run --message-format=json` on stdin to $out.
    carry_tests() {
      python3 -c '
import json, sys, shutil
for line in sys.stdin:
    msg = json.loads(line)
    exe = msg.get("executable")
    if msg.get("reason") == "compiler-artifact" and exe and msg["target"]["kind"] != ["bin"]:
        name = msg["target"]["name"]
        shutil.copy(exe, sys.argv[1] + "/" + msg["package_id"].split("#")[0].split("/")[-1] + "-" + name)
        print("built", name, file=sys.stderr)
' "$out"
    }
    export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=symbols
    rm -rf "$out" && mkdir -p "$out"
    # candle's CUDA kernels, without libtorch's link flags (a build of its own in target/release).
    (
      # shellcheck source=scripts/cuda-toolkit.sh
      source scripts/cuda-toolkit.sh
      cargo test --release --locked --no-run -p exo-candle --features cuda \
        --test conformance --test cuda --message-format=json | carry_tests
    )
    # Each holds candle-kernels' sm_90a fatbin (32 MB) and PTX (11 MB): about 50 MB, 10 MB in xz.
    xz -T0 -6 "$out"/exo-candle-*
    export EXO_TCH_CUDA=1
    # shellcheck source=scripts/libtorch-env.sh
    source scripts/libtorch-env.sh
    # exo-tests' `nccl` suite is among them: libtorch gradients all-reduced on the GPU through
    # exo-nccl (exo-lm's device path) against the host path. cudarc loads libcuda and libnccl at
    # run time there too, so it links like the other libtorch binaries.
    cargo test --release --locked --no-run -p exo-tch -p exo-tests --message-format=json | carry_tests
    # exo-nccl (own cargo call, so that cudarc's features do not mix with other crates'): cudarc
    # loads libcuda and libnccl at run time, so nothing of CUDA is needed to build it here.
    (
      unset RUSTFLAGS
      cargo test --release --locked --no-run -p exo-nccl --message-format=json | carry_tests
    )
    du -sh "$out"
    ;;
  run)
    torch_lib="$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
    # PyTorch cu130's CUDA libraries (cudart, cuBLAS, cuRAND, NVRTC), which candle's CUDA build
    # links: site-packages/nvidia/cu13/lib, beside torch/.
    cuda_lib="$(dirname "$(dirname "$torch_lib")")/nvidia/cu13/lib"
    export LD_LIBRARY_PATH="$torch_lib:$cuda_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    # exo-nccl: cudarc dlopens libnccl.so, and the nvidia-nccl-cu13 wheel (a torch dependency)
    # ships only libnccl.so.2, in site-packages/nvidia/nccl/lib (or nvidia/cu13/lib): link it under
    # that name, put the link first on the path, and make the NCCL tests (exo-nccl's and
    # exo-tests' `nccl`) fail rather than skip if NCCL does not load. Their two-rank tests need two
    # GPUs and say so on a host with one.
    site="$(dirname "$(dirname "$torch_lib")")"
    nccl_so="$(ls "$site"/nvidia/nccl/lib/libnccl.so.2 "$site"/nvidia/cu13/lib/libnccl.so.2 2>/dev/null | head -n 1 || true)"
    if [ -n "$nccl_so" ]; then
      nccl_link="$(mktemp -d)"
      ln -s "$nccl_so" "$nccl_link/libnccl.so"
      export LD_LIBRARY_PATH="$nccl_link:$(dirname "$nccl_so"):$LD_LIBRARY_PATH" EXO_NCCL_REQUIRE=1
    else
      echo "no libnccl.so.2 under $site/nvidia: the exo-nccl tests will skip" >&2
    fi
    python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    status=0
    unpacked="$(mktemp -d)"
    for bin in "$out"/*; do
      echo "==> $bin"
      if [ "${bin%.xz}" != "$bin" ]; then
        # Python's lzma, in case the host has no xz.
        python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
          "$bin" "$unpacked/bin" && chmod +x "$unpacked/bin" && bin="$unpacked/bin"
      fi
      "$bin" --nocapture 2>&1 | tail -n 40 || status=1
    done
    rm -rf "$unpacked"
    exit $status
    ;;
  *)
    echo "usage: scripts/gpu-check.sh build|run" >&2
    exit 2
    ;;
esac
