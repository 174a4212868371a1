"""Shared prompts against the ideal token ratio (issue 13), on a random-weight model of a real shape.

For K completions of length C under one prompt of length P, a step that puts the prompt once per
group processes P + K·C tokens instead of K·(P + C): the ideal ratio is K·(P + C) / (P + K·C).
This runs `exo train` with shared prompts (the default) and with `--no-shared-prompts` on data
whose lengths are fixed (every prompt P words, every completion C words; one word is one token
of the bench tokenizer), and reports the step-time ratio as a fraction of the ideal one:

    python bench/shared_prompts.py --exo target/release/exo --label issue13-shared

Cases: K = 4 groups (objective exo, 2 groups per step) with P = 128 and C = 32 (ideal 2.5×) or
C = 144 (ideal 1.55×), and pairs (K = 2, objective dpo, 4 pairs per step) with the same lengths.
Modes: shared (exo's default: attention by segments where cheaper), shared with one masked
attention call per row (`--no-segment-attention`), unshared (`--no-shared-prompts`). Every run
is a fresh process on the model `bench/real_shape.py make` writes (.cache/bench-real); with
`--repeats R` the modes take turns R times and each mode's step time is the median of all its
runs' steps after the first. The lm_head runs on completion tokens only in every mode, so its
cost does not shrink with sharing: the step-time ratio stays below the token ratio by that share.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import real_shape

CASES = [  # (name, K, P, C, objective, groups per step)
    ("K=4, P=128, C=32", 4, 128, 32, "exo", 2),
    ("K=4, P=128, C=144", 4, 128, 144, "exo", 2),
    ("pairs, P=128, C=32", 2, 128, 32, "dpo", 4),
    ("pairs, P=128, C=144", 2, 128, 144, "dpo", 4),
]
GROUPS = 8
MODES = [  # (name, exo flags)
    ("shared", []),
    ("rows", ["--no-segment-attention"]),
    ("unshared", ["--no-shared-prompts"]),
]


def write_data(path, k, p, c, seed=0):
    rng = random.Random(seed)
    text = lambda n: " ".join(f"w{rng.randrange(real_shape.WORDS)}" for _ in range(n))  # noqa: E731
    with open(path, "w") as f:
        for _ in range(GROUPS):
            prompt = text(p)
            if k == 2:
                row = {"prompt": prompt, "chosen": text(c), "rejected": text(c)}
            else:
                row = {"prompt": prompt, "completions": [text(c) for _ in range(k)],
                       "rewards": [rng.random() for _ in range(k)]}
            f.write(json.dumps(row) + "\n")


def run_exo(binary, model, data, objective, per_step, steps, threads, backend, levers):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [binary, "train", "--model", model, "--data", data, "--out", os.path.join(tmp, "out"),
               "--objective", objective, "--batch-prompts", str(per_step), "--max-steps", str(steps),
               "--lr", "1e-6", "--beta-pi", "0.1", "--logit-temperature", "1", "--max-length", "1024",
               "--threads", str(threads), "--backend", backend, "--quiet"] + levers
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"exo failed: {' '.join(cmd)}\n{run.stderr.strip()}")
    line = next(line for line in run.stdout.splitlines() if line.startswith("step times (s):"))
    times = [float(x) for x in line.split(":", 1)[1].split("(")[0].split()]
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exo", required=True)
    p.add_argument("--label", required=True)
    p.add_argument("--shape", choices=real_shape.SHAPES, default="smollm2")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--backend", default="tch")
    args = p.parse_args()
    model = os.path.join(".cache", "bench-real", args.shape)
    if not os.path.exists(os.path.join(model, "config.json")):
        real_shape.make(args.shape, model)
    results = []
    for name, k, prompt_len, completion_len, objective, per_step in CASES:
        data = os.path.join(model, f"fixed-k{k}-p{prompt_len}-c{completion_len}.jsonl")
        write_data(data, k, prompt_len, completion_len)
        ideal = k * (prompt_len + completion_len) / (prompt_len + k * completion_len)
        row = dict(case=name, k=k, p=prompt_len, c=completion_len, objective=objective,
                   groups_per_step=per_step, ideal=ideal)
        for _ in range(args.repeats):
            for mode, levers in MODES:
                times = run_exo(args.exo, model, data, objective, per_step, args.steps,
                                args.threads, args.backend, levers)
                row.setdefault(f"{mode}_times", []).append(times)
        for mode, _ in MODES:
            timed = [t for times in row[f"{mode}_times"] for t in times[1:]]
            row[f"{mode}_s"] = statistics.median(timed)
        for mode in ("shared", "rows"):
            row[f"{mode}_speedup"] = row["unshared_s"] / row[f"{mode}_s"]
            row[f"{mode}_of_ideal"] = row[f"{mode}_speedup"] / ideal
        results.append(row)
        print(json.dumps(row), flush=True)
    meta = dict(shape=args.shape, backend=args.backend, threads=args.threads, steps=args.steps,
                repeats=args.repeats, groups=GROUPS, date=time.strftime("%Y-%m-%d"), load=os.getloadavg(),
                cpu=real_shape.cpu_model())
    os.makedirs("bench/results", exist_ok=True)
    with open(f"bench/results/{args.label}.json", "w") as f:
        json.dump(dict(meta=meta, results=results), f, indent=2)
    lines = [f"### `{args.label}`: shared prompts, {args.shape} shape, exo-{args.backend} "
             f"({meta['date']})", "",
             f"Fixed lengths (P prompt and C completion tokens, +1 BOS/EOS each), {GROUPS} groups, "
             f"{args.threads} threads ({meta['cpu']}), f32, {args.steps} steps per run, "
             f"{args.repeats} run(s) per mode taking turns, the median of every run's steps "
             f"2..{args.steps}. Shared = exo's default (attention by segments where cheaper), "
             "rows = shared with one masked attention call per row (`--no-segment-attention`), "
             "unshared = `--no-shared-prompts` (packing and counted logits on in all).", "",
             "| case | objective | groups/step | unshared step (s) | rows step (s) | shared step (s) | "
             "ideal token ratio | rows: speed-up, of ideal | shared: speed-up, of ideal |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r['case']} | {r['objective']} | {r['groups_per_step']} | {r['unshared_s']:.2f} | "
                     f"{r['rows_s']:.2f} | {r['shared_s']:.2f} | {r['ideal']:.2f}× | "
                     f"{r['rows_speedup']:.2f}×, {100 * r['rows_of_ideal']:.0f}% | "
                     f"**{r['shared_speedup']:.2f}×, {100 * r['shared_of_ideal']:.0f}%** |")
    with open(f"bench/results/{args.label}.md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
