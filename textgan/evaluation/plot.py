"""Training curves as a PNG: losses, and js1..js4 against the validation floor."""

from __future__ import annotations

from pathlib import Path

from textgan.errors import TextganError
from textgan.training import runlog

LOSSES = ("critic_loss", "generator_loss", "wasserstein", "gp")
JS = ("js1", "js2", "js3", "js4")


def plot_run(run_dir: Path, out: Path) -> Path:
    """Draw the curves of a run's metrics.jsonl into out (PNG); needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise TextganError('plotting needs matplotlib: pip install "textgan[plot]"') from err
    records = runlog.read_metrics(run_dir)
    if not records:
        raise TextganError(f"{run_dir / runlog.METRICS} has no evaluations yet")
    floor = runlog.read_floor(run_dir)
    iters = [r["iteration"] for r in records]
    fig, (ax_loss, ax_js) = plt.subplots(1, 2, figsize=(12, 4.5))
    for key in LOSSES:
        ax_loss.plot(iters, [r.get(key) for r in records], label=key.replace("_", " "))
    ax_loss.set(title="losses", xlabel="iteration")
    ax_loss.legend()
    for key in JS:
        (line,) = ax_js.plot(iters, [r.get(key) for r in records], label=key)
        if f"floor_{key}" in floor:
            ax_js.axhline(
                floor[f"floor_{key}"], color=line.get_color(), linestyle="--", linewidth=1
            )
    ax_js.set(title="char n-gram JS divergence (dashed: validation floor)", xlabel="iteration",
              ylim=(0, 1))  # fmt: skip
    ax_js.legend()
    fig.suptitle(str(run_dir))
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=110)
    except OSError as err:
        raise TextganError(f"cannot write {out}: {err.strerror or err}") from err
    finally:
        plt.close(fig)
    return out
