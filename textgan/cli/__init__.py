"""The `textgan` command line: a typer app over the library, and its rich display."""

from textgan.cli import sweep as _sweep  # noqa: F401  (registers `textgan sweep` on app)
from textgan.cli.app import app

__all__ = ["app"]
