"""Train steps on a random-weight model of a real shape: exo against TRL's DPOTrainer itself.

Issue 13's workload: a Llama-family model of the SmolLM2-135M shape (or Qwen2.5-0.5B), written
with transformers' config classes (no download) so that exo and TRL load the very same files; 16
preference pairs whose prompts (64-192 tokens) and completions (32-256 tokens) have drawn
lengths; 4 pairs per step; reference log-probs precomputed on both sides; f32 (or the bf16 settings);
equal threads.
Every measurement is a fresh process; peak RSS is the whole process's (`ru_maxrss`). With
`--device cuda`, the peak GPU memory is the device's used memory (NVML, polled every 10 ms by the
parent while the child runs, less what was used before it started): the same measure for exo and
for PyTorch, CUDA context and cached allocator blocks included.

    python bench/real_shape.py make --shape smollm2 --out DIR      # model + tokenizer + data
    python bench/real_shape.py trl --dir DIR --loss sigmoid --steps 3 --threads 2
    python bench/real_shape.py exo --dir DIR --exo target/release/exo --objective dpo --levers=--no-packing
    python bench/real_shape.py all --shape smollm2 --exo target/release/exo --label NAME
    python bench/real_shape.py all ... --settings plain,checkpointing,lora   # memory levers
    python bench/real_shape.py all ... --device cuda --results $OUT  # on a GPU (scripts/bench-gpu.sh)

`all` runs the grid and writes bench/results/NAME.{json,md}.
"""

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

SHAPES = {
    # HuggingFaceTB/SmolLM2-135M's config.json, with random weights.
    "smollm2": dict(vocab_size=49152, hidden_size=576, intermediate_size=1536,
                    num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                    head_dim=64, tie_word_embeddings=True, rope_theta=100000.0,
                    max_position_embeddings=8192, rms_norm_eps=1e-5, family="llama"),
    # Qwen/Qwen2.5-0.5B's config.json, with random weights.
    "qwen05": dict(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                   num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                   tie_word_embeddings=True, rope_theta=1000000.0,
                   max_position_embeddings=32768, rms_norm_eps=1e-6, family="qwen2"),
}
WORDS = 1000
# exo's levers of issue 13, each switched off alone (the chunked lm_head, off by default, on),
# then all of them off (the last entry: other grids take the first and the last).
LEVERS = [
    ("all on", []),
    ("--no-packing", ["--no-packing"]),
    ("--no-shared-prompts", ["--no-shared-prompts"]),
    ("--no-segment-attention", ["--no-segment-attention"]),
    ("--logits chunked", ["--logits", "chunked"]),
    ("--logits all", ["--logits", "all"]),
    # Not a compute lever: glibc returns freed blocks at once (a lower peak, slower steps).
    ("--return-freed-memory", ["--return-freed-memory"]),
    ("all off", ["--no-packing", "--no-shared-prompts", "--no-segment-attention", "--logits", "all"]),
]
# Variants run only when --variants names them: LoRA's default head is the chunked one, and this
# is the one-piece head it had before (for a full fine-tune it is "all on").
ON_REQUEST = [("--logits counted", ["--logits", "counted"])]
# Issue 14's LoRA setting, on both sides (PEFT's LoraConfig; exo's --lora-* flags).
LORA = dict(r=16, lora_alpha=32, target_modules="all-linear")
EXO_LORA = ["--lora-r", "16", "--lora-alpha", "32", "--lora-targets", "all-linear"]
# Memory settings applied to both sides: name -> (TRL subcommand flags, exo flags).
SETTINGS = {
    "plain": ([], []),
    "checkpointing": (["--gradient-checkpointing"], ["--gradient-checkpointing"]),
    "lora": (["--lora"], EXO_LORA),
    "lora+checkpointing": (["--lora", "--gradient-checkpointing"],
                           EXO_LORA + ["--gradient-checkpointing"]),
    # bf16: TRL's bf16=True (f32 weights, autocast to bf16 on the CPU); exo --dtype bf16 (bf16
    # weights and activations, f32 master copy, gradients and AdamW moments).
    "bf16": (["--bf16"], ["--dtype", "bf16"]),
    "bf16+checkpointing": (["--bf16", "--gradient-checkpointing"],
                           ["--dtype", "bf16", "--gradient-checkpointing"]),
    "lora+bf16": (["--lora", "--bf16"], EXO_LORA + ["--dtype", "bf16"]),
    "lora+bf16+checkpointing": (["--lora", "--bf16", "--gradient-checkpointing"],
                                EXO_LORA + ["--dtype", "bf16", "--gradient-checkpointing"]),
}
PAIRS = 16
PAIRS_PER_STEP = 4
MAX_LENGTH = 512


