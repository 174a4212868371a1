"""Data-parallel scaling on this machine (issue 16): `exo train` on a random-weight model of a
real shape, one optimiser step = the same 4 preference pairs, run three ways:

    1 process  x 1 thread    --threads 1 --batch-prompts 4
    1 process  x 2 threads   --threads 2 --batch-prompts 4
    2 processes x 1 thread   mpirun -np 2 exo ... --threads 1 --batch-prompts 2   (2 pairs each)

Tokens/s is the non-padding tokens of a step over the median step time (steps 2..N); the
2-process step time is rank 0's, which includes the gradient all-reduce. Peak RSS is the
largest single process's (`ru_maxrss` of the children: for 2 processes, the machine holds about
twice that). The last step's loss of each run is recorded: the three runs train the same model
on the same batches, so it agrees to f32 rounding.

    python bench/scaling.py --exo target/release/exo --label issue16-scaling
    (exo built with --features mpi: scripts/exo-mpi builds it; the model and data come from
    bench/real_shape.py's `make`, so the Python needs torch and transformers)

Writes bench/results/LABEL.{json,md}.
"""

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_shape  # noqa: E402

RUNS = [
    # (name, processes, threads per process)
    ("1 process x 1 thread", 1, 1),
    ("1 process x 2 threads", 1, 2),
    ("2 processes x 1 thread", 2, 1),
]


def one_run(directory, binary, backend, processes, threads, steps, objective):
    """Runs in a fresh process (this script's `worker`), so ru_maxrss is this run's alone."""
    args = [sys.executable, __file__, "worker", "--dir", directory, "--exo", binary,
            "--backend", backend, "--processes", str(processes), "--threads", str(threads),
            "--steps", str(steps), "--objective", objective]
    run = subprocess.run(args, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def worker(a):
    per_process = real_shape.PAIRS_PER_STEP // a.processes
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        cmd = [a.exo, "train", "--model", a.dir, "--data", os.path.join(a.dir, "pairs.jsonl"),
               "--out", out, "--objective", a.objective, "--batch-prompts", str(per_process),
               "--max-steps", str(a.steps), "--lr", "1e-6", "--beta-pi", "0.1",
               "--logit-temperature", "1", "--max-length", str(real_shape.MAX_LENGTH),
               "--threads", str(a.threads), "--backend", a.backend, "--quiet"]
        if a.processes > 1:
            cmd = ["mpirun", "--oversubscribe", "-np", str(a.processes)] + cmd
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        run = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if run.returncode != 0:
            sys.exit(f"exo failed: {run.stderr.strip()[-2000:]}")
        times = []
        for line in run.stdout.splitlines():
            if line.startswith("step times (s):"):
                times = [float(x) for x in line.split(":", 1)[1].split("(")[0].split()]
        with open(os.path.join(out, "metrics.jsonl")) as f:
            losses = [json.loads(line)["loss"] for line in f]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    print(json.dumps({"step_times": times, "losses": losses, "peak_rss_mib": peak}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd")
    w = sub.add_parser("worker")
    for flag in ["--dir", "--exo", "--backend", "--objective"]:
        w.add_argument(flag, required=True)
    for flag in ["--processes", "--threads", "--steps"]:
        w.add_argument(flag, type=int, required=True)
    p.add_argument("--exo", default="target/release/exo")
    p.add_argument("--shape", choices=real_shape.SHAPES, default="smollm2")
    p.add_argument("--label", default="issue16-scaling")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--backends", default="tch,candle")
    p.add_argument("--objective", default="dpo")
    p.add_argument("--out", default="bench/results")
    a = p.parse_args()
    if a.cmd == "worker":
        return worker(a)

    directory = os.path.join(".cache", "bench-real", a.shape)
    if not os.path.exists(os.path.join(directory, "pairs.jsonl")):
        real_shape.make(a.shape, directory)
    with open(os.path.join(directory, "pairs.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    count = lambda s: len(s.split())  # noqa: E731 (one word = one token; +1 for EOS)
    per_step = [sum(2 * count(r["prompt"]) + count(r["chosen"]) + count(r["rejected"]) + 2
                    for r in rows[i:i + real_shape.PAIRS_PER_STEP])
                for i in range(0, len(rows), real_shape.PAIRS_PER_STEP)]
    tokens = statistics.mean(per_step)
    load_before = os.getloadavg()
    results = []
    for backend in a.backends.split(","):
        base = None
        for name, processes, threads in RUNS:
            out = one_run(directory, os.path.abspath(a.exo), backend, processes, threads,
                          a.steps, a.objective)
            timed = out["step_times"][1:] or out["step_times"]
            step = statistics.median(timed)
            row = dict(backend=backend, run=name, processes=processes, threads=threads,
                       step_s=step, step_times=out["step_times"], tokens_per_s=tokens / step,
                       last_loss=out["losses"][-1], peak_rss_mib=out["peak_rss_mib"])
            base = base or row
            row["speedup"] = row["tokens_per_s"] / base["tokens_per_s"]
            results.append(row)
            print(json.dumps(row), file=sys.stderr)
    load_after = os.getloadavg()
    meta = dict(label=a.label, date=datetime.date.today().isoformat(), shape=a.shape,
                objective=a.objective, steps=a.steps, tokens_per_step=tokens,
                pairs_per_step=real_shape.PAIRS_PER_STEP, cpu=real_shape.cpu_model(),
                cores=os.cpu_count(), load_before=load_before[0], load_after=load_after[0])
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, f"{a.label}.json"), "w") as f:
        json.dump(dict(meta=meta, results=results), f, indent=1)
    lines = [f"### `{a.label}`: data-parallel scaling, {a.shape} shape, random weights ({meta['date']})", "",
             f"`python bench/scaling.py --label {a.label}`: `exo train --objective {a.objective}` on 16 pairs "
             f"(prompts 64-192, completions 32-256 tokens), {real_shape.PAIRS_PER_STEP} pairs per optimiser step "
             f"= {tokens:.0f} non-padding tokens per step on average; f32; {a.steps} steps per run, the median of "
             f"steps 2..{a.steps} reported. {meta['cores']} cores ({meta['cpu']}); load average before {load_before[0]:.2f}, "
             f"after {load_after[0]:.2f}. Peak RSS: the largest single process.", "",
             "| backend | run | step (s) | tokens/s | × 1 process × 1 thread | last loss | peak RSS MiB (per process) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r['backend']} | {r['run']} | {r['step_s']:.2f} | {r['tokens_per_s']:.0f} | "
                     f"{r['speedup']:.2f}× | {r['last_loss']:.6f} | {r['peak_rss_mib']:.0f} |")
    with open(os.path.join(a.out, f"{a.label}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
