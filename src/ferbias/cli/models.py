"""`ferbias models ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="models commands.", no_args_is_help=True)


def train() -> None:
    """Train one model (filled in by the training engine)."""