def cpu_model():
    """The CPU's model name (/proc/cpuinfo), which the results depend on: candle's matmul, for
    one, uses AVX2 kernels where libtorch uses AVX-512."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_model():
    """The first GPU's name and memory (nvidia-smi), for the results' header."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader",
                              "--id=0"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "an unnamed GPU"


def peak_rss_mib(who):
    return resource.getrusage(who).ru_maxrss / 1024.0


class GpuPeak:
    """The device's peak used memory (MiB) while a child runs, above what was used before it:
    NVML (nvidia-ml-py) polled from a thread, or `nvidia-smi` where NVML does not import."""

    def __init__(self, index=0, period=0.01):
        import threading
        self.index, self.period, self.peak = index, period, 0.0
        self.stop = threading.Event()
        try:
            import pynvml
            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self.read = lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
        except Exception:  # noqa: BLE001 (no NVML: the slower nvidia-smi)
            self.period = max(period, 0.1)
            self.read = self.smi
        self.base = self.read()
        self.thread = threading.Thread(target=self.poll, daemon=True)

    def smi(self):
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                              f"--id={self.index}"], capture_output=True, text=True, check=True)
        return float(out.stdout.strip())

    def poll(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, self.read() - self.base)
            time.sleep(self.period)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def sync(device):
    """Waits for the GPU's queued work, so that a wall-clock interval covers it."""
    if device != "cpu":
        import torch
        torch.cuda.synchronize()


