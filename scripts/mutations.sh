#!/usr/bin/env bash
# Are exo-core's tests tight enough to fail? Applies small formula mutations to exo-core's
# objectives, oracles and sequence log-probs, one at a time, runs exo-core's tests on each, and
# prints which test caught it. Exits non-zero if a mutation is missed (or does not apply, or does
# not compile), or if the unmutated tests fail. Not run by CI: about 2 minutes per mutation on 2
# cores (each one rebuilds exo-core in release).
#
#   scripts/mutations.sh                  # baseline, then every mutation
#   scripts/mutations.sh --list           # the mutations, and whether each still applies
#   scripts/mutations.sh --only 3,7       # just these (numbers from --list)
#   scripts/mutations.sh --allow-dirty    # run although the mutated files have uncommitted changes
#   scripts/mutations.sh --restore        # put back the files of a run that was killed (kill -9)
#
# Each mutation copies the file to target/mutations-backup/, edits it in place (a literal
# string that must occur exactly once), runs
#   cargo test -p exo-core --all-features --release --no-fail-fast
# with PROPTEST_CASES unset (the default 256 cases), and copies the file back. A trap restores
# every file on any exit, Ctrl-C included; the proptest-regressions files are restored too, so the
# mutants' failures are not saved as seeds. By default it refuses to start if a file it mutates has
# uncommitted changes (which could be a killed run's mutation) or if a killed run's backup is left.
# Builds go to $CARGO_TARGET_DIR (default target/); logs to target/mutations-logs/.
set -uo pipefail
cd "$(dirname "$0")/.."

backup=target/mutations-backup
logs=target/mutations-logs

names=() files=() froms=() tos=()
mutation() { names+=("$1"); files+=("$2"); froms+=("$3"); tos+=("$4"); }

src=exo-core/src
# ----- EXO (K samples) ------------------------------------------------------------------------
mutation "exo: softmax temperature β_π → 1 in p_f (forward)" \
  $src/objective/exo.rs \
  'B::mul_scalar(groups.log_ratios(), self.beta_pi())?, 1)' \
  'B::mul_scalar(groups.log_ratios(), 1.0)?, 1)'
mutation "exo: reverse KL(p_f‖p_r) → forward KL(p_r‖p_f) (forward)" \
  $src/objective/exo.rs \
  '&B::mul(&p, &B::sub(&log_p, &log_q)?)?' \
  '&B::mul(&B::exp(&log_q)?, &B::sub(&log_q, &log_p)?)?'
mutation "exo oracle: wrong sign of the KL term in ∂L/∂f = β p (d − L)" \
  $src/oracle/group.rs \
  'beta * lp.exp() * (di - loss)' \
  'beta * lp.exp() * (di + loss)'
mutation "exo oracle: KL sum skips the first candidate (off by one)" \
  $src/oracle/group.rs \
  'log_p.iter().zip(&d).map(|(lp, di)| lp.exp() * di).sum();' \
  'log_p.iter().zip(&d).skip(1).map(|(lp, di)| lp.exp() * di).sum();'
mutation "exo/dpo_rw oracle: target softmax(r/β_r) → softmax(r·β_r)" \
  $src/oracle/group.rs \
  'r.iter().map(|v| v / beta_r).collect();' \
  'r.iter().map(|v| v * beta_r).collect();'
# ----- EXO on pairs -----------------------------------------------------------------------------
mutation "exo_pair: chosen/rejected labels swapped in the KL (forward)" \
  $src/objective/exo_pair.rs \
  '&B::mul(&p_w, &B::add_scalar(&ls_w, -log_qw)?)?' \
  '&B::mul(&p_w, &B::add_scalar(&ls_w, -log_ql)?)?'
mutation "exo_pair oracle: wrong sign of the target margin in ∂L/∂z" \
  $src/oracle/pair.rs \
  '* (z - target_margin);' \
  '* (z + target_margin);'
# ----- DPO --------------------------------------------------------------------------------------
mutation "dpo oracle: log σ(z) → log σ(−z)" \
  $src/oracle/pair.rs \
  'let mut loss = -(1.0 - eps) * log_sigmoid(z);' \
  'let mut loss = -(1.0 - eps) * log_sigmoid(-z);'
mutation "dpo: β dropped from the margin z = β (f_w − f_l) (forward)" \
  $src/objective/dpo.rs \
  'let z = B::mul_scalar(&B::sub(&chosen, &rejected)?, self.beta())?;' \
  'let z = B::mul_scalar(&B::sub(&chosen, &rejected)?, 1.0)?;'
