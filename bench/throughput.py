"""Training throughput of textgan, optionally against a plain PyTorch port in the same run.

Times full iterations (1 generator step + critic-iters critic steps with the gradient penalty)
through the same functions `textgan train` uses, on real encoded text, in --precision (auto: bf16
where the hardware has fast bf16), on --engine (auto: fused for the default WGAN-GP). With
--compare, the plain port is run with the same settings between textgan's timings (alternating,
--rounds times), and so is textgan in fp32; the ratios of the medians are printed last
(speedup_fp32, then speedup).

Each textgan state is timed under the TF32 settings of its own precision (TF32 only for tf32 on
CUDA; IEEE fp32 in cuBLAS and cuDNN otherwise), and the settings found at start are restored
after each timing. The plain port runs in a fresh process, which gets PyTorch's defaults
(cuBLAS without TF32, cuDNN with it): printed as `tf32 plain_port`.

    python bench/throughput.py --dim 128 --critic-iters 10 \
        --compare ../shared/bench/plain_port.py
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from textgan.config import ENGINE_CHOICES, TrainConfig
from textgan.engines.choice import Engine
from textgan.runtime.device import (
    CONV_CHOICES,
    PRECISION_CHOICES,
    keep_freed_memory,
    tf32_allowed,
    tf32_kept,
    tf32_settings,
)
from textgan.training.state import TrainState, build_state
from textgan.training.steps import make_engine, train_iteration


def training_args(description: str, iters: int) -> argparse.ArgumentParser:
    """A parser with the training settings every throughput benchmark takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--critic-iters", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=32)
    p.add_argument("--iters", type=int, default=iters, help="timed iterations per round")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations (the first has no "
                   "generator step)")  # fmt: skip
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="auto", choices=PRECISION_CHOICES)
    p.add_argument(
        "--corpus", type=Path, default=None, help="[default: $TEXTGAN_CORPORA train file]"
    )
    return p


def parse_args() -> argparse.Namespace:
    p = training_args(__doc__.splitlines()[0], iters=3)
    p.add_argument("--conv", default="auto", choices=CONV_CHOICES)
    p.add_argument("--engine", default="auto", choices=ENGINE_CHOICES)
    p.add_argument("--compare", type=Path, default=None, help="path to plain_port.py")
    return p.parse_args()


def default_corpus() -> Path:
    root = Path(os.environ.get("TEXTGAN_CORPORA", "../shared/corpora"))
    return root / "billion_words_train.txt"


@dataclass
class Training:
    """A run's state, the engine that computes its steps, and whether its precision allows TF32
    (set around each of its timings: the process's flags are shared by every state in it)."""

    state: TrainState
    engine: Engine
    tf32: bool

    @property
    def precision(self) -> str:
        with tf32_kept(self.tf32):
            return self.engine.precision


def make_state(args: argparse.Namespace, precision: str) -> Training:
    config = TrainConfig(dim=args.dim, critic_iters=args.critic_iters, batch_size=args.batch_size,
                         seq_len=args.seq_len, device=args.device, precision=precision,
                         conv=args.conv, engine=getattr(args, "engine", "auto"),
                         iters=10**9)  # fmt: skip
    with tf32_kept(False):  # build_state sets the run's flags: restored after
        state, _ = build_state(config, args.corpus or default_corpus())
    training = Training(state, make_engine(state), tf32_allowed(precision, state.device))
    with tf32_kept(training.tf32):
        for _ in range(args.warmup):
            train_iteration(state, training.engine)
    return training


def time_textgan(training: Training, iters: int) -> float:
    """Iterations per second over `iters` iterations (one host sync per iteration, as in train)."""
    state, engine = training.state, training.engine
    with tf32_kept(training.tf32):
        sync(state.device)
        start = time.perf_counter()
        for _ in range(iters):
            parts, _ = train_iteration(state, engine)
            parts.loss.item()
        sync(state.device)
    return iters / (time.perf_counter() - start)


def fresh_process_tf32() -> dict[str, bool]:
    """The TF32 settings a new Python process gets here (the plain port sets none)."""
    code = ("import torch; b = torch.backends; "
            "print(b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.split()  # fmt: skip
    return {"cublas": out[0] == "True", "cudnn": out[1] == "True"}


def tf32_line(name: str, settings: dict[str, bool]) -> str:
    return f"tf32 {name}: " + " ".join(f"{k}={'on' if v else 'off'}" for k, v in settings.items())


def time_plain_port(args: argparse.Namespace, vocab_size: int) -> float:
    cmd = [sys.executable, str(args.compare), "--dim", str(args.dim), "--critic-iters",
           str(args.critic_iters), "--batch", str(args.batch_size), "--seq-len", str(args.seq_len),
           "--vocab", str(vocab_size), "--iters", str(args.iters), "--warmup", str(args.warmup),
           "--device", args.device]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    match = re.search(r"ref_gen_iters_per_s=([0-9.]+)", out)
    if match is None:
        raise SystemExit(f"the plain port printed no ref_gen_iters_per_s: {out!r}")
    return float(match.group(1))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
    import resource

    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (process RSS)"


def print_tf32(training: Training, fp32: Training | None, compare: bool) -> None:
    """The TF32 settings each timed part runs with."""
    for name, timed in (("textgan", training), ("textgan_fp32", fp32)):
        if timed is not None:
            with tf32_kept(timed.tf32):
                print(tf32_line(name, tf32_settings()))
    if compare:
        print(tf32_line("plain_port", fresh_process_tf32()))


def main() -> None:
    args = parse_args()
    keep_freed_memory()  # as `textgan train` does
    training = make_state(args, args.precision)
    state, precision = training.state, training.precision
    fp32_state = make_state(args, "fp32") if precision != "fp32" and args.compare else None
    print(f"device={state.device} engine={training.engine.name} precision={precision} "
          f"conv={training.engine.conv} dim={args.dim} "
          f"critic_iters={args.critic_iters} batch={args.batch_size} vocab={len(state.vocab)} "
          f"threads={torch.get_num_threads()}")  # fmt: skip
    print_tf32(training, fp32_state, args.compare is not None)
    ours, fp32, ref = [], [], []
    for round_no in range(args.rounds):
        ours.append(time_textgan(training, args.iters))
        line = f"round {round_no + 1}: textgan={ours[-1]:.4f} it/s"
        if fp32_state is not None:
            fp32.append(time_textgan(fp32_state, args.iters))
            line += f" textgan_fp32={fp32[-1]:.4f}"
        if args.compare:
            ref.append(time_plain_port(args, len(state.vocab)))
            line += f" plain_port={ref[-1]:.4f}"
        print(line, flush=True)
    print(f"peak_memory={peak_memory(state.device)}")
    print(f"textgan_gen_iters_per_s={statistics.median(ours):.4f}")
    if args.compare:
        print(f"ref_gen_iters_per_s={statistics.median(ref):.4f}")
        base = statistics.median(fp32) if fp32 else statistics.median(ours)
        print(f"speedup_fp32={base / statistics.median(ref):.3f}")
        print(f"speedup={statistics.median(ours) / statistics.median(ref):.3f}")


if __name__ == "__main__":
    main()