def make(shape, out, seed=0):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast,
                              Qwen2Config, Qwen2ForCausalLM)

    spec = dict(SHAPES[shape])
    family = spec.pop("family")
    os.makedirs(out, exist_ok=True)
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}
    for i in range(WORDS):
        vocab[f"w{i}"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")
    fast.save_pretrained(out)
    torch.manual_seed(seed)
    common = dict(bos_token_id=1, eos_token_id=2, pad_token_id=0, torch_dtype="float32")
    if family == "llama":
        config = LlamaConfig(**spec, **common)
        model = LlamaForCausalLM(config)
    else:
        config = Qwen2Config(**spec, **common)
        model = Qwen2ForCausalLM(config)
    model.save_pretrained(out, safe_serialization=True)
    rng = random.Random(seed)
    text = lambda n: " ".join(f"w{rng.randrange(WORDS)}" for _ in range(n))  # noqa: E731
    with open(os.path.join(out, "pairs.jsonl"), "w") as f:
        for _ in range(PAIRS):
            row = {"prompt": text(rng.randint(64, 192)),
                   "chosen": text(rng.randint(32, 256)),
                   "rejected": text(rng.randint(32, 256))}
            f.write(json.dumps(row) + "\n")


def bench_tokenizer(directory, **kwargs):
    """The bench's word-level tokenizer.json, as exo reads it. Not `AutoTokenizer`: transformers 5
    picks the tokenizer class from the model type (Qwen2Tokenizer for the qwen05 shape), which
    turns this vocabulary's text into no tokens at all, so TRL would train on empty sequences."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(directory, **kwargs)
    probe = "w1 w2 w3"
    got = len(tokenizer(probe, add_special_tokens=False)["input_ids"])
    if got != 3:
        sys.exit(f"{directory}: the bench tokenizer turned {probe!r} into {got} tokens, not 3")
    return tokenizer


def trl(directory, loss, steps, threads, gradient_checkpointing=False, lora=False, bf16=False,
        device="cpu"):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tokenizer = bench_tokenizer(directory)
    model = AutoModelForCausalLM.from_pretrained(directory, torch_dtype=torch.float32)
    with open(os.path.join(directory, "pairs.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    times = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            sync(device)
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            sync(device)
            times.append(time.perf_counter() - self.t0)

    with tempfile.TemporaryDirectory() as tmp:
        config = DPOConfig(output_dir=tmp, per_device_train_batch_size=PAIRS_PER_STEP,
                           max_steps=steps, learning_rate=1e-6, beta=0.1, loss_type=[loss],
                           precompute_ref_log_probs=True, use_cpu=device == "cpu", report_to=[],
                           # TRL requires ε > 0 for exo_pair; 1e-3 is the paper's and exo's default.
                           label_smoothing=1e-3 if loss == "exo_pair" else 0.0,
                           logging_steps=1, save_strategy="no", max_length=MAX_LENGTH,
                           gradient_checkpointing=gradient_checkpointing, bf16=bf16,
                           dataloader_num_workers=0, seed=0)
        peft_config = None
        if lora:
            from peft import LoraConfig
            peft_config = LoraConfig(**LORA, lora_dropout=0.0, task_type="CAUSAL_LM")
        trainer = DPOTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows),
                             processing_class=tokenizer, callbacks=[Timer()],
                             peft_config=peft_config)
        trainer.train()
    out = {"step_times": times, "peak_rss_mib": peak_rss_mib(resource.RUSAGE_SELF)}
    if device != "cpu":
        # PyTorch's own count, beside the device-wide one the parent polls.
        out["torch_max_reserved_mib"] = torch.cuda.max_memory_reserved() / 2**20
        out["torch_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(out))


def exo(directory, binary, objective, levers, steps, threads, backend, device="cpu"):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [binary, "train", "--model", directory, "--data",
               os.path.join(directory, "pairs.jsonl"), "--out", os.path.join(tmp, "out"),
               "--objective", objective, "--batch-prompts", str(PAIRS_PER_STEP),
               "--max-steps", str(steps), "--lr", "1e-6", "--beta-pi", "0.1",
               "--logit-temperature", "1", "--max-length", str(MAX_LENGTH),
               "--threads", str(threads), "--backend", backend, "--device", device,
               "--quiet"] + levers
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"exo failed: {run.stderr.strip()}")
        times = []
        for line in run.stdout.splitlines():
            if line.startswith("step times (s):"):
                times = [float(x) for x in line.split(":", 1)[1].split("(")[0].split()]
        peak = peak_rss_mib(resource.RUSAGE_CHILDREN)
    print(json.dumps({"step_times": times, "peak_rss_mib": peak, "stdout": run.stdout}))


def prompts_file(directory):
    """The pairs' prompts, one per line (the sampling workload)."""
    path = os.path.join(directory, "prompts.txt")
    with open(os.path.join(directory, "pairs.jsonl")) as f, open(path, "w") as out:
        for line in f:
            out.write(json.loads(line)["prompt"] + "\n")
    return path


def generate(directory, k, new_tokens, threads, device="cpu"):
    """transformers' generate on the prompts: K samples each at τ = 0.8, no top-k/top-p."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    tokenizer = bench_tokenizer(directory, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(directory, torch_dtype=torch.float32).eval()
    model = model.to(device)
    with open(prompts_file(directory)) as f:
        prompts = [line.strip() for line in f if line.strip()]
    inputs = tokenizer(prompts, return_tensors="pt", padding=True).to(device)
    torch.manual_seed(0)
    sync(device)
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**inputs, do_sample=True, temperature=0.8, top_k=0, top_p=1.0,
                             max_new_tokens=new_tokens, num_return_sequences=k,
                             pad_token_id=tokenizer.pad_token_id)
    sync(device)
    secs = time.perf_counter() - start
    new = out[:, inputs["input_ids"].shape[1]:]
    tokens = int((new != tokenizer.pad_token_id).sum())
    print(json.dumps({"tokens": tokens, "secs": secs,
                      "peak_rss_mib": peak_rss_mib(resource.RUSAGE_SELF)}))


def exo_sample(directory, binary, k, new_tokens, threads, backend, device="cpu"):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [binary, "sample", "--model", directory, "--prompts", prompts_file(directory),
               "-k", str(k), "--max-new-tokens", str(new_tokens), "--temperature", "0.8",
               "--allow-empty", "--threads", str(threads), "--backend", backend, "--device", device,
               "--out", os.path.join(tmp, "samples.jsonl")]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"exo failed: {run.stderr.strip()}")
        line = next(l for l in run.stdout.splitlines() if l.startswith("generation:"))
        tokens = int(line.split()[1])
        secs = float(line.split(" in ")[1].split(" s")[0])
        print(json.dumps({"tokens": tokens, "secs": secs,
                          "peak_rss_mib": peak_rss_mib(resource.RUSAGE_CHILDREN)}))


def child(args, journal=None):
    """Runs one measurement in a fresh process and returns its JSON. With `journal` (a JSON Lines
    file), a measurement already recorded there with the same arguments is reused, and each new
    one is appended: a grid that stops half-way resumes where it stopped."""
    key = " ".join(args)
    if journal and os.path.exists(journal):
        with open(journal) as f:
            for line in f:
                entry = json.loads(line)
                if entry["args"] == key:
                    return entry["out"]
    gpu = "--device" in args and args[args.index("--device") + 1] != "cpu"
    if gpu:
        with GpuPeak() as peak:
            run = subprocess.run([sys.executable, __file__] + args, capture_output=True, text=True)
    else:
        run = subprocess.run([sys.executable, __file__] + args, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"{key} failed:\n{run.stderr[-3000:]}")
    out = json.loads(run.stdout.strip().splitlines()[-1])
    if gpu:
        out["peak_gpu_mib"] = peak.peak
    if journal:
        with open(journal, "a") as f:
            f.write(json.dumps({"args": key, "out": out}) + "\n")
    return out


def median_after_first(times):
    timed = times[1:] if len(times) > 1 else times
    return statistics.median(timed)


def all_runs(shape, binary, label, steps, threads, backends, objectives, sample_k, new_tokens,
             variants=None, settings=("plain",), device="cpu", results_dir="bench/results"):
    directory = os.path.join(".cache", "bench-real", shape)
    if not os.path.exists(os.path.join(directory, "pairs.jsonl")):
        make(shape, directory)
    with open(os.path.join(directory, "pairs.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    tokens_per_step = []
    for i in range(0, len(rows), PAIRS_PER_STEP):
        batch = rows[i:i + PAIRS_PER_STEP]
        count = lambda s: len(s.split())  # noqa: E731 (one word = one token; +1 for EOS)
        tokens_per_step.append(sum(2 * count(r["prompt"]) + count(r["chosen"]) + count(r["rejected"]) + 2
                                   for r in batch))
    mean_tokens = statistics.mean(tokens_per_step)
    results = []
    load_before = os.getloadavg()
    # Measurements of this label so far (delete it to measure everything afresh).
    journal = os.path.join(directory, f"{label}.journal.jsonl")
    # Memory settings (SETTINGS: activation checkpointing, LoRA) apply to both sides; each exo
    # row is compared with the TRL row of the same setting.
    for index, (objective, trl_loss) in enumerate(objectives):
        for setting in settings:
            trl_flags, exo_flags = SETTINGS[setting]
            suffix = "" if setting == "plain" else f" + {setting}"
            peer = f"{objective}{suffix}"
            out = child(["trl", "--dir", directory, "--loss", trl_loss, "--steps", str(steps),
                         "--threads", str(threads), "--device", device] + trl_flags, journal)
            results.append(dict(objective=objective, peer=peer, impl=f"trl ({trl_loss})",
                                levers="TRL defaults" + suffix,
                                step_s=median_after_first(out["step_times"]),
                                step_times=out["step_times"], peak_rss_mib=out["peak_rss_mib"],
                                peak_gpu_mib=out.get("peak_gpu_mib"),
                                torch_max_reserved_mib=out.get("torch_max_reserved_mib")))
            for backend in backends:
                # Each lever alone on exo-tch for the first objective; all on / all off otherwise.
                grid = LEVERS if backend == "tch" and index == 0 else [LEVERS[0], LEVERS[-1]]
                if variants:
                    grid = [(name, levers) for name, levers in LEVERS + ON_REQUEST
                            if name in variants]
                for name, levers in grid:
                    levers = levers + exo_flags
                    out = child(["exo", "--dir", directory, "--exo", binary, "--objective",
                                 objective, "--steps", str(steps), "--threads", str(threads),
                                 "--backend", backend, "--device", device,
                                 f"--levers={' '.join(levers)}"], journal)
                    times = out["step_times"]
                    results.append(dict(objective=objective, peer=peer, impl=f"exo-{backend}",
                                        levers=name + suffix,
                                        step_s=median_after_first(times) if times else None,
                                        step_times=times, peak_rss_mib=out["peak_rss_mib"],
                                        peak_gpu_mib=out.get("peak_gpu_mib")))
    sampling = []
    if sample_k:
        out = child(["gen", "--dir", directory, "--k", str(sample_k), "--new-tokens",
                     str(new_tokens), "--threads", str(threads), "--device", device], journal)
        sampling.append(dict(impl="transformers generate", **out))
        for backend in backends:
            out = child(["exo-sample", "--dir", directory, "--exo", binary, "--k", str(sample_k),
                         "--new-tokens", str(new_tokens), "--threads", str(threads),
                         "--backend", backend, "--device", device], journal)
            sampling.append(dict(impl=f"exo-{backend}", **out))
        for r in sampling:
            r["tokens_per_s"] = r["tokens"] / r["secs"]
            r["x_generate"] = r["tokens_per_s"] / sampling[0]["tokens"] * sampling[0]["secs"]
    load_after = os.getloadavg()
    for r in results:
        peer = next(p for p in results if p["peer"] == r["peer"] and p["impl"].startswith("trl"))
        r["tokens_per_s"] = mean_tokens / r["step_s"] if r["step_s"] else None
        r["speed_x_trl"] = peer["step_s"] / r["step_s"] if r["step_s"] else None
        r["rss_x_trl"] = r["peak_rss_mib"] / peer["peak_rss_mib"]
        if r.get("peak_gpu_mib") is not None and peer.get("peak_gpu_mib"):
            r["gpu_x_trl"] = r["peak_gpu_mib"] / peer["peak_gpu_mib"]
    import torch
    import transformers
    import trl as trl_module
    meta = dict(shape=shape, spec=SHAPES[shape], pairs=PAIRS, pairs_per_step=PAIRS_PER_STEP,
                mean_tokens_per_step=mean_tokens, steps=steps, threads=threads,
                load_before=load_before, load_after=load_after, cpu=cpu_model(),
                device=device, gpu=gpu_model() if device != "cpu" else None,
                torch=torch.__version__, transformers=transformers.__version__,
                trl=trl_module.__version__, date=time.strftime("%Y-%m-%d"))
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, f"{label}.json"), "w") as f:
        json.dump(dict(meta=meta, results=results, sampling=sampling), f, indent=2)
    on_gpu = device != "cpu"
    where = (f"on {meta['gpu']} ({device}; host CPU {meta['cpu']})" if on_gpu
             else f"CPU {meta['cpu']}")
    gpu_head = " peak GPU MiB | GPU × TRL |" if on_gpu else ""
    lines = [f"### `{label}`: {shape} shape, random weights ({meta['date']})", "",
             f"{PAIRS} pairs, prompts 64-192 and completions 32-256 tokens (drawn, seed 0), "
             f"{PAIRS_PER_STEP} pairs per step = {mean_tokens:.0f} non-padding tokens per step on "
             f"average; reference log-probs precomputed; f32 unless the levers say bf16; {threads} threads; {steps} steps per "
             f"run, the median of steps 2..{steps} reported. Load average before "
             f"{load_before[0]:.2f}, after {load_after[0]:.2f}; {where}. torch {meta['torch']}, "
             f"transformers {meta['transformers']}, TRL {meta['trl']}.", "",
             "| objective | implementation | levers | step (s) | tokens/s | × TRL speed |"
             + gpu_head + " peak RSS MiB | RSS × TRL |",
             "| --- | --- | --- | ---: | ---: | ---: |" + " ---: | ---: |" * (2 if on_gpu else 1)]
    if not results:
        lines = lines[:2] + [f"{PAIRS} prompts of 64-192 tokens (drawn, seed 0); {threads} threads; "
                             f"torch {meta['torch']}, transformers {meta['transformers']}."]
    for r in results:
        fmt = lambda v, p: "n/a" if v is None else f"{v:.{p}f}"  # noqa: E731
        gpu_cells = (f" {fmt(r.get('peak_gpu_mib'), 0)} | {fmt(r.get('gpu_x_trl'), 2)}× |"
                     if on_gpu else "")
        lines.append(f"| {r['objective']} | {r['impl']} | {r['levers']} | "
                     f"{fmt(r['step_s'], 3 if on_gpu else 2)} | "
                     f"{fmt(r['tokens_per_s'], 0)} | {fmt(r['speed_x_trl'], 2)}× |{gpu_cells} "
                     f"{r['peak_rss_mib']:.0f} | {r['rss_x_trl']:.2f}× |")
    if sampling:
        lines += ["", f"**Sampling**: the {PAIRS} prompts × K = {sample_k}, {new_tokens} new tokens, "
                  "τ = 0.8, no top-k/top-p, all prompts in one batch; generation time only "
                  "(model loading excluded).", "",
                  "| implementation | tokens | seconds | tokens/s | × generate |"
                  + (" peak GPU MiB |" if on_gpu else "") + " peak RSS MiB |",
                  "| --- | ---: | ---: | ---: | ---: |" + " ---: |" * (2 if on_gpu else 1)]
        for r in sampling:
            gpu_cell = f" {r.get('peak_gpu_mib') or 0:.0f} |" if on_gpu else ""
            lines.append(f"| {r['impl']} | {r['tokens']} | {r['secs']:.2f} | {r['tokens_per_s']:.1f} | "
                         f"{r['x_generate']:.2f}× |{gpu_cell} {r['peak_rss_mib']:.0f} |")
    with open(os.path.join(results_dir, f"{label}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--shape", choices=SHAPES, default="smollm2")
    m.add_argument("--out", required=True)
    t = sub.add_parser("trl")
    t.add_argument("--dir", required=True)
    t.add_argument("--loss", default="sigmoid")
    t.add_argument("--steps", type=int, default=3)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--gradient-checkpointing", action="store_true")
    t.add_argument("--lora", action="store_true", help="PEFT LoRA (LORA) on the policy")
    t.add_argument("--bf16", action="store_true", help="DPOConfig(bf16=True): autocast to bf16")
    t.add_argument("--device", default="cpu")
    e = sub.add_parser("exo")
    e.add_argument("--dir", required=True)
    e.add_argument("--exo", required=True)
    e.add_argument("--objective", default="dpo")
    e.add_argument("--levers", default="", help="extra exo flags that switch levers off")
    e.add_argument("--steps", type=int, default=3)
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--backend", default="tch")
    e.add_argument("--device", default="cpu")
    g = sub.add_parser("gen")
    g.add_argument("--dir", required=True)
    g.add_argument("--k", type=int, default=4)
    g.add_argument("--new-tokens", type=int, default=48)
    g.add_argument("--threads", type=int, default=2)
    g.add_argument("--device", default="cpu")
    x = sub.add_parser("exo-sample")
    x.add_argument("--dir", required=True)
    x.add_argument("--exo", required=True)
    x.add_argument("--k", type=int, default=4)
    x.add_argument("--new-tokens", type=int, default=48)
    x.add_argument("--threads", type=int, default=2)
    x.add_argument("--backend", default="tch")
    x.add_argument("--device", default="cpu")
    a = sub.add_parser("all")
    a.add_argument("--shape", choices=SHAPES, default="smollm2")
    a.add_argument("--exo", required=True)
    a.add_argument("--label", required=True)
    a.add_argument("--steps", type=int, default=3)
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--backends", default="tch,candle")
    a.add_argument("--sample-k", type=int, default=4, help="0: no sampling comparison")
    a.add_argument("--new-tokens", type=int, default=48)
    a.add_argument("--no-train", action="store_true", help="only the sampling comparison")
    a.add_argument("--device", default="cpu", help="cpu, or cuda for both sides on the first GPU")
    a.add_argument("--results", default="bench/results", help="folder of NAME.json and NAME.md")
    a.add_argument("--objectives", default="dpo:sigmoid",
                   help="exo objective:TRL loss_type pairs, comma-separated (e.g. dpo:sigmoid,exo-pair:exo_pair)")
    a.add_argument("--settings", default="plain",
                   help="comma-separated memory settings applied to both sides, each in the same "
                        f"run: {', '.join(SETTINGS)} (TRL gradient_checkpointing=True / PEFT "
                        "LoraConfig; exo --gradient-checkpointing / --lora-*)")
    a.add_argument("--variants", default="",
                   help="only these lever settings, comma-separated names of LEVERS (e.g. 'all on,--logits "
                        "chunked'); default: each lever alone on tch for the first objective, all on and "
                        "all off otherwise")
    args = p.parse_args()
    if args.cmd == "make":
        make(args.shape, args.out)
    elif args.cmd == "trl":
        trl(args.dir, args.loss, args.steps, args.threads, args.gradient_checkpointing, args.lora,
            args.bf16, args.device)
    elif args.cmd == "gen":
        generate(args.dir, args.k, args.new_tokens, args.threads, args.device)
    elif args.cmd == "exo-sample":
        exo_sample(args.dir, args.exo, args.k, args.new_tokens, args.threads, args.backend,
                   args.device)
    elif args.cmd == "exo":
        exo(args.dir, args.exo, args.objective, args.levers.split(), args.steps, args.threads,
            args.backend, args.device)
    else:
        objectives = [tuple(o.split(":")) for o in args.objectives.split(",")]
        known = [name for name, _ in LEVERS + ON_REQUEST]
        unknown = [v for v in args.variants.split(",") if v and v not in known]
        if unknown:
            sys.exit(f"--variants: unknown {unknown}; known: {known}")
        all_runs(args.shape, args.exo, args.label, args.steps, args.threads,
                 args.backends.split(","), [] if args.no_train else objectives, args.sample_k,
                 args.new_tokens, [v for v in args.variants.split(",") if v],
                 [s for s in args.settings.split(",") if s], args.device, args.results)


if __name__ == "__main__":
    main()