mutation "dpo oracle: ∂L/∂f_w off by a relative 1e-7 (tightness of the finite differences)" \
  $src/oracle/pair.rs \
  'grad.extend([beta * dz, -beta * dz]);' \
  'grad.extend([beta * dz * (1.0 + 1e-7), -beta * dz]);'
mutation "cDPO/SimPO/AOT: label-smoothing weight ε → ε/2 on log σ(−z) (forward)" \
  $src/objective/pair.rs \
  'B::mul_scalar(&B::log_sigmoid(&B::neg(z)?)?, eps)?' \
  'B::mul_scalar(&B::log_sigmoid(&B::neg(z)?)?, eps / 2.0)?'
# ----- DPO-rw -----------------------------------------------------------------------------------
mutation "dpo_rw: target softmax(r/β_r) → softmax(r·β_r) (forward)" \
  $src/objective/dpo_rw.rs \
  'rewards, 1.0 / self.beta_r())?, 1)?;' \
  'rewards, self.beta_r())?, 1)?;'
mutation "dpo_rw oracle: β_π dropped from ∂L/∂f = β_π (p − q)" \
  $src/oracle/group.rs \
  '.map(|(lp, lq)| beta_pi * (lp.exp() - lq.exp())),' \
  '.map(|(lp, lq)| lp.exp() - lq.exp()),'
# ----- IPO --------------------------------------------------------------------------------------
mutation "ipo oracle: target margin 1/(2β) → 1/β" \
  $src/oracle/margin.rs \
  'let target = 0.5 / beta;' \
  'let target = 1.0 / beta;'
mutation "ipo: wrong sign of the target margin (forward)" \
  $src/objective/ipo.rs \
  'B::add_scalar(&B::sub(&chosen, &rejected)?, -self.target_margin())?' \
  'B::add_scalar(&B::sub(&chosen, &rejected)?, self.target_margin())?'
# ----- SFT term ---------------------------------------------------------------------------------
mutation "sft oracle: mean target length over batch + 1 groups (off by one)" \
  $src/oracle/reference_free.rs \
  '/ batch as f64;' \
  '/ (batch + 1) as f64;'
mutation "sft: token normalisation by the sum, not the mean, of target lengths (forward)" \
  $src/objective/sft.rs \
  'SftNorm::Tokens => B::mean_all(&target_lengths)?,' \
  'SftNorm::Tokens => B::sum_all(&target_lengths)?,'
# ----- SimPO ------------------------------------------------------------------------------------
mutation "simpo oracle: rejected gradient divided by |y_w| instead of |y_l|" \
  $src/oracle/reference_free.rs \
  'grad.extend([beta * d_z / n_w, -beta * d_z / n_l]);' \
  'grad.extend([beta * d_z / n_w, -beta * d_z / n_w]);'
mutation "simpo: margin z = β Δā − γ → β Δā + γ (forward)" \
  $src/objective/simpo.rs \
  '            -self.gamma(),' \
  '            self.gamma(),'
# ----- sequence log-probs -----------------------------------------------------------------------
mutation "sequence oracle: logits ℓ/τ → ℓ·τ" \
  $src/oracle/sequence.rs \
  '.map(|l| l / tau)' \
  '.map(|l| l * tau)'
mutation "sequence oracle: ∂S/∂ℓ = (1[v = y] − p)/τ → (1[v = y] − p)·τ" \
  $src/oracle/sequence.rs \
  'let scale = weight * input.mask[next] / input.temperature;' \
  'let scale = weight * input.mask[next] * input.temperature;'
mutation "sequence_logps: logits ℓ/τ → ℓ·τ (backend-generic forward)" \
  $src/logps.rs \
  'B::mul_scalar(&x, 1.0 / temperature)?' \
  'B::mul_scalar(&x, temperature)?'
# ----- shared -----------------------------------------------------------------------------------
mutation "oracle log σ(x) for x < 0: x − log(1 + eˣ) → −log(1 + eˣ)" \
  $src/oracle/mod.rs \
  'x - x.exp().ln_1p()' \
  '-x.exp().ln_1p()'

