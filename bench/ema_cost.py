"""What the generator's average (--g-ema) costs a training iteration: the average's update timed
alone against whole iterations, and iterations with and without it alternating, in one process.

    TEXTGAN_CORPORA=../shared/corpora python bench/ema_cost.py --dim 64 --critic-iters 5
"""

from __future__ import annotations

import statistics
import time

from throughput import default_corpus, training_args

from textgan.config import TrainConfig
from textgan.runtime.device import keep_freed_memory, training_settings
from textgan.training.average import update_average
from textgan.training.state import build_state
from textgan.training.steps import make_engine, train_iteration


def main() -> None:
    p = training_args(__doc__.splitlines()[0], iters=20)
    p.add_argument("--g-ema", type=float, default=0.999)
    args = p.parse_args()
    keep_freed_memory()  # as `textgan train` does
    runs = {}
    for decay in (0.0, args.g_ema):
        config = TrainConfig(dim=args.dim, critic_iters=args.critic_iters, seq_len=args.seq_len,
                             batch_size=args.batch_size, device=args.device,
                             precision=args.precision, g_ema=decay, eval_every=0)  # fmt: skip
        state, _ = build_state(config, args.corpus or default_corpus())
        runs[decay] = (state, make_engine(state))
    state = runs[args.g_ema][0]
    with training_settings(state.device, args.precision):
        for run in runs.values():
            for _ in range(args.warmup):
                train_iteration(*run)
        seconds = {decay: [] for decay in runs}
        for _ in range(args.rounds):
            for decay, run in runs.items():
                start = time.perf_counter()
                for _ in range(args.iters):
                    train_iteration(*run)
                seconds[decay].append((time.perf_counter() - start) / args.iters)
        updates = []
        for _ in range(200):
            start = time.perf_counter()
            update_average(state.generator_ema, state.generator, args.g_ema)
            updates.append(time.perf_counter() - start)
    plain, averaged = (statistics.median(seconds[d]) for d in runs)
    update = statistics.median(updates)
    print(f"iteration_ms without={plain * 1e3:.2f} with={averaged * 1e3:.2f} "
          f"(rounds: {[round(s * 1e3, 1) for s in seconds[0.0]]} / "
          f"{[round(s * 1e3, 1) for s in seconds[args.g_ema]]})")  # fmt: skip
    print(f"update_ms={update * 1e3:.3f} update_share={update / plain:.4f}")
    print(f"with_vs_without={averaged / plain:.3f}")


if __name__ == "__main__":
    main()
