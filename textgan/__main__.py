"""`python -m textgan` runs the command line."""

from textgan.cli import app

app(prog_name="textgan")
