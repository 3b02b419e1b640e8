"""The one exception the library raises for problems a user can fix."""


class TextganError(Exception):
    """Bad input or an impossible request; the CLI shows the message as one line and exits 2."""
