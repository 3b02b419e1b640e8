"""The textgan command line with every checkpoint write held open for a while, so that a test
can kill a run while a checkpoint is being written. Usage: slow_saves.py SECONDS ARGS..."""

import sys
import time

import torch

from textgan.cli.app import app


def main() -> None:
    delay, save = float(sys.argv.pop(1)), torch.save

    def slow_save(*args, **kwargs) -> None:  # the temp file is still open: not yet renamed
        save(*args, **kwargs)
        time.sleep(delay)

    torch.save = slow_save
    app(prog_name="textgan")


if __name__ == "__main__":
    main()
