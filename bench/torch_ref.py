"""The PyTorch eager reference of the exo benchmarks (issue 7), started by `exo-bench run`.

Each subcommand is one measurement in a fresh process and prints one JSON line last, with the
same fields as the Rust workers (exo-bench/src/results.rs):

  env        versions and thread settings
  train      transformers' LlamaForCausalLM + the objective written in torch, AdamW, clipping
  gemm       a large f32 matrix product
  logps-mem  peak memory of log_softmax + gather (or TRL's selective_log_softmax) beyond the logits

The training step is what a hand-written TRL-style loop does: the policy's summed completion
log-probs (TRL's `selective_log_softmax` on the shifted logits), precomputed reference
log-probs, the loss (EXO with rewards over K completions, or DPO's sigmoid loss), backward,
`clip_grad_norm_(1.0)`, `torch.optim.AdamW` (decay 0.01 on matrices and the embedding only).
"""

import argparse
import json
import os
import platform
import sys
import time


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def setup_threads(threads):
    import torch

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var) != str(threads):
            sys.exit(f"{var}={os.environ.get(var)!r}, expected {threads} (run through exo-bench run)")
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)


def device_of(name):
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        sys.exit("torch sees no GPU")
    return torch.device(name)


def sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def selective_log_softmax(logits, index):
    """TRL's selective_log_softmax (trl/trainer/utils.py), float32/float64 branch: the gathered
    logit minus a per-row logsumexp, looping over the batch to avoid a [N, T, V] log-softmax."""
    import torch

    selected = torch.gather(logits, dim=-1, index=index.unsqueeze(-1)).squeeze(-1)
    lse = torch.stack([torch.logsumexp(row, dim=-1) for row in logits])
    return selected - lse


def sequence_logps(logits, ids, loss_mask):
    """Summed log-probs of the loss-masked tokens, with the causal shift (as TRL's DPOTrainer)."""
    logits = logits[:, :-1]
    labels = ids[:, 1:].clone()
    mask = loss_mask[:, 1:]
    labels[~mask] = 0
    per_token = selective_log_softmax(logits, labels)
    per_token = per_token.masked_fill(~mask, 0.0)
    return per_token.sum(-1)


def objective_loss(name, policy, reference, rewards, k, beta, beta_r):
    import torch
    import torch.nn.functional as F

    f = (policy - reference).view(-1, k)
    if name == "exo":
        log_p = F.log_softmax(beta * f, dim=1)
        log_q = F.log_softmax(rewards.view(-1, k) / beta_r, dim=1)
        return (log_p.exp() * (log_p - log_q)).sum(1).mean()
    if name == "dpo":
        z = beta * (f[:, 0] - f[:, 1])
        return -F.logsigmoid(z).mean()
    raise ValueError(name)


def cmd_env(args):
    import torch
    import transformers

    print(json.dumps({
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "mkl": torch.backends.mkl.is_available(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }))


def cmd_train(args):
    import torch
    from transformers import LlamaForCausalLM

    setup_threads(args.threads)
    device = device_of(args.device)
    with open(args.workload) as f:
        w = json.load(f)
    n, t, k = w["n"], w["t"], w["k"]
    model = LlamaForCausalLM.from_pretrained(
        args.model, dtype=torch.float32, attn_implementation="sdpa"
    ).to(device)
    model.config.use_cache = False
    model.train()
    ids = torch.tensor(w["ids"], dtype=torch.long, device=device).view(n, t)
    attention = torch.tensor(w["attention_mask"], dtype=torch.long, device=device).view(n, t)
    loss_mask = torch.tensor(w["loss_mask"], dtype=torch.bool, device=device).view(n, t)
    rewards = torch.tensor(w["rewards"], dtype=torch.float32, device=device)

    def policy_logps():
        logits = model(input_ids=ids, attention_mask=attention, use_cache=False).logits
        return sequence_logps(logits, ids, loss_mask)

    with torch.no_grad():
        reference = policy_logps().detach()
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=1e-5,
    )
    setup_rss = status_kib("VmRSS")
    losses = []

    def step():
        loss = objective_loss(
            w["objective"], policy_logps(), reference, rewards, k, w["beta"], w["beta_r"]
        )
        losses.append(loss.item())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for _ in range(args.warmup):
        step()
    sync(device)
    rep_seconds = []
    for _ in range(args.reps):
        start = time.perf_counter()
        for _ in range(args.steps_per_rep):
            step()
        sync(device)
        rep_seconds.append(time.perf_counter() - start)
    print(json.dumps({
        "implementation": "pytorch",
        "device": args.device,
        "size": w["size"],
        "objective": w["objective"],
        "threads": args.threads,
        "warmup_steps": args.warmup,
        "steps_per_rep": args.steps_per_rep,
        "rep_seconds": rep_seconds,
        "tokens_per_step": n * t,
        "params": sum(p.numel() for p in model.parameters()),
        "losses": losses,
        "setup_rss_kib": setup_rss,
        "peak_rss_kib": status_kib("VmHWM"),
    }))


