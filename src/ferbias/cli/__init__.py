"""The ``ferbias`` command: one typer app with a sub-app per area, inside one error boundary."""

from __future__ import annotations

import logging

import typer

from ferbias.cli import audit, data, experiment, gender, gold, inference, models
from ferbias.cli.errors import DEBUG_KEY, ErrorBoundary

app = typer.Typer(
    cls=ErrorBoundary,
    help="Group-isolation experiments for facial emotion recognition.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
app.add_typer(gender.app, name="gender")
gender.app.add_typer(gold.gold_app, name="gold")
gender.app.add_typer(gold.sheets_app, name="sheets")
app.command("train")(models.train)
app.command("annotate")(gender.annotate)
app.command("run")(experiment.run)
app.command("report")(experiment.report)
app.command("predict")(inference.predict)
app.command("export")(inference.export)
app.command("audit")(audit.audit)


@app.callback()
def main(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level."),
    debug: bool = typer.Option(
        False, "--debug", help="On an error, show the full traceback instead of one line."
    ),
):
    ctx.meta[DEBUG_KEY] = debug
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s")
