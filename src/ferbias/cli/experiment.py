"""`ferbias experiment ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="experiment commands.", no_args_is_help=True)


def run() -> None:
    """Run an experiment spec."""


def report() -> None:
    """Write the report of an experiment."""
