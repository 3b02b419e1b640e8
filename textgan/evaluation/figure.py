"""matplotlib loaded on demand (the `plot` extra), and figures written to PNG files atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from textgan.errors import TextganError
from textgan.runtime.fileio import atomic_open


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend; an error that says how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise TextganError('plotting needs matplotlib: pip install "textgan[plot]"') from err
    return plt


def write_png(plt: Any, fig: Any, out: Path) -> Path:
    """Render fig (then close it) and write it to out whole, or leave out as it was."""
    png = io.BytesIO()
    try:
        fig.savefig(png, format="png", dpi=100)
    finally:
        plt.close(fig)
    try:
        with atomic_open(out, "wb") as f:
            f.write(png.getvalue())
    except OSError as err:
        raise TextganError(f"cannot write {out}: {err.strerror or err}") from err
    return out