def cmd_gemm(args):
    import torch

    setup_threads(args.threads)
    device = device_of(args.device)
    values = (torch.arange(args.n * args.n, dtype=torch.float64) * 7919 % 1000 / 1000 - 0.5)
    a = values.to(torch.float32).view(args.n, args.n).to(device)
    b = a.clone()
    del values

    def run():
        c = a @ b
        c[0, 0].item()

    run()
    seconds = []
    for _ in range(args.reps):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({
        "implementation": "pytorch",
        "device": args.device,
        "n": args.n,
        "threads": args.threads,
        "seconds": seconds,
    }))


def cmd_logps_mem(args):
    import torch

    setup_threads(args.threads)
    if args.device != "cpu":
        sys.exit("resident memory is a CPU measure")
    n, t, v = args.shape
    logits = torch.randn(n, t, v, dtype=torch.float32)
    if args.mode != "forward":
        logits.requires_grad_(True)
    ids = (torch.arange(n * t) * 7919 % v).view(n, t)
    mask = torch.ones(n, t, dtype=torch.bool)

    def call():
        if args.variant == "trl":
            total = sequence_logps(logits, ids, mask).sum()
        else:
            logps = torch.log_softmax(logits[:, :-1], dim=-1)
            token = logps.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            total = (token * mask[:, 1:]).sum()
        if args.mode == "backward":
            (grad,) = torch.autograd.grad(total, [logits])
            grad.sum().item()
        else:
            total.item()

    reset_peak()
    before = status_kib("VmRSS")
    start = time.perf_counter()
    if args.mode == "forward":
        with torch.no_grad():
            call()
    else:
        call()
    seconds = time.perf_counter() - start
    peak = status_kib("VmHWM")
    print(json.dumps({
        "implementation": "pytorch-trl" if args.variant == "trl" else "pytorch",
        "mode": args.mode,
        "shape": [n, t, v],
        "logits_bytes": n * t * v * 4,
        "extra_peak_bytes": max(peak - before, 0) * 1024,
        "seconds": seconds,
    }))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("env")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--threads", type=int, default=1)
    common.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    train = sub.add_parser("train", parents=[common])
    train.add_argument("--model", required=True)
    train.add_argument("--workload", required=True)
    train.add_argument("--warmup", type=int, default=1)
    train.add_argument("--reps", type=int, default=5)
    train.add_argument("--steps-per-rep", type=int, default=1)
    gemm = sub.add_parser("gemm", parents=[common])
    gemm.add_argument("--n", type=int, default=2048)
    gemm.add_argument("--reps", type=int, default=5)
    mem = sub.add_parser("logps-mem", parents=[common])
    mem.add_argument("--mode", required=True, choices=["forward", "forward-graph", "backward"])
    mem.add_argument("--shape", type=int, nargs=3, default=[16, 256, 32000])
    mem.add_argument("--variant", default="log-softmax", choices=["log-softmax", "trl"])
    args = parser.parse_args()
    {"env": cmd_env, "train": cmd_train, "gemm": cmd_gemm, "logps-mem": cmd_logps_mem}[args.cmd](args)


if __name__ == "__main__":
    main()
