"""Does bf16 cost quality? Short `--preset cpu` runs in fp32 and in bf16, same seeds, same
iterations, on the real corpus; prints the JS-4 of each run and the seed-to-seed spread.

Each run is `textgan train` with --precision fp32|bf16 --seed S into OUT/<precision>_s<S>; a run
whose metrics already reach --iters is read, not trained again (so an interrupted sweep goes on).
The runs need nothing from each other: two can train side by side with OMP_NUM_THREADS=1.

    TEXTGAN_CORPORA=../shared/corpora python bench/precision_quality.py --out /tmp/quality
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from textgan.rundir.runlog import read_metrics

TAIL = 5  # evaluations averaged at the end of a run (JS-4 is noisy from one eval to the next)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--corpora", type=Path, default=Path(os.environ.get("TEXTGAN_CORPORA", "")))
    return p.parse_args()


def run(args: argparse.Namespace, precision: str, seed: int) -> list[dict]:
    run_dir = args.out / f"{precision}_s{seed}"
    records = read_metrics(run_dir) if (run_dir / "metrics.jsonl").is_file() else []
    if records and records[-1]["iteration"] >= args.iters:
        return records
    cmd = [sys.executable, "-m", "textgan", "train", str(args.corpora / "billion_words_train.txt"),
           "--heldout", str(args.corpora / "billion_words_heldout.txt"), "--preset", "cpu",
           "--critic-iters", "5", "--g-ema", "0",  # the former cpu preset, as measured
           "--precision", precision, "--seed", str(seed), "--iters", str(args.iters),
           "--eval-every", str(args.eval_every), "--run-dir", str(run_dir)]  # fmt: skip
    if run_dir.exists():
        cmd.append("--resume")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return read_metrics(run_dir)


def summary(records: list[dict], iters: int) -> dict[str, float]:
    evals = [r for r in records if "js4" in r and r["iteration"] <= iters]
    first = next((r for r in evals if r["js4"] < 0.9), None)
    return {
        "js4_end": evals[-1]["js4"],
        "js4_tail": statistics.mean(r["js4"] for r in evals[-TAIL:]),
        "js1_tail": statistics.mean(r["js1"] for r in evals[-TAIL:]),
        "words_tail": statistics.mean(r["word_validity"] for r in evals[-TAIL:]),
        "below_0.9_at": first["iteration"] if first else float("nan"),
        "minutes": evals[-1]["seconds"] / 60,
    }


def main() -> None:
    args = parse_args()
    rows = {
        (p, s): summary(run(args, p, s), args.iters) for s in args.seeds for p in ("fp32", "bf16")
    }
    print(
        f"iterations={args.iters} preset=cpu seeds={args.seeds} (tail = mean of last {TAIL} evals)"
    )
    print("precision seed js4_end js4_tail js1_tail words_tail below_0.9_at minutes")
    for (precision, seed), row in rows.items():
        print(f"{precision:9} {seed:4} {row['js4_end']:.4f} {row['js4_tail']:.4f} "
              f"{row['js1_tail']:.4f} {row['words_tail']:.4f} {row['below_0.9_at']:>8} "
              f"{row['minutes']:.1f}")  # fmt: skip
    tails = {p: [rows[p, s]["js4_tail"] for s in args.seeds] for p in ("fp32", "bf16")}
    for precision, values in tails.items():
        spread = max(values) - min(values)
        print(f"{precision}: js4_tail mean={statistics.mean(values):.4f} seed spread={spread:.4f}")
    gap = statistics.mean(tails["bf16"]) - statistics.mean(tails["fp32"])
    print(f"js4_tail_bf16_minus_fp32={gap:+.4f}")


if __name__ == "__main__":
    main()
