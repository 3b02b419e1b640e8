"""The paper's comparison of objectives, on text: WGAN-GP, WGAN-LP, WGAN (clipping, RMSProp), the
standard GAN (at the preset's critic steps and at 1), GAN + GP and hinge + spectral norm, each
trained at the former `cpu` preset (5 critic steps, no average) for --iters iterations on --seeds
seeds; then the `textgan compare --group-seeds` table and one `textgan plot --group-seeds` of
every run (a colour per objective).

Runs go to OUT/<name>_s<seed>, one at a time, every objective's first seed first; a finished run
is kept, an unfinished one is resumed (--resume), so the sweep can be stopped and started again
at will.

    TEXTGAN_CORPORA=../shared/corpora python bench/objectives_compare.py --out runs/objectives
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from textgan.rundir.checkpoint import list_checkpoints

# the `cpu` preset these figures were measured at (5 critic steps, no generator average), written
# out so that they stay reproducible; an objective's own options come after and win
BASE = ["--critic-iters", "5", "--g-ema", "0"]
OBJECTIVES = {
    "wgan-gp": [],  # the defaults: --loss wasserstein --constraint gp
    "wgan-lp": ["--constraint", "lp"],
    "wgan-clip": ["--constraint", "clip", "--optimizer", "rmsprop", "--lr", "5e-5"],
    "gan": ["--loss", "gan", "--constraint", "none"],
    "gan-ci1": ["--loss", "gan", "--constraint", "none", "--critic-iters", "1"],
    "gan-gp": ["--loss", "gan", "--constraint", "gp"],
    "hinge-sn": ["--loss", "hinge", "--constraint", "sn"],
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--only", nargs="+", choices=list(OBJECTIVES), default=list(OBJECTIVES))
    p.add_argument("--corpora", type=Path, default=Path(os.environ.get("TEXTGAN_CORPORA", "")))
    return p.parse_args()


def textgan(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "textgan", *map(str, args)], check=True, **kwargs)


def train(args: argparse.Namespace, name: str, seed: int) -> Path:
    run_dir = args.out / f"{name}_s{seed}"
    done = [p for p in list_checkpoints(run_dir) if int(p.stem.split("-")[1]) >= args.iters]
    if done:
        return run_dir
    start = time.perf_counter()
    textgan("train", args.corpora / "billion_words_train.txt", "--heldout",
            args.corpora / "billion_words_heldout.txt", "--preset", "cpu", "--seed", seed,
            "--iters", args.iters, "--eval-every", args.eval_every, "--run-dir", run_dir,
            *BASE, *OBJECTIVES[name], *(["--resume"] if list_checkpoints(run_dir) else []),
            stdout=subprocess.DEVNULL)  # fmt: skip
    print(f"{run_dir}: {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    return run_dir


def main() -> None:
    args = parse_args()
    # every objective's first seed before any second one: a stopped sweep still compares them all
    runs = [train(args, name, seed) for seed in args.seeds for name in args.only]
    textgan("compare", *runs, "--group-seeds")
    textgan("plot", *runs, "--group-seeds", "--out", args.out / "objectives.png")


if __name__ == "__main__":
    main()
