"""`ferbias gender ...` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="gender commands.", no_args_is_help=True)


def annotate() -> None:
    """Hand-label apparent gender in a local web page."""