regressions=(exo-core/tests/proptest-regressions/*.txt)

# The distinct files this script may change.
mapfile -t touched < <(printf '%s\n' "${files[@]}" "${regressions[@]}" | sort -u)

count() { # occurrences of the literal $2 in file $1
  FROM="$2" perl -0777 -ne 'BEGIN { $f = $ENV{FROM} } $n = () = /\Q$f\E/g; print $n' "$1"
}

restore_all() {
  [ -d "$backup" ] || return 0
  local f
  for f in "${touched[@]}"; do
    if [ -f "$backup/$f" ]; then cp -p "$backup/$f" "$f"; fi
  done
  rm -rf "$backup"
}

only="" allow_dirty=0 list=0
while [ $# -gt 0 ]; do
  case "$1" in
    --list) list=1 ;;
    --only) only=",${2:?--only needs a list such as 3,7},"; shift ;;
    --allow-dirty) allow_dirty=1 ;;
    --restore)
      if [ -d "$backup" ]; then restore_all; echo "restored the files of the killed run"; else echo "nothing to restore"; fi
      exit 0 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$list" = 1 ]; then
  bad=0
  for i in "${!names[@]}"; do
    n=$(count "${files[$i]}" "${froms[$i]}")
    status=ok; [ "$n" = 1 ] || { status="does not apply ($n matches)"; bad=1; }
    printf '%3d  %-28s %s\n' $((i + 1)) "$status" "${names[$i]}"
  done
  exit "$bad"
fi

if [ -d "$backup" ]; then
  echo "a killed run left its backups in $backup: run scripts/mutations.sh --restore first" >&2
  exit 2
fi
if [ "$allow_dirty" = 0 ] && ! git diff --quiet HEAD -- "${touched[@]}"; then
  echo "uncommitted changes in files this script mutates (a killed run's mutation?):" >&2
  git diff --stat HEAD -- "${touched[@]}" >&2
  echo "commit them, or pass --allow-dirty (they are copied and put back either way)" >&2
  exit 2
fi

mkdir -p "$backup" "$logs"
for f in "${touched[@]}"; do
  mkdir -p "$backup/$(dirname "$f")"
  cp -p "$f" "$backup/$f"
done
trap 'restore_all' EXIT
trap 'echo; echo "interrupted: restoring" >&2; exit 130' INT TERM

put_back() { # the mutated file and the regression files, from the backup
  local f
  for f in "$1" "${regressions[@]}"; do cp -p "$backup/$f" "$f"; done
}

run_tests() { # $1: log file. Prints the failed tests, one per line; returns cargo's status.
  env -u PROPTEST_CASES cargo test -p exo-core --all-features --release --no-fail-fast \
    >"$1" 2>&1
  local rc=$?
  grep -E '^test .+ \.\.\. FAILED$' "$1" | sed -E 's/^test (.+) \.\.\. FAILED$/\1/'
  return $rc
}

echo "baseline: the unmutated tests" >&2
if ! failed=$(run_tests "$logs/baseline.log"); then
  echo "the unmutated tests fail (see $logs/baseline.log):" >&2
  echo "$failed" >&2
  exit 1
fi

results=() missed=0
for i in "${!names[@]}"; do
  num=$((i + 1))
  [ -z "$only" ] || [[ "$only" == *",$num,"* ]] || continue
  file=${files[$i]}
  n=$(count "$file" "${froms[$i]}")
  if [ "$n" != 1 ]; then
    results+=("$(printf '%3d  %-6s  %s: does not apply (%s matches)' "$num" BROKEN "${names[$i]}" "$n")")
    missed=1
    continue
  fi
  FROM="${froms[$i]}" TO="${tos[$i]}" perl -0777 -pi -e \
    'BEGIN { $f = $ENV{FROM}; $t = $ENV{TO} } s/\Q$f\E/$t/' "$file"
  echo "[$num/${#names[@]}] ${names[$i]}" >&2
  log="$logs/mutation-$num.log"
  failed=$(run_tests "$log")
  rc=$?
  put_back "$file"
  if [ $rc = 0 ]; then
    verdict=MISSED detail="no test failed"
    missed=1
  elif grep -qE '^error\[E[0-9]+\]|could not compile' "$log"; then
    verdict=BROKEN detail="does not compile, see $log"
    missed=1
  else
    verdict=caught
    detail="$(echo "$failed" | grep -c .) tests failed, first $(echo "$failed" | head -1)"
  fi
  results+=("$(printf '%3d  %-6s  %s\n              %s' "$num" "$verdict" "${names[$i]}" "$detail")")
done

printf '\n%3s  %-6s  %s\n' "#" result "mutation (and the tests that caught it)"
printf '%s\n' "${results[@]}"
exit "$missed"
