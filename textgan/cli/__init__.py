"""The `textgan` command line: a typer app over the library, and its rich display."""

from textgan.cli.app import app

__all__ = ["app"]
