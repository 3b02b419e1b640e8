"""`python -m textgan` runs the command line."""

from textgan.cli.app import app

app(prog_name="textgan")
