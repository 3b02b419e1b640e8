"""The `textgan` command line: a typer app over the library, and its rich display."""

import os
import sys
from typing import NoReturn

from textgan.cli import sweep as _sweep  # noqa: F401  (registers `textgan sweep` on app)
from textgan.cli.app import app

__all__ = ["app", "end_launched_process", "main"]


def main() -> None:
    """The command line. A process that torchrun launched ends without the interpreter's
    teardown (end_launched_process)."""
    try:
        app(prog_name="textgan")
    except SystemExit as done:
        if not launched_by_torchrun():
            raise
        if isinstance(done.code, str):
            sys.stderr.write(done.code + "\n")
        end_launched_process(
            done.code if isinstance(done.code, int) else int(done.code is not None)
        )


def launched_by_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or "WORLD_SIZE" in os.environ


def end_launched_process(code: int) -> NoReturn:
    """Flush and exit with code, skipping the interpreter's teardown: in it, the threads of the
    process group's gloo transport and of the job's store can abort the process (exit −6,
    "terminate called without an active exception") after its work is done and saved, which
    torchrun reports as a failed job. Everything textgan writes is written (and fsynced) before."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
