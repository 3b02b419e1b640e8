"""`python -m textgan` runs the command line."""

from textgan.cli import main

main()
