#!/usr/bin/env bash
# GPU checks in two halves, for sessions lent a GPU host (which has PyTorch 2.11.0 but no cargo):
#
#   scripts/gpu-check.sh build   # here: build CUDA-linked test binaries into .gpu/ (gitignored)
#   # then, with the device tool: run(command="scripts/gpu-check.sh run", carry=[".gpu"])
#   scripts/gpu-check.sh run     # there: run the CUDA suites against the host's libtorch
#
# What runs there, each binary with the test-name filter that selects its CUDA cases:
# - exo-tch's conformance suite on cuda:0 (f32, f64), libtorch's autograd against exo-core's
#   closed forms;
# - exo-candle's conformance suite on cuda:0 and tests/cuda.rs (CUDA against the CPU);
# - exo-nccl's tests and exo-tests' `nccl` suite (libtorch gradients all-reduced on the GPU through
#   exo-nccl against the host path; the two-rank cases need two GPUs and say so on a host with one).
# Environments (build and run) are scripts/gpu-env.sh's. PROPTEST_CASES defaults to 64 there (256
# on the CPU) to keep the run short; set it to override.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/gpu-env.sh
source scripts/gpu-env.sh
out=.gpu

case "${1:-}" in
  build)
    # Copies the test binaries of the `cargo test --no-run --message-format=json` on stdin to
    # $out, as PACKAGE-TARGET, compressed with xz when larger than 8 MB (candle's hold its
    # kernels: a 32 MB sm_90a fatbin and 11 MB of PTX).
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
    exo_gpu_build_env
    rm -rf "$out" && mkdir -p "$out"
    cargo test --release --locked --no-run -p exo-candle --features cuda \
      --test conformance --test cuda --message-format=json | carry_tests
    cargo test --release --locked --no-run -p exo-tch --test conformance \
      -p exo-tests --test nccl --message-format=json | carry_tests
    # exo-nccl (own cargo call, so that cudarc's features do not mix with other crates'): cudarc
    # loads libcuda and libnccl at run time, so nothing of CUDA is needed to build it.
    cargo test --release --locked --no-run -p exo-nccl --message-format=json | carry_tests
    find "$out" -type f -size +8M -exec xz -T0 -6 {} +
    du -sh "$out"
    ;;
  run)
    exo_gpu_run_env
    export PROPTEST_CASES="${PROPTEST_CASES:-64}"
    status=0
    unpacked="$(mktemp -d)"
    for bin in "$out"/*; do
      name="$(basename "${bin%.xz}")"
      if [ "${bin%.xz}" != "$bin" ]; then
        exo_gpu_unxz "$bin" "$unpacked/$name" && bin="$unpacked/$name"
      fi
      # The conformance suites also hold every CPU case: run the CUDA ones.
      filter=()
      case "$name" in *-conformance) filter=(cuda) ;; esac
      echo "==> $name ${filter[*]:-}"
      # A bounded run: a hang on the GPU fails this binary, not the whole call.
      timeout 45 "$bin" "${filter[@]}" --nocapture >"$unpacked/log" 2>&1 || status=1
      # One log file for all (a device call brings back at most 8 files).
      if [ -n "${OUT:-}" ]; then { echo "==> $name"; cat "$unpacked/log"; } >>"$OUT/gpu-tests.log"; fi
      grep -E "^test result|FAILED|panicked|skipp|error" "$unpacked/log" | head -n 30 || true
    done
    # End to end, with scripts/bench-gpu.sh's `exo` when it was carried too: the quick demo on
    # cuda:0 (SFT, sampling, scoring, alignment, evaluation), then 3 steps of `exo train` from its
    # SFT model on cuda:0 against the CPU in f64, whose losses and gradient norms must agree to
    # 1e-9 relative (the comparison takes f32 too, at 1e-3: add it to the dtype list).
    if [ -f .gpu-bench/exo.xz ]; then
      exo_gpu_unxz .gpu-bench/exo.xz "$unpacked/exo"
      log="${OUT:-$unpacked}/gpu-e2e.log"
      for backend in tch candle; do
        echo "==> exo demo --quick --backend $backend --device cuda:0" | tee -a "$log"
        timeout 90 "$unpacked/exo" demo --quick --backend "$backend" --device cuda:0 --jobs 4 \
          --out "$unpacked/demo-$backend" >>"$log" 2>&1 || { status=1; echo "FAILED" | tee -a "$log"; continue; }
        tail -n 12 "$log"
        for dtype in f64; do
          for device in cpu cuda:0; do
            timeout 45 "$unpacked/exo" train --objective exo --model "$unpacked/demo-$backend/sft" \
              --data "$unpacked/demo-$backend/scored.json" --out "$unpacked/eq-$backend-$dtype-$device" \
              --dtype "$dtype" --max-steps 3 --batch-prompts 4 --lr 1e-3 --seed 1 --quiet \
              --backend "$backend" --device "$device" >>"$log" 2>&1 || status=1
          done
          python3 - "$unpacked/eq-$backend-$dtype-cpu" "$unpacked/eq-$backend-$dtype-cuda:0" "$dtype" "$backend" <<'PY' 2>&1 | tee -a "$log" || status=1
import json, sys
cpu_dir, gpu_dir, dtype, backend = sys.argv[1:]
rows = [[json.loads(l) for l in open(d + "/metrics.jsonl")] for d in (cpu_dir, gpu_dir)]
worst = max(abs(a[k] - b[k]) / max(abs(a[k]), 1e-30)
            for a, b in zip(*rows) for k in ("loss", "grad_norm"))
tol = 1e-9 if dtype == "f64" else 1e-3
print(f"{backend} {dtype}: {len(rows[1])} steps on cuda:0 against the CPU, "
      f"largest relative difference of loss and grad_norm {worst:.3e} (tolerance {tol:g})")
sys.exit(0 if len(rows[0]) == len(rows[1]) == 3 and worst <= tol else 1)
PY
        done
      done
    fi
    rm -rf "$unpacked"
    exit $status
    ;;
  *)
    echo "usage: scripts/gpu-check.sh build|run" >&2
    exit 2
    ;;
esac
