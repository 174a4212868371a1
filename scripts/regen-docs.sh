#!/usr/bin/env bash
# Regenerates every number of the README's demo sections from fresh runs of this commit:
#
#   scripts/regen-docs.sh          # the default demo and the multi-seed study (about 25 min on 2 cores)
#   scripts/regen-docs.sh demo     # the default demo only (about 2 min)
#   scripts/regen-docs.sh study    # the study only
#   scripts/regen-docs.sh render   # only re-render README.md from the committed docs/*/report.json
#
# Each run goes to the scratch folder .cache/regen/<name>/exo-demo (gitignored); its report.json
# and plots are copied to docs/<name>/, and README.md's generated sections are rewritten from
# them by the same code that prints the demo's tables (exo-cli/src/demo/readme.rs, through its
# test with EXO_BLESS=1). CI checks both halves: the README equals the rendering of the committed
# reports, and a fresh default demo equals docs/demo/report.json bit for bit.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/libtorch-env.sh
source scripts/libtorch-env.sh
what="${1:-all}"
case "$what" in all | demo | study | render) ;; *)
  echo "usage: scripts/regen-docs.sh [all|demo|study|render]" >&2
  exit 2
  ;;
esac

# The study's shape: 5 seeds, the β sweep of the paper's frontier plots.
study_flags=(--seeds 5 --betas 0.05,0.1,0.2,0.5)

run() { # name, then exo demo flags
  local name="$1"
  shift
  local work="$root/.cache/regen/$name"
  rm -rf "$work"
  mkdir -p "$work"
  echo "==> exo demo $* (in $work)" >&2
  (cd "$work" && "$exo" demo "$@" >stdout.txt)
  mkdir -p "docs/$name"
  cp "$work/exo-demo/report.json" "docs/$name/report.json"
  # The bit-for-bit test compares a fresh demo only on CPUs of this vendor (see its docs).
  awk -F': *' '/^vendor_id/ { print $2; exit }' /proc/cpuinfo >"docs/$name/cpu.txt"
  cp "$work/exo-demo/reward-vs-kl.png" "docs/$name/reward-vs-kl.png"
  if [ -f "$work/exo-demo/frontier.png" ]; then
    cp "$work/exo-demo/frontier.png" "docs/$name/frontier.png"
  fi
}

if [ "$what" != render ]; then
  cargo build --release --locked --quiet -p exo-cli
  exo="${CARGO_TARGET_DIR:-$root/target}/release/exo"
  if [ "$what" = all ] || [ "$what" = demo ]; then run demo; fi
  if [ "$what" = all ] || [ "$what" = study ]; then run study "${study_flags[@]}"; fi
  if [ "$what" = all ]; then
    echo "==> exo toy --plot docs/toy.png" >&2
    "$exo" toy --plot docs/toy.png >/dev/null
  fi
fi
echo "==> rendering README.md's generated sections from docs/demo, docs/study and a fresh exo toy" >&2
EXO_BLESS=1 cargo test --locked --quiet -p exo-cli --bin exo -- \
  demo::readme::tests::the_readme_demo_sections_are_generated_from_the_committed_reports
git --no-pager diff --stat -- README.md docs/
