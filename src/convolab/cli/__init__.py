"""The ``convolab`` command (also ``python -m convolab``): tour, filter, shape, learn, match."""

from convolab.cli.main import main

__all__ = ["main"]
