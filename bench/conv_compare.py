"""Training throughput of textgan under each --conv, in one process, alternating.

Builds one training state per convolution implementation (same seed, settings and data) and
times them in turns, --rounds times, so that a shared machine's load falls on all of them alike;
prints each round's iterations/s and, last, each implementation's median relative to the first.

    python bench/conv_compare.py --dim 512 --critic-iters 2 --convs native,winograd
"""

from __future__ import annotations

import argparse
import statistics

from throughput import make_state, time_textgan, training_args

from textgan.runtime.device import CONV_IMPLS


def parse_args() -> argparse.Namespace:
    p = training_args(__doc__.splitlines()[0], iters=2)
    p.add_argument("--convs", default=",".join(CONV_IMPLS),
                   help="comma-separated implementations; the first is the baseline")  # fmt: skip
    args = p.parse_args()
    args.convs = args.convs.split(",")
    unknown = [c for c in args.convs if c not in CONV_IMPLS]
    if unknown or len(args.convs) < 2:
        choices = ", ".join(CONV_IMPLS)
        p.error(f"--convs takes two or more of {choices}, got {unknown or args.convs}")
    return args


def main() -> None:
    args = parse_args()
    states = {}
    for conv in args.convs:
        args.conv = conv
        states[conv] = make_state(args, args.precision)
    precision = next(iter(states.values())).precision
    print(f"precision={precision} dim={args.dim} critic_iters={args.critic_iters} "
          f"batch={args.batch_size} seq_len={args.seq_len}")  # fmt: skip
    rates: dict[str, list[float]] = {conv: [] for conv in args.convs}
    for round_no in range(args.rounds):
        for conv, state in states.items():
            rates[conv].append(time_textgan(state, args.iters))
        line = " ".join(f"{conv}={rates[conv][-1]:.4f}" for conv in args.convs)
        print(f"round {round_no + 1}: {line} it/s", flush=True)
    base = statistics.median(rates[args.convs[0]])
    for conv in args.convs:
        print(f"{conv}_gen_iters_per_s={statistics.median(rates[conv]):.4f}")
    for conv in args.convs[1:]:
        print(f"{conv}_vs_{args.convs[0]}={statistics.median(rates[conv]) / base:.3f}")


if __name__ == "__main__":
    main()
