"""``python -m rankwise`` runs the command line."""

from .cli import main

main()
