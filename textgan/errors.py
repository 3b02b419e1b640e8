"""The one exception the library raises for problems a user can fix."""

import signal


class TextganError(Exception):
    """Bad input or an impossible request; the CLI shows the message as one line and exits 2."""


class TrainingInterrupted(TextganError):
    """Training stopped on SIGINT/SIGTERM after writing a checkpoint; exit with 128 + signal."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum
        self.signal_name = signal.Signals(signum).name
