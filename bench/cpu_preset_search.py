"""The search for a better `cpu` preset (text per CPU hour): candidate settings — the generator's
average (--g-ema), two learning rates with fewer critic steps (TTUR), critic steps, width, batch
size; then, on top of the new preset, Adam's betas (0, 0.9), a batch of 512 and a linear decay
of the learning rates — each trained at the former `cpu` preset (5 critic steps, no average)
plus its options for --minutes of training on --seeds seeds; then the `textgan compare
--group-seeds` table and `textgan plot --group-seeds --x minutes`.

Runs go to OUT/<name>_s<seed>, one at a time (run it on an otherwise idle machine: the candidates
compete on minutes), every candidate's first seed first. A run that has trained its --minutes is
kept; a shorter one is resumed up to them (--resume-if-exists), so screens at a few minutes can
be extended to finalists' longer runs with the same command and a larger --minutes.

    TEXTGAN_CORPORA=../shared/corpora python bench/cpu_preset_search.py --out runs/cpu-search \
        --minutes 10 --seeds 1                                      # screen every candidate
    TEXTGAN_CORPORA=../shared/corpora python bench/cpu_preset_search.py --out runs/cpu-search \
        --minutes 60 --seeds 1 2 --only ema ttur                    # finalists
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from textgan.rundir.status import REASON_ITERS, read_status

# the `cpu` preset the search started from (dim 64, 5 critic steps, lr 3e-4, batch 64, no average),
# written out so that the search stays reproducible; a candidate's options come after and win
BASE = ["--critic-iters", "5", "--g-ema", "0"]
CANDIDATES = {
    "cpu": [],  # the former preset as it was
    "ema": ["--g-ema", "0.999"],
    "ema9999": ["--g-ema", "0.9999", "--g-ema-start", "1000"],
    "ttur": ["--g-ema", "0.999", "--critic-iters", "1", "--lr-critic", "3e-4",
             "--lr-generator", "1e-4"],  # Heusel et al.'s language setting
    "ci2": ["--g-ema", "0.999", "--critic-iters", "2"],
    "ci1": ["--g-ema", "0.999", "--critic-iters", "1"],
    "dim128": ["--g-ema", "0.999", "--dim", "128"],
    "batch128": ["--g-ema", "0.999", "--batch-size", "128"],
    # beyond: on top of the new preset (ci2: 2 critic steps and the average)
    "betas0": ["--g-ema", "0.999", "--critic-iters", "2", "--betas", "0", "0.9"],
    "batch512": ["--g-ema", "0.999", "--critic-iters", "2", "--batch-size", "512"],
    # the rates fall to 0 at 66,000 iterations, about what the preset reaches in 60 minutes on
    # a 2-core Zen 4 (66,842 ± 636): the run ends there, or at --minutes if sooner
    "decay": ["--g-ema", "0.999", "--critic-iters", "2", "--lr-decay", "linear",
              "--iters", "66000"],
}  # fmt: skip


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--only", nargs="+", choices=list(CANDIDATES), default=list(CANDIDATES))
    p.add_argument("--corpora", type=Path, default=Path(os.environ.get("TEXTGAN_CORPORA", "")))
    return p.parse_args()


def textgan(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "textgan", *map(str, args)], check=True, **kwargs)


def train(args: argparse.Namespace, name: str, seed: int) -> Path:
    run_dir = args.out / f"{name}_s{seed}"
    status = read_status(run_dir) if run_dir.is_dir() else None
    trained = status is not None and status.seconds >= 60 * args.minutes
    if trained or (status is not None and status.reason == REASON_ITERS):
        return run_dir
    start = time.perf_counter()
    textgan("train", args.corpora / "billion_words_train.txt", "--heldout",
            args.corpora / "billion_words_heldout.txt", "--preset", "cpu", "--seed", seed,
            "--iters", 10_000_000, "--minutes", args.minutes, "--eval-every", args.eval_every,
            "--run-dir", run_dir, "--resume-if-exists", *BASE, *CANDIDATES[name],
            stdout=subprocess.DEVNULL)  # fmt: skip
    print(f"{run_dir}: {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    return run_dir


def main() -> None:
    args = parse_args()
    runs = [train(args, name, seed) for seed in args.seeds for name in args.only]
    textgan("compare", *runs, "--group-seeds")
    textgan("plot", *runs, "--group-seeds", "--x", "minutes", "--out", args.out / "search.png")


if __name__ == "__main__":
    main()
