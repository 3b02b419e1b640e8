"""Two checkouts of textgan timed against each other, alternating, in one invocation: is a change
faster or slower? Each round runs bench/throughput.py once in each checkout (its own process,
that checkout first on the path) and reads its iterations per second; the median ratio is printed
last (after_vs_before > 1: the change is faster).

    python bench/ab.py --before ../old-checkout --after . --rounds 4 -- --dim 128 \\
        --critic-iters 10 --iters 4
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path


def parse_args() -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, required=True, help="the checkout before the change")
    p.add_argument("--after", type=Path, default=Path("."), help="the checkout with the change")
    p.add_argument("--rounds", type=int, default=4)
    args, rest = p.parse_known_args()
    return args, [a for a in rest if a != "--"]


def rate(checkout: Path, throughput_args: list[str]) -> float:
    """textgan's iterations per second in one throughput.py run of checkout."""
    root = checkout.resolve()
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, str(root / "bench" / "throughput.py"), "--rounds", "1", *throughput_args]
    out = subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True, text=True)
    match = re.search(r"textgan_gen_iters_per_s=([0-9.]+)", out.stdout)
    if match is None:
        raise SystemExit(f"no rate in the output of {checkout}:\n{out.stdout}{out.stderr}")
    return float(match.group(1))


def main() -> None:
    args, throughput_args = parse_args()
    before, after = [], []
    for round_no in range(args.rounds):
        order = [(args.before, before), (args.after, after)]
        for checkout, rates in order if round_no % 2 == 0 else order[::-1]:
            rates.append(rate(checkout, throughput_args))
        print(f"round {round_no + 1}: before={before[-1]:.4f} after={after[-1]:.4f} it/s",
              flush=True)  # fmt: skip
    print(f"before_gen_iters_per_s={statistics.median(before):.4f}")
    print(f"after_gen_iters_per_s={statistics.median(after):.4f}")
    print(f"after_vs_before={statistics.median(after) / statistics.median(before):.3f}")


if __name__ == "__main__":
    main()
